//! [`Llm`] builds a [`LlmClient`] per role from its `model_configs` row; a client makes calls.
//!
//! A call: the role's system prompt is put first, the project budget is checked, the request goes
//! to exactly the configured provider, model and endpoint (a fully resolved genai `ServiceTarget`,
//! so genai never infers an adapter from the model name and never falls back to another provider),
//! with retries, and its tokens and cost are recorded in `llm_usage` under the call's
//! idempotency key before the outcome is returned.

use std::fmt;
use std::sync::Arc;

use genai::chat::{ChatOptions, ChatRequest, ChatResponse, ToolCall, Usage};
use genai::resolver::{AuthData, Endpoint};
use genai::{Headers, ServiceTarget, WebConfig};
use orch_store::model_configs::{self, ModelConfig};
use orch_store::usage::{self, UsageRecord, UsageSource};
use orch_store::{Store, StoreError};
use secrecy::{ExposeSecret, SecretString};

use crate::budget::{BudgetStatus, check_budget};
use crate::call::{CallContext, ChatOutcome};
use crate::config::{ClientOptions, Sampling, prices_of, resolve_key};
use crate::cost::{Prices, TokenUsage, estimate_prompt_tokens, estimate_tokens};
use crate::error::{ConfigError, LlmError};
use crate::keys::KeyResolver;
use crate::provider::Route;
use crate::retry::{RetryPolicy, with_retries};

/// Builds clients per role; holds the store, the key resolver and one HTTP connection pool.
#[derive(Clone)]
pub struct Llm {
    store: Store,
    keys: Arc<dyn KeyResolver>,
    options: ClientOptions,
    http: genai::Client,
}

impl Llm {
    /// Creates the factory and its HTTP client.
    pub fn new(
        store: Store,
        keys: Arc<dyn KeyResolver>,
        options: ClientOptions,
    ) -> Result<Self, LlmError> {
        let http = http_client(&options)?;
        Ok(Self {
            store,
            keys,
            options,
            http,
        })
    }

    /// Reads the role's row now (so dashboard edits apply to the next client) and builds its client.
    pub async fn client(&self, role: &str) -> Result<LlmClient, LlmError> {
        let config = read_config(&self.store, role).await?;
        self.client_from_config(config).await
    }

    /// Builds a client from a row already read.
    pub async fn client_from_config(&self, config: ModelConfig) -> Result<LlmClient, LlmError> {
        let route = Route::resolve(
            &config.role,
            &config.provider,
            &config.model,
            config.endpoint.as_deref(),
        )?;
        let sampling = Sampling::from_config(&config, &route)?;
        let key = resolve_key(&config, route.provider, self.keys.as_ref()).await?;
        tracing::debug!(role = %config.role, %route, has_key = key.is_some(), "llm client ready");
        Ok(LlmClient {
            store: self.store.clone(),
            prices: prices_of(&config),
            role: config.role,
            route,
            sampling,
            key,
            http: self.http.clone(),
            retry: self.options.retry.clone(),
        })
    }
}

impl fmt::Debug for Llm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Llm")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn http_client(options: &ClientOptions) -> Result<genai::Client, LlmError> {
    let web = WebConfig::default()
        .with_timeout(options.request_timeout)
        .with_connect_timeout(options.connect_timeout);
    genai::Client::builder()
        .with_web_config(web)
        .build()
        .map_err(|e| LlmError::Setup {
            reason: e.to_string(),
        })
}

async fn read_config(store: &Store, role: &str) -> Result<ModelConfig, LlmError> {
    let mut conn = store
        .pool()
        .acquire()
        .await
        .map_err(|source| StoreError::Database {
            action: "acquiring a connection to read a model config",
            source,
        })?;
    model_configs::get(&mut conn, role).await?.ok_or_else(|| {
        ConfigError::MissingRole {
            role: role.to_owned(),
        }
        .into()
    })
}

/// A client for one role: its route, sampling settings, prices and key.
#[derive(Clone)]
pub struct LlmClient {
    store: Store,
    role: String,
    route: Route,
    sampling: Sampling,
    prices: Prices,
    key: Option<SecretString>,
    http: genai::Client,
    retry: RetryPolicy,
}

