//! Between protobuf messages and zavhoz's own types: request validation and the client's view of a
//! resource (ids, names, handles; never a secret value).

use chrono::{DateTime, Utc};
use orch_zavhoz_client::proto::{
    self, AllocateRequest, ResourceKind, ResourceState, allocate_request::Spec, secret_spec,
};
use uuid::Uuid;

use crate::db::Kind;
use crate::db::resources::ResourceRow;
use crate::error::ZavhozError;
use crate::lifecycle::is_live;
use crate::model::{AllocateParams, SecretSource, Want, check_idempotency_key};

/// Parses a required UUID field.
pub fn uuid(field: &'static str, text: &str) -> Result<Uuid, ZavhozError> {
    Uuid::parse_str(text).map_err(|_| ZavhozError::invalid(field, "must be a UUID"))
}

/// Parses an optional UUID field (empty: none).
pub fn optional_uuid(field: &'static str, text: &str) -> Result<Option<Uuid>, ZavhozError> {
    if text.is_empty() {
        return Ok(None);
    }
    uuid(field, text).map(Some)
}

/// Checks an acting user id.
pub fn acting_user(id: i64) -> Result<i64, ZavhozError> {
    if id <= 0 {
        return Err(ZavhozError::invalid(
            "acting_user_id",
            "must name the person the call is for",
        ));
    }
    Ok(id)
}

/// Validates an Allocate request.
pub fn allocate_params(request: AllocateRequest) -> Result<AllocateParams, ZavhozError> {
    check_idempotency_key(&request.idempotency_key)?;
    let spec = request
        .spec
        .ok_or_else(|| ZavhozError::invalid("spec", "say what to allocate"))?;
    Ok(AllocateParams {
        acting_user_id: acting_user(request.acting_user_id)?,
        project_id: optional_uuid("project_id", &request.project_id)?,
        idempotency_key: request.idempotency_key,
        lease_ttl_secs: request.lease_ttl_seconds,
        want: want(spec)?,
    })
}

fn want(spec: Spec) -> Result<Want, ZavhozError> {
    Ok(match spec {
        Spec::Port(p) => Want::Port {
            server: Some(p.server).filter(|s| !s.is_empty()),
        },
        Spec::Server(_) => Want::Server,
        Spec::Domain(d) => Want::Domain { label: d.label },
        Spec::Repository(r) => Want::Repository { name: r.name },
        Spec::Secret(s) => Want::Secret {
            source: match s.source {
                Some(secret_spec::Source::SopsPath(path)) => SecretSource::sops(&path)?,
                Some(secret_spec::Source::UserSecret(name)) => SecretSource::user(&name)?,
                None => {
                    return Err(ZavhozError::invalid(
                        "secret.source",
                        "name a sops_path or a user_secret",
                    ));
                }
            },
            single_use: s.single_use,
        },
        Spec::LlmBudget(b) => Want::LlmBudget {
            usd_micros: b.usd_micros,
        },
    })
}

/// Converts a timestamp.
pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

fn kind(kind: Kind) -> ResourceKind {
    match kind {
        Kind::Port => ResourceKind::Port,
        Kind::Server => ResourceKind::Server,
        Kind::Domain => ResourceKind::Domain,
        Kind::Repository => ResourceKind::Repository,
        Kind::Secret => ResourceKind::Secret,
        Kind::LlmBudget => ResourceKind::LlmBudget,
    }
}

fn state(row: &ResourceRow, now: DateTime<Utc>) -> ResourceState {
    match row.release_reason.as_deref() {
        Some("released") => ResourceState::Released,
        Some(_) => ResourceState::Expired,
        None if is_live(row, now) => ResourceState::Live,
        None => ResourceState::Expired,
    }
}

/// Builds the client's view of a resource.
pub fn resource(row: &ResourceRow, now: DateTime<Utc>) -> proto::Resource {
    let text = |key: &str| {
        row.attributes
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let number = |key: &str| {
        row.attributes
            .get(key)
            .and_then(|v| v.as_i64())
            .unwrap_or(0)
    };
    proto::Resource {
        id: row.id.to_string(),
        kind: kind(row.kind) as i32,
        state: state(row, now) as i32,
        owner_user_id: row.owner_user_id,
        project_id: row.project_id.map(|p| p.to_string()).unwrap_or_default(),
        name: row.name.clone(),
        server: text("server"),
        port: u32::try_from(number("port")).unwrap_or(0),
        fqdn: text("fqdn"),
        repository: text("repository"),
        usd_micros: number("usd_micros"),
        handle: row.handle.clone().unwrap_or_default(),
        secret_source: text("source"),
        single_use: row.single_use.unwrap_or(false),
        created_at: Some(timestamp(row.created_at)),
        lease_expires_at: row.lease_expires_at.map(timestamp),
        released_at: row.released_at.map(timestamp),
    }
}
