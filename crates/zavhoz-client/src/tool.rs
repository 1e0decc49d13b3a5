//! The `request_resource` tool for the graph's LLM nodes: its definition (name, description, JSON schema)
//! and the execution of a call. The result holds only the handle and non-secret metadata (kind, name,
//! server, port, domain, repository, budget, expiry); a secret value cannot appear because zavhoz's
//! ResourceService never returns one.
//!
//! Plain types ([`serde_json::Value`] for the schema and results) so the `llm` and `graph` crates can adapt
//! them to their own tool types. Platform secrets (LLM keys, deploy keys) are wired by deterministic graph
//! code; the LLM can only ask for handles to secrets the person gave in chat (`secret_name`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tonic::Code;
use uuid::Uuid;

use crate::client::{Allocation, ZavhozClient};
use crate::error::ClientError;
use crate::proto::allocate_request::Spec;
use crate::proto::{
    DomainSpec, LlmBudgetSpec, PortSpec, RepositorySpec, Resource, ResourceKind, SecretSpec,
    ServerSpec, secret_spec,
};

/// The tool's name.
pub const TOOL_NAME: &str = "request_resource";

/// A tool as an LLM sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolDefinition {
    /// The function name.
    pub name: String,
    /// What it does and when to use it.
    pub description: String,
    /// JSON schema of the arguments.
    pub parameters: Value,
}

/// Who a tool call acts for, and its idempotency key (stable across re-runs of the same graph step).
#[derive(Debug, Clone)]
pub struct ToolContext {
    /// The person (users.id).
    pub acting_user_id: i64,
    /// Their project.
    pub project_id: Option<Uuid>,
    /// E.g. `<run id>:<node>:<tool call id>`; a re-run of the step gets the same resource back.
    pub idempotency_key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolArgs {
    kind: String,
    server: Option<String>,
    label: Option<String>,
    repository: Option<String>,
    secret_name: Option<String>,
    single_use: Option<bool>,
    budget_usd: Option<f64>,
    lease_hours: Option<u32>,
}

/// Returns the definition of `request_resource`.
pub fn request_resource_tool() -> ToolDefinition {
    ToolDefinition {
        name: TOOL_NAME.into(),
        description: "Reserve a resource for the current project: a TCP port on a server, a whole server, a \
            subdomain, a repository name, a handle to a secret the person gave in this chat, or an LLM \
            budget. Returns only names and a handle; secret values are never shown. A \"refused\" result \
            is platform state (e.g. no port free): tell the person and try again later, do not fail the \
            project."
            .into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "kind": {
                    "type": "string",
                    "enum": ["port", "server", "domain", "repository", "secret", "llm_budget"],
                    "description": "What to reserve."
                },
                "server": {"type": "string", "description": "port: the server to take it on (optional)."},
                "label": {"type": "string", "description": "domain: the subdomain label, e.g. weather-bot."},
                "repository": {"type": "string", "description": "repository: the repository name."},
                "secret_name": {
                    "type": "string",
                    "description": "secret: the name under which the person's secret was stored, e.g. telegram_bot_token."
                },
                "single_use": {"type": "boolean", "description": "secret: the handle resolves only once."},
                "budget_usd": {"type": "number", "exclusiveMinimum": 0, "description": "llm_budget: US dollars."},
                "lease_hours": {"type": "integer", "minimum": 1, "maximum": 720, "description": "How long to hold it."}
            },
            "required": ["kind"],
            "additionalProperties": false
        }),
    }
}

/// Parses tool arguments into an allocation spec and lease; the error text is meant for the LLM.
pub fn parse_arguments(args: &Value) -> Result<(Spec, Option<Duration>), String> {
    let args: ToolArgs =
        serde_json::from_value(args.clone()).map_err(|e| format!("invalid arguments: {e}"))?;
    let lease = args
        .lease_hours
        .map(|h| Duration::from_secs(u64::from(h) * 3600));
    let required = |value: Option<String>, field: &str| {
        value
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| format!("kind {} needs `{field}`", args.kind))
    };
    let spec = match args.kind.as_str() {
        "port" => Spec::Port(PortSpec {
            server: args.server.clone().unwrap_or_default(),
        }),
        "server" => Spec::Server(ServerSpec {}),
        "domain" => Spec::Domain(DomainSpec {
            label: required(args.label.clone(), "label")?,
        }),
        "repository" => Spec::Repository(RepositorySpec {
            name: required(args.repository.clone(), "repository")?,
        }),
        "secret" => Spec::Secret(SecretSpec {
            source: Some(secret_spec::Source::UserSecret(required(
                args.secret_name.clone(),
                "secret_name",
            )?)),
            single_use: args.single_use.unwrap_or(false),
        }),
        "llm_budget" => Spec::LlmBudget(LlmBudgetSpec {
            usd_micros: usd_micros(args.budget_usd)?,
        }),
        other => return Err(format!("unknown kind `{other}`")),
    };
    Ok((spec, lease))
}