impl LlmClient {
    /// Reads the role's row and builds a client with [`ClientOptions::default`] and its own HTTP
    /// pool; services should hold one [`Llm`] and call [`Llm::client`] instead.
    pub async fn for_role(
        store: &Store,
        role: &str,
        keys: Arc<dyn KeyResolver>,
    ) -> Result<Self, LlmError> {
        Llm::new(store.clone(), keys, ClientOptions::default())?
            .client(role)
            .await
    }

    /// Replaces the retry policy.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The role.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// Where calls go (no key).
    pub fn route(&self) -> &Route {
        &self.route
    }

    /// The sampling settings sent with each call.
    pub fn sampling(&self) -> &Sampling {
        &self.sampling
    }

    /// The role's prices.
    pub fn prices(&self) -> Prices {
        self.prices
    }

    /// The worst-case cost of sending `request`: its estimated prompt plus `max_tokens` of completion.
    pub fn estimate_cost(&self, request: &ChatRequest) -> i64 {
        self.worst_case_cost(&self.with_system_prompt(request.clone()))
    }

    /// The worst-case cost of a request that already carries the role's system prompt.
    fn worst_case_cost(&self, request: &ChatRequest) -> i64 {
        self.prices.cost_usd_micros(
            estimate_prompt_tokens(request),
            i64::from(self.sampling.max_tokens),
        )
    }

