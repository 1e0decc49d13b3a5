//! Errors, one enum per boundary: resolving a key ([`KeyError`]), turning a `model_configs` row into
//! a client ([`ConfigError`]) and making a call ([`LlmError`]).
//!
//! No message ever contains an API key: keys are never formatted, and provider messages are
//! scrubbed of the key before they are stored in an error.

use std::time::Duration;

use orch_contracts::ProjectId;
use orch_store::StoreError;

use crate::provider::Route;

/// Why a key reference could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The reference does not parse; the value is not repeated because it may be a pasted key.
    #[error(
        "api_key_ref is not a valid reference (expected NAME, env:NAME or scheme:path; \
         the value is not shown in case it is a key)"
    )]
    InvalidRef,
    /// Nothing is stored under the reference (or it is empty).
    #[error("no api key found for {key_ref}")]
    NotFound {
        /// The reference.
        key_ref: String,
    },
    /// The resolver does not serve this scheme.
    #[error("the {resolver} key resolver cannot resolve {scheme}: references")]
    UnsupportedScheme {
        /// The scheme of the reference.
        scheme: String,
        /// Which resolver was asked.
        resolver: &'static str,
    },
    /// The key backend failed.
    #[error("key backend failed for {key_ref}: {reason}")]
    Backend {
        /// The reference.
        key_ref: String,
        /// What went wrong (never the key).
        reason: String,
    },
}

/// Why a role's `model_configs` row cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// The role has no row.
    #[error("no model config for role {role}")]
    MissingRole {
        /// The role.
        role: String,
    },
    /// The provider string is not one of [`crate::Provider`]'s names.
    #[error("role {role}: unknown provider {provider:?} (known: {known})")]
    UnknownProvider {
        /// The role.
        role: String,
        /// The configured provider.
        provider: String,
        /// The accepted names.
        known: String,
    },
    /// The model id is empty.
    #[error("role {role}: the model id is empty")]
    EmptyModel {
        /// The role.
        role: String,
    },
    /// The provider has no default endpoint and the row gives none.
    #[error("role {role}: provider {provider} needs an endpoint")]
    EndpointRequired {
        /// The role.
        role: String,
        /// The provider.
        provider: &'static str,
    },
    /// The endpoint is not a usable base URL.
    #[error("role {role}: invalid endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The role.
        role: String,
        /// The endpoint, with any credentials and query removed.
        endpoint: String,
        /// What is wrong.
        reason: String,
    },
    /// The provider needs a key and the row has no `api_key_ref`.
    #[error("role {role}: provider {provider} needs an api key but api_key_ref is empty")]
    MissingKeyRef {
        /// The role.
        role: String,
        /// The provider.
        provider: &'static str,
    },
    /// The key reference could not be resolved.
    #[error("role {role}: {source}")]
    Key {
        /// The role.
        role: String,
        /// Why.
        #[source]
        source: KeyError,
    },
    /// A sampling setting is out of range.
    #[error("role {role}: invalid {field}: {reason}")]
    InvalidSetting {
        /// The role.
        role: String,
        /// The column.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Why a call failed. Every provider-side variant names provider, model and endpoint.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The role's configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The HTTP client could not be built (TLS setup).
    #[error("llm http client setup failed: {reason}")]
    Setup {
        /// What went wrong.
        reason: String,
    },
    /// The database failed (reading the config, the budget or recording usage).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The call names a project that does not exist, so its budget cannot be checked.
    #[error("project {project_id} does not exist, so its budget cannot be checked")]
    UnknownProject {
        /// The project.
        project_id: ProjectId,
    },
    /// The project's spend plus this call's estimate would exceed its budget; nothing was sent.
    #[error(
        "budget exceeded for project {project_id}: spent {spent_usd_micros} + estimated \
         {estimate_usd_micros} > budget {budget_usd_micros} (millionths of a dollar)"
    )]
    BudgetExceeded {
        /// The project.
        project_id: ProjectId,
        /// Spent so far.
        spent_usd_micros: i64,
        /// Worst-case estimate of this call.
        estimate_usd_micros: i64,
        /// The project's budget.
        budget_usd_micros: i64,
    },
    /// No connection could be made (refused, DNS, TLS, timeout), after retries.
    #[error("llm {route}: unreachable after {attempts} attempt(s): {reason}")]
    Unreachable {
        /// Where the call went.
        route: Route,
        /// Attempts made.
        attempts: u32,
        /// The transport error.
        reason: String,
    },
    /// The provider kept answering 429, or asked to wait longer than the policy allows.
    #[error(
        "llm {route}: rate limited (http 429) after {attempts} attempt(s), retry after {retry_after:?}: {message}"
    )]
    RateLimited {
        /// Where the call went.
        route: Route,
        /// Attempts made.
        attempts: u32,
        /// The provider's last `Retry-After`, if any.
        retry_after: Option<Duration>,
        /// The provider's message.
        message: String,
    },
    /// The provider kept failing with a 5xx (or 408) status.
    #[error("llm {route}: http {status} after {attempts} attempt(s): {message}")]
    ProviderFailed {
        /// Where the call went.
        route: Route,
        /// The last status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The provider's message.
        message: String,
    },
    /// The provider refused the key (401/403); not retried.
    #[error("llm {route}: the api key was refused (http {status}): {message}")]
    Unauthorized {
        /// Where the call went.
        route: Route,
        /// 401 or 403.
        status: u16,
        /// The provider's message, with the key scrubbed.
        message: String,
    },
    /// The provider does not know the model, or the endpoint has no such path (404); not retried.
    #[error("llm {route}: model or path not found (http 404): {message}")]
    ModelNotFound {
        /// Where the call went.
        route: Route,
        /// The provider's message.
        message: String,
    },
    /// Any other 4xx: the request itself is wrong; not retried.
    #[error("llm {route}: request rejected (http {status}): {message}")]
    Rejected {
        /// Where the call went.
        route: Route,
        /// The status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// The provider answered with a body that is not a valid completion, after retries.
    #[error("llm {route}: malformed response after {attempts} attempt(s): {reason}")]
    MalformedResponse {
        /// Where the call went.
        route: Route,
        /// Attempts made.
        attempts: u32,
        /// The parse failure.
        reason: String,
    },
    /// genai refused the request before sending it, or failed in a way not classified above.
    #[error("llm {route}: call failed: {reason}")]
    Call {
        /// Where the call went.
        route: Route,
        /// What went wrong.
        reason: String,
    },
    /// A stream failed after part of the answer was handed out; not retried.
    #[error("llm {route}: stream interrupted after output started: {reason}")]
    StreamInterrupted {
        /// Where the call went.
        route: Route,
        /// The failure.
        reason: String,
    },
    /// `chat_json` got no valid JSON, even after one repair attempt.
    #[error("llm {route}: no valid json after {attempts} answer(s): {reason}")]
    InvalidJson {
        /// Where the call went.
        route: Route,
        /// Answers received.
        attempts: u32,
        /// The last parse or validation error.
        reason: String,
        /// The start of the last answer.
        excerpt: String,
    },
}