fn usd_micros(usd: Option<f64>) -> Result<i64, String> {
    let usd = usd.ok_or("kind llm_budget needs `budget_usd`")?;
    if !usd.is_finite() || usd <= 0.0 || usd > 1.0e6 {
        return Err("budget_usd must be a positive amount up to 1000000".into());
    }
    Ok((usd * 1_000_000.0).round() as i64)
}

/// Executes a `request_resource` call. Returns the JSON to give back to the LLM: `allocated` (handle and
/// metadata), `refused` (platform state) or `invalid` (fix the arguments). `Err` means zavhoz is down,
/// failed, or refused this service's credentials: the graph step should be retried, not shown to the LLM.
pub async fn execute_request_resource(
    client: &ZavhozClient,
    context: &ToolContext,
    args: &Value,
) -> Result<Value, ClientError> {
    let (spec, lease_ttl) = match parse_arguments(args) {
        Ok(parsed) => parsed,
        Err(message) => return Ok(json!({"status": "invalid", "message": message})),
    };
    let allocation = Allocation {
        acting_user_id: context.acting_user_id,
        project_id: context.project_id,
        idempotency_key: context.idempotency_key.clone(),
        lease_ttl,
        spec,
    };
    match client.allocate(allocation).await {
        Ok(resource) => Ok(allocation_result(&resource)),
        Err(error) => outcome_of_error(error),
    }
}

fn outcome_of_error(error: ClientError) -> Result<Value, ClientError> {
    match &error {
        ClientError::Refused {
            refusal, message, ..
        } => Ok(json!({
            "status": "refused",
            "reason": refusal.reason(),
            "message": message,
            "may_clear_later": refusal.may_clear_later(),
            "advice": "This is platform state, not a failure of the project: tell the person, and retry later if it may clear."
        })),
        ClientError::Rejected {
            code: Code::InvalidArgument | Code::NotFound,
            message,
        } => Ok(json!({"status": "invalid", "message": message})),
        _ => Err(error),
    }
}

/// Builds the LLM-visible result of an allocation: the handle and non-secret metadata only.
pub fn allocation_result(resource: &Resource) -> Value {
    let mut out = Map::new();
    out.insert("status".into(), json!("allocated"));
    out.insert("resource_id".into(), json!(resource.id));
    out.insert("kind".into(), json!(kind_name(resource.kind())));
    out.insert("name".into(), json!(resource.name));
    let mut put = |key: &str, value: Value, present: bool| {
        if present {
            out.insert(key.into(), value);
        }
    };
    put(
        "server",
        json!(resource.server),
        !resource.server.is_empty(),
    );
    put("port", json!(resource.port), resource.port != 0);
    put("domain", json!(resource.fqdn), !resource.fqdn.is_empty());
    put(
        "repository",
        json!(resource.repository),
        !resource.repository.is_empty(),
    );
    put(
        "budget_usd",
        json!(resource.usd_micros as f64 / 1_000_000.0),
        resource.usd_micros != 0,
    );
    put(
        "handle",
        json!(resource.handle),
        !resource.handle.is_empty(),
    );
    put("single_use", json!(true), resource.single_use);
    if let Some(expiry) = resource.lease_expires_at.as_ref().and_then(rfc3339) {
        out.insert("expires_at".into(), json!(expiry));
    }
    Value::Object(out)
}

fn kind_name(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Port => "port",
        ResourceKind::Server => "server",
        ResourceKind::Domain => "domain",
        ResourceKind::Repository => "repository",
        ResourceKind::Secret => "secret",
        ResourceKind::LlmBudget => "llm_budget",
        ResourceKind::Unspecified => "unspecified",
    }
}

fn rfc3339(ts: &prost_types::Timestamp) -> Option<String> {
    let nanos = u32::try_from(ts.nanos).ok()?;
    chrono::DateTime::from_timestamp(ts.seconds, nanos)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

#[cfg(test)]
mod tests;