    /// Sends one chat request and records its usage; see the module docs for the steps.
    #[tracing::instrument(skip_all, fields(role = %self.role, provider = %self.route.provider,
        model = %self.route.model, run_id = ?ctx.run_id, key = %ctx.idempotency_key))]
    pub async fn chat(
        &self,
        ctx: &CallContext,
        request: ChatRequest,
    ) -> Result<ChatOutcome, LlmError> {
        self.chat_with(ctx, request, self.chat_options()).await
    }

    /// [`LlmClient::chat`] with explicit genai options (the row's sampling settings are already in them).
    pub(crate) async fn chat_with(
        &self,
        ctx: &CallContext,
        request: ChatRequest,
        options: ChatOptions,
    ) -> Result<ChatOutcome, LlmError> {
        let request = self.with_system_prompt(request);
        let budget = self.check_budget(ctx, &request).await?;
        let (response, attempts) = with_retries(&self.retry, &self.route, self.secret(), || {
            let target = self.target();
            self.http.exec_chat(target, request.clone(), Some(&options))
        })
        .await?;
        let owner = budget.map(|b| b.owner_user_id);
        let reply = Reply::from_response(response);
        self.finish(ctx, owner, &request, reply, attempts).await
    }

    /// The genai options carrying the row's temperature and max tokens.
    pub(crate) fn chat_options(&self) -> ChatOptions {
        let options = ChatOptions::default().with_max_tokens(self.sampling.max_tokens);
        match self.sampling.temperature {
            Some(t) => options.with_temperature(t),
            None => options,
        }
    }

    /// Puts the role's system prompt first; a system text the caller set follows it.
    pub(crate) fn with_system_prompt(&self, mut request: ChatRequest) -> ChatRequest {
        let role_prompt = self.sampling.system_prompt.trim();
        if role_prompt.is_empty() {
            return request;
        }
        request.system = Some(match request.system.take() {
            Some(own) if !own.trim().is_empty() => format!("{role_prompt}\n\n{own}"),
            _ => role_prompt.to_owned(),
        });
        request
    }

    /// Checks the project's budget (when the call has a project) against the worst case of `request`.
    pub(crate) async fn check_budget(
        &self,
        ctx: &CallContext,
        request: &ChatRequest,
    ) -> Result<Option<BudgetStatus>, LlmError> {
        let Some(project_id) = ctx.project_id else {
            return Ok(None);
        };
        check_budget(&self.store, project_id, self.worst_case_cost(request))
            .await
            .map(Some)
    }

    /// The key, exposed only to build the request and to scrub provider messages.
    pub(crate) fn secret(&self) -> Option<&str> {
        self.key.as_ref().map(|k| k.expose_secret())
    }

    /// The shared genai client.
    pub(crate) fn http(&self) -> &genai::Client {
        &self.http
    }

    /// The retry policy.
    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The exact target of every call: the configured endpoint, key and adapter.
    pub(crate) fn target(&self) -> ServiceTarget {
        let auth = match &self.key {
            Some(key) => AuthData::from_single(key.expose_secret()),
            None => self.anonymous_auth(),
        };
        ServiceTarget {
            endpoint: Endpoint::from_owned(self.route.endpoint.as_str()),
            auth,
            model: self.route.model_iden(),
        }
    }

    /// No `Authorization` header at all, for local OpenAI-compatible servers (only providers with
    /// [`crate::Provider::requires_key`] false get here; they all speak the OpenAI protocol).
    fn anonymous_auth(&self) -> AuthData {
        match self.route.chat_completions_url() {
            Ok(url) => AuthData::RequestOverride {
                url,
                headers: Headers::default(),
            },
            // Unreachable: the endpoint was validated as a URL; genai reports the missing key.
            Err(_) => AuthData::None,
        }
    }

    /// Prices and records a reply, then hands it out.
    pub(crate) async fn finish(
        &self,
        ctx: &CallContext,
        owner: Option<i64>,
        request: &ChatRequest,
        reply: Reply,
        attempts: u32,
    ) -> Result<ChatOutcome, LlmError> {
        let usage = self.usage_of(&reply, request);
        let cost = self
            .prices
            .cost_usd_micros(usage.prompt_tokens, usage.completion_tokens);
        let recorded = self
            .record_usage(ctx, ctx.user_id.or(owner), usage, cost)
            .await?;
        tracing::info!(
            attempts,
            prompt_tokens = usage.prompt_tokens,
            completion_tokens = usage.completion_tokens,
            cost_usd_micros = cost,
            "llm call done"
        );
        Ok(ChatOutcome {
            text: reply.text,
            tool_calls: reply.tool_calls,
            usage,
            cost_usd_micros: cost,
            attempts,
            usage_recorded: recorded,
            truncated: reply.truncated,
        })
    }

    /// The reported usage, or an estimate (logged) when the provider sent none.
    fn usage_of(&self, reply: &Reply, request: &ChatRequest) -> TokenUsage {
        let u = &reply.usage;
        if let (Some(prompt), Some(completion)) = (u.prompt_tokens, u.completion_tokens) {
            return TokenUsage {
                prompt_tokens: i64::from(prompt.max(0)),
                completion_tokens: i64::from(completion.max(0)),
                reported: true,
            };
        }
        tracing::warn!(route = %self.route, "provider reported no token usage; recording an estimate");
        let calls = serde_json::to_string(&reply.tool_calls).unwrap_or_default();
        TokenUsage {
            prompt_tokens: estimate_prompt_tokens(request),
            completion_tokens: estimate_tokens(reply.text.as_deref().unwrap_or_default())
                + estimate_tokens(&calls),
            reported: false,
        }
    }

    async fn record_usage(
        &self,
        ctx: &CallContext,
        user_id: Option<i64>,
        usage: TokenUsage,
        cost: i64,
    ) -> Result<bool, LlmError> {
        let mut conn =
            self.store
                .pool()
                .acquire()
                .await
                .map_err(|source| StoreError::Database {
                    action: "acquiring a connection to record usage",
                    source,
                })?;
        let record = UsageRecord {
            source: UsageSource::Llm,
            user_id,
            project_id: ctx.project_id,
            run_id: ctx.run_id,
            worker_id: None,
            role: &self.role,
            provider: self.route.provider.as_str(),
            model: &self.route.model,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cost_usd_micros: cost,
            idempotency_key: &ctx.idempotency_key,
        };
        let recorded = usage::record(&mut conn, &record).await?;
        if !recorded {
            tracing::info!("usage of this idempotency key was already recorded");
        }
        Ok(recorded)
    }
}

impl fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmClient")
            .field("role", &self.role)
            .field("route", &self.route)
            .field("sampling", &self.sampling)
            .field("prices", &self.prices)
            .field("key", &self.key.as_ref().map(|_| "[REDACTED]"))
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// What came back from the provider, streamed or not.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    /// The text, if any.
    pub text: Option<String>,
    /// Requested tool calls.
    pub tool_calls: Vec<ToolCall>,
    /// Usage as the provider reported it (fields missing when it did not).
    pub usage: Usage,
    /// Stopped at `max_tokens`.
    pub truncated: bool,
}

impl Reply {
    fn from_response(response: ChatResponse) -> Self {
        Self {
            text: response.first_text().map(str::to_owned),
            truncated: response
                .stop_reason
                .as_ref()
                .is_some_and(|r| r.is_max_tokens()),
            usage: response.usage.clone(),
            tool_calls: response.into_tool_calls(),
        }
    }
}
