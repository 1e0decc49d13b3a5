//! What a caller passes with a call ([`CallContext`]) and gets back ([`ChatOutcome`], [`JsonOutcome`]).

use genai::chat::ToolCall;
use orch_contracts::{ProjectId, RunId};

use crate::cost::TokenUsage;

/// Who a call is for and how its usage is keyed. The role comes from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    /// The person who pays; when `None` and a project is given, the project's owner is recorded.
    pub user_id: Option<i64>,
    /// The project whose budget is checked before the call and charged after it.
    pub project_id: Option<ProjectId>,
    /// The graph run, for tracing and the usage row.
    pub run_id: Option<RunId>,
    /// Identifies this call in `llm_usage`: recording the same key twice is a no-op.
    /// Use one key per logical call (e.g. `run:<id>:node:spec:step:3`); `chat_json` derives
    /// `<key>/json-repair` for its repair call.
    pub idempotency_key: String,
}

impl CallContext {
    /// A context with only an idempotency key (no user, project or run).
    pub fn new(idempotency_key: impl Into<String>) -> Self {
        Self {
            user_id: None,
            project_id: None,
            run_id: None,
            idempotency_key: idempotency_key.into(),
        }
    }

    /// Sets the paying user.
    pub fn with_user(mut self, user_id: i64) -> Self {
        self.user_id = Some(user_id);
        self
    }

    /// Sets the project (enables the budget check).
    pub fn with_project(mut self, project_id: ProjectId) -> Self {
        self.project_id = Some(project_id);
        self
    }

    /// Sets the run.
    pub fn with_run(mut self, run_id: RunId) -> Self {
        self.run_id = Some(run_id);
        self
    }

    /// The same context under another idempotency key suffix.
    pub(crate) fn derived(&self, suffix: &str) -> Self {
        Self {
            idempotency_key: format!("{}/{suffix}", self.idempotency_key),
            ..self.clone()
        }
    }
}

/// The result of one successful call; its usage is already recorded.
#[derive(Debug, Clone)]
pub struct ChatOutcome {
    /// The assistant's text, if any.
    pub text: Option<String>,
    /// Tool calls requested by the model; append them to the request (`request.append_message(calls)`)
    /// followed by one `ToolResponse` each, then call again.
    pub tool_calls: Vec<ToolCall>,
    /// Tokens used.
    pub usage: TokenUsage,
    /// Cost in millionths of a dollar.
    pub cost_usd_micros: i64,
    /// HTTP attempts made (1 without retries).
    pub attempts: u32,
    /// False when a row with the same idempotency key already existed (a repeated call).
    pub usage_recorded: bool,
    /// True when the answer stopped at `max_tokens`.
    pub truncated: bool,
}

/// The result of [`crate::LlmClient::chat_json`].
#[derive(Debug, Clone)]
pub struct JsonOutcome<T> {
    /// The parsed, validated value.
    pub value: T,
    /// Answers it took (1, or 2 after a repair).
    pub answers: u32,
    /// Tokens of every answer.
    pub usage: TokenUsage,
    /// Cost of every answer, in millionths of a dollar.
    pub cost_usd_micros: i64,
}
