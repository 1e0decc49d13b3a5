//! OpenAI-compatible chat-completions simulator.
//!
//! A local HTTP server answering `POST /v1/chat/completions` (plain and SSE streaming) and
//! `GET /v1/models` the way the OpenAI API does, with scripted answers, deterministic token
//! usage, injectable failures and request capture. Clients are pointed at it by URL only, e.g.
//! genai with an endpoint of [`LlmSim::base_url`] (`http://127.0.0.1:PORT/v1/`).
//!
//! # Overview
//! - **Auth**: `Authorization: Bearer KEY` checked against [`LlmConfig::api_keys`]; failures are
//!   OpenAI's 401 bodies (`invalid_api_key`). Unknown models get 404 `model_not_found`.
//! - **Answers**, chosen per request in this order: injected faults ([`LlmSim::fail_next`]),
//!   queued answers ([`LlmSim::push_answer`]), [`Rule`]s in order (matching model, system prompt,
//!   last user message substring/regex, last role, custom tag, …; one-shot, `n` times or
//!   forever), then the default answer. An [`Answer`] is text, tool calls, an error status, a
//!   429 with `Retry-After`, a 500, a malformed JSON body or a dropped connection.
//! - **Usage**: deterministic, see [`estimate_tokens`]: completion = ⌈chars/4⌉ of the answer;
//!   prompt = Σ(⌈chars/4⌉ + 4) over messages + 3 (+ the tool definitions).
//! - **Streaming**: `stream: true` gives `chat.completion.chunk` events; with
//!   `stream_options.include_usage` a final `choices: []` chunk carries the usage, then
//!   `data: [DONE]`.
//! - **Capture**: every request (body and headers, credentials removed) via
//!   [`LlmSim::requests`] or `GET /control/requests`.
//! - **Control API**: see [`control`]'s table; scripts load from JSON/YAML ([`Script`]).

mod api;
pub mod config;
pub mod control;
mod error;
mod request;
mod response;
pub mod script;
mod server;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use api::TAG_HEADER;
pub use config::{DEFAULT_API_KEY, DEFAULT_MODELS, LlmConfig, Script};
pub use error::LlmSimError;
pub use request::estimate_tokens;
pub use response::Usage;
pub use script::{Answer, Matcher, Rule, ToolCallSpec};
pub use state::CapturedRequest;

use state::Shared;

/// A running chat-completions simulator; stops when shut down or dropped.
#[derive(Debug)]
pub struct LlmSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

impl LlmSim {
    /// Binds `config.listen` and starts serving.
    pub async fn start(config: LlmConfig) -> Result<Self, LlmSimError> {
        let requested = config.listen;
        let bind_error = |source| LlmSimError::Bind {
            addr: requested,
            source,
        };
        let shared = Shared::new(config)?;
        let listener = TcpListener::bind(requested).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let app = api::router(Arc::clone(&shared));
        let (stop, stopped) = watch::channel(false);
        let server = tokio::spawn(server::serve(listener, app, stopped));
        tracing::info!(%addr, "llm simulator listening");
        Ok(Self {
            shared,
            addr,
            stop,
            server: Some(server),
        })
    }

    /// Starts a simulator with [`LlmConfig::default`].
    pub async fn start_default() -> Result<Self, LlmSimError> {
        Self::start(LlmConfig::default()).await
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// OpenAI base URL with the trailing slash genai needs: `http://127.0.0.1:PORT/v1/`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1/", self.addr)
    }

    /// Base URL of the control API: `http://127.0.0.1:PORT/control`.
    pub fn control_url(&self) -> String {
        format!("http://{}/control", self.addr)
    }

    /// The first accepted API key ([`DEFAULT_API_KEY`] by default), or `""` when any is accepted.
    pub fn api_key(&self) -> &str {
        self.shared
            .config
            .api_keys
            .first()
            .map_or("", String::as_str)
    }

    /// Appends a rule (after the configured and previously added ones).
    pub fn add_rule(&self, rule: Rule) -> Result<(), LlmSimError> {
        self.shared.update(|state| state.add_rule(rule))
    }

    /// Replaces all rules.
    pub fn set_rules(&self, rules: Vec<Rule>) -> Result<(), LlmSimError> {
        self.shared.update(|state| {
            state.rules.clear();
            rules.into_iter().try_for_each(|rule| state.add_rule(rule))
        })
    }

    /// Queues an answer for the next request that no fault takes (queue mode).
    pub fn push_answer(&self, answer: Answer) {
        self.shared.update(|state| state.queue.push_back(answer));
    }

    /// Makes the next `count` requests get `answer` (typically a failure), before anything else.
    pub fn fail_next(&self, count: usize, answer: Answer) {
        self.shared
            .update(|state| state.faults.extend(std::iter::repeat_n(answer, count)));
    }

    /// Replaces the fallback answer.
    pub fn set_default_answer(&self, answer: Answer) {
        self.shared.update(|state| state.default_answer = answer);
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<CapturedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Forgets captured requests.
    pub fn clear_requests(&self) {
        self.shared.update(|state| state.requests.clear());
    }

    /// Waits until at least `count` requests were received.
    pub async fn wait_for_requests(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<CapturedRequest>, LlmSimError> {
        self.shared
            .wait_for(timeout, |state| {
                (state.requests.len() >= count).then(|| state.requests.clone())
            })
            .await
            .ok_or(LlmSimError::Timeout {
                what: format!("{count} requests"),
                waited: timeout,
            })
    }

    /// Back to the configured rules and default; queue, faults and captures are cleared.
    pub fn reset(&self) -> Result<(), LlmSimError> {
        self.shared.reset()
    }

    /// Stops serving and closes every connection.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for LlmSim {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
