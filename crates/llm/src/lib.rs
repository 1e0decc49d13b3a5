//! LLM clients on genai built from `model_configs` rows, with budgets, retries and usage recording.
//!
//! # Overview
//! ```text
//! Llm::new(store, keys, options)         one HTTP pool, a KeyResolver (env now, SOPS/zavhoz later)
//!   .client("architect").await?          reads model_configs now → LlmClient (route, sampling, prices, key)
//!   .chat(&ctx, request).await?          system prompt → budget check → call with retries → usage row
//!   .chat_json::<Plan>(&ctx, request)    JSON answer parsed and validated, one repair on garbage
//!   .chat_stream(&ctx, request, |t| …)   text chunks as they arrive, then the same outcome
//! ```
//! - **Providers** are an explicit table ([`Provider`]): the provider string picks a genai adapter
//!   and a default endpoint; `openai_compatible` needs the row's endpoint. Each call goes to a fully
//!   resolved genai `ServiceTarget`, so genai never guesses an adapter from the model name and
//!   never falls back to another provider (its fallback for unknown names is a local Ollama).
//! - **Keys** come from `api_key_ref` through a [`KeyResolver`] as `SecretString`s; they are
//!   never logged and scrubbed from provider messages kept in errors.
//! - **Retries** ([`RetryPolicy`]): connection errors, 408/425/429/5xx and malformed bodies, with
//!   exponential backoff and jitter, honouring `Retry-After`; bounded in attempts and total time.
//!   401/403, 404 and other 4xx fail at once, naming provider, model and endpoint.
//! - **Budget** ([`check_budget`]): with a project in the [`CallContext`], spend so far plus the
//!   call's worst-case estimate must fit the project's budget, or [`LlmError::BudgetExceeded`]
//!   is returned before anything is sent.
//! - **Usage**: every successful call's tokens and cost (tokens × the row's prices) are recorded
//!   in `llm_usage` under the call's idempotency key before [`ChatOutcome`] is returned, so a
//!   caller that fails afterwards has still paid for the call on record.
//!
//! # Limits
//! - The budget check is not a reservation: concurrent calls of one project can overshoot the
//!   budget by at most their own estimates.
//! - A call that failed after the provider did the work (a malformed body, a stream cut after
//!   output started) records no usage: its tokens are unknown.
//! - genai logs raw provider error bodies at TRACE (`genai::webc`); keep that target at `debug`
//!   or below in production, in case a provider echoes a key (OpenAI masks it).
//! - Model configs are read when a client is built (`Llm::client`); there is no cache to
//!   invalidate, so build a client per graph step to pick up dashboard edits.
//!
//! # Layout
//! - [`provider`]: provider names → genai adapters and endpoints; [`Route`].
//! - [`keys`]: key references and resolvers.
//! - [`config`]: a row → sampling settings, key; [`ClientOptions`].
//! - [`client`]: [`Llm`] and [`LlmClient`].
//! - [`json`]: structured answers; [`stream`]: streamed answers.
//! - [`retry`], [`budget`], [`cost`], [`call`], [`error`]; `failure` classifies failed attempts.

pub mod budget;
pub mod call;
pub mod client;
pub mod config;
pub mod cost;
pub mod error;
mod failure;
pub mod json;
pub mod keys;
pub mod provider;
pub mod retry;
pub mod stream;

pub use budget::{BudgetStatus, check_budget};
pub use call::{CallContext, ChatOutcome, JsonOutcome};
pub use client::{Llm, LlmClient};
pub use config::{ClientOptions, Sampling};
pub use cost::{Prices, TokenUsage};
pub use error::{ConfigError, KeyError, LlmError};
pub use keys::{EnvKeyResolver, KeyRef, KeyResolver, StaticKeyResolver};
pub use provider::{Provider, Route};
pub use retry::RetryPolicy;

/// The genai chat types callers build requests from, so they need no direct genai dependency.
pub mod chat {
    pub use genai::chat::{ChatMessage, ChatRequest, Tool, ToolCall, ToolResponse};
}
