//! The graph-runner's settings section (`GRAPH_RUNNER__*`); every key is documented in `.env.example` and
//! `docs/graph-runner.md`.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

/// The graph-runner's own settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphRunnerConfig {
    /// Where the health server listens (`GRAPH_RUNNER__HTTP_LISTEN`), default `127.0.0.1:8092`.
    pub http_listen: SocketAddr,
    /// PostgreSQL connections of this process (`GRAPH_RUNNER__DB_POOL_SIZE`), default 16; two of them are
    /// held by the checkpoint writers.
    pub db_pool_size: u32,
    /// Chats handled at once (`GRAPH_RUNNER__MAX_IN_FLIGHT`), default 64; one chat's messages are always
    /// handled one after another.
    pub max_in_flight: usize,
    /// Seconds a thread's lease lasts without renewal (`GRAPH_RUNNER__LEASE_TTL_SECS`), default 15: how long
    /// a thread whose runner died waits before another runner may take it over.
    pub lease_ttl_secs: u64,
    /// Outbox rows published per relay pass (`GRAPH_RUNNER__OUTBOX_BATCH`), default 256.
    pub outbox_batch: i64,
    /// Milliseconds between outbox polls when nothing woke the relay (`GRAPH_RUNNER__OUTBOX_IDLE_MS`),
    /// default 500; replies written by this process wake it at once.
    pub outbox_idle_ms: u64,
    /// Questions the brainstorm asks at most before it must write the spec (`GRAPH_RUNNER__MAX_QUESTIONS`),
    /// default 8.
    pub max_questions: u32,
    /// HTTP attempts per LLM call, retries included (`GRAPH_RUNNER__LLM_MAX_ATTEMPTS`), default 4.
    pub llm_max_attempts: u32,
    /// Upper bound of one LLM HTTP request in seconds (`GRAPH_RUNNER__LLM_REQUEST_TIMEOUT_SECS`), default 120.
    pub llm_request_timeout_secs: u64,
    /// A `brainstorm` model configuration to insert at startup when `model_configs` has none
    /// (`GRAPH_RUNNER__BRAINSTORM__*`); unset relies on the operator's row.
    pub brainstorm: Option<ModelSeed>,
    /// The same for the `architect` model, which plans the repository and the tasks
    /// (`GRAPH_RUNNER__ARCHITECT__*`).
    pub architect: Option<ModelSeed>,
    /// Where approved projects get their repositories (`GRAPH_RUNNER__GITHUB__*`). Unset: the conversation
    /// ends at the approved spec and the person is told that building is not configured.
    pub github: Option<GithubSettings>,
    /// How tasks run on coding workers (`GRAPH_RUNNER__WORKERS__*`).
    pub workers: WorkerSettings,
    /// Seconds an unanswered question to the person waits before a reminder
    /// (`GRAPH_RUNNER__ESCALATION_REMIND_SECS`), default 3600; one reminder per period.
    pub escalation_remind_secs: u64,
    /// Zavhoz, which gives each project its own handle to the workers' git token
    /// (`GRAPH_RUNNER__ZAVHOZ__*`). Unset: every worker gets `GRAPH_RUNNER__WORKERS__GIT_TOKEN_HANDLE`.
    pub zavhoz: Option<ZavhozSettings>,
}

/// How the graph-runner reaches zavhoz (as its own identity, `graph_runner`: it may allocate, never resolve)
/// and which secret the projects' git token handles point at. Used when the token and the secret path are
/// both set; neither set means zavhoz is not used (so a deployment may set only the URL); one alone is a
/// startup error.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZavhozSettings {
    /// Zavhoz's gRPC address (`…__ZAVHOZ__URL`), default `http://127.0.0.1:50051`.
    pub url: String,
    /// This service's token from `scripts/zavhoz-mint-token.sh graph-runner` (`…__ZAVHOZ__TOKEN`); zavhoz
    /// holds its digest in `ZAVHOZ__CALLERS__GRAPH_RUNNER`. Redacted in `Debug`.
    pub token: secrecy::SecretString,
    /// The secrets.yaml path of the workers' git token (`…__ZAVHOZ__GIT_TOKEN_SOPS_PATH`), e.g.
    /// `git.workers_token`.
    pub git_token_sops_path: String,
    /// Lease of each project's handle in seconds (`…__ZAVHOZ__GIT_TOKEN_LEASE_SECS`), default 2592000 (30
    /// days, zavhoz's default maximum): the handle is reusable by every worker of the project until then.
    pub git_token_lease_secs: u64,
}

impl Default for ZavhozSettings {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:50051".into(),
            token: secrecy::SecretString::from(String::new()),
            git_token_sops_path: String::new(),
            git_token_lease_secs: 30 * 24 * 3600,
        }
    }
}

/// How the factory runs tasks on coding workers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerSettings {
    /// The coding agent (`…__AGENT`: `claude_code`, `codex`, `droid`, `aider`, `scripted`), default
    /// `claude_code`.
    pub agent: orch_contracts::messages::worker::AgentKind,
    /// Memory per worker in MiB (`…__MEMORY_MIB`), default 2048.
    pub memory_mib: u32,
    /// CPU per worker in thousandths (`…__CPU_MILLIS`), default 2000.
    pub cpu_millis: u32,
    /// Processes per worker (`…__PIDS`), default 512.
    pub pids: u32,
    /// Wall-clock limit per worker in seconds (`…__TIMEOUT_SECS`), default 1800.
    pub timeout_secs: u32,
    /// The zavhoz handle of the git token workers clone and push with, injected as `GIT_TOKEN`
    /// (`…__GIT_TOKEN_HANDLE`); allocate it with zavhoz (`secret { sops_path }`, no expiry).
    pub git_token_handle: Option<String>,
    /// How often running workers' result streams are checked, in milliseconds (`…__POLL_MS`), default 500.
    pub poll_ms: u64,
    /// The shortest time between two edits of a progress message, in seconds (`…__PROGRESS_SECS`), default 10.
    pub progress_secs: u64,
    /// Review rounds per pull request before the person is asked (`…__MAX_REVIEW_ITERATIONS`), default 3:
    /// after that many requests for changes the task escalates instead of going back to a worker.
    pub max_review_iterations: u32,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            agent: orch_contracts::messages::worker::AgentKind::ClaudeCode,
            memory_mib: 2048,
            cpu_millis: 2000,
            pids: 512,
            timeout_secs: 1800,
            git_token_handle: None,
            poll_ms: 500,
            progress_secs: 10,
            max_review_iterations: 3,
        }
    }
}

/// The GitHub account repositories are created under.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubSettings {
    /// API base URL (`…__GITHUB__API_URL`), default `https://api.github.com`.
    #[serde(default = "default_github_api")]
    pub api_url: String,
    /// A token allowed to create repositories and push (`…__GITHUB__TOKEN`).
    pub token: secrecy::SecretString,
    /// The organization repositories go to (`…__GITHUB__ORG`); unset: the token's user.
    #[serde(default)]
    pub org: Option<String>,
}

impl std::fmt::Debug for GithubSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubSettings")
            .field("api_url", &self.api_url)
            .field("token", &"[REDACTED]")
            .field("org", &self.org)
            .finish()
    }
}

fn default_github_api() -> String {
    orch_github::GITHUB_API_URL.to_owned()
}

impl Default for GraphRunnerConfig {
    fn default() -> Self {
        Self {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8092)),
            db_pool_size: 16,
            max_in_flight: 64,
            lease_ttl_secs: 15,
            outbox_batch: 256,
            outbox_idle_ms: 500,
            max_questions: 8,
            llm_max_attempts: 4,
            llm_request_timeout_secs: 120,
            brainstorm: None,
            architect: None,
            github: None,
            workers: WorkerSettings::default(),
            escalation_remind_secs: 3600,
            zavhoz: None,
        }
    }
}

impl GraphRunnerConfig {
    /// Returns how long a question waits before a reminder.
    pub fn escalation_remind(&self) -> Duration {
        Duration::from_secs(self.escalation_remind_secs.max(1))
    }

    /// Returns the lease TTL.
    pub fn lease_ttl(&self) -> Duration {
        Duration::from_secs(self.lease_ttl_secs.max(1))
    }

    /// Returns the outbox poll interval.
    pub fn outbox_idle(&self) -> Duration {
        Duration::from_millis(self.outbox_idle_ms.max(1))
    }

    /// Returns the LLM request timeout.
    pub fn llm_request_timeout(&self) -> Duration {
        Duration::from_secs(self.llm_request_timeout_secs.max(1))
    }
}

/// A model row (`brainstorm`, `architect`) seeded into `model_configs` when it is missing. An existing row is
/// never changed: after the first start, the dashboard (or SQL) owns it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSeed {
    /// Provider (`openai`, `anthropic`, `openrouter`, `openai_compatible`, …) (`…__BRAINSTORM__PROVIDER`).
    pub provider: String,
    /// Model id (`…__BRAINSTORM__MODEL`).
    pub model: String,
    /// Endpoint overriding the provider's default; required for `openai_compatible` (`…__BRAINSTORM__ENDPOINT`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Where the API key is found, e.g. `OPENAI_API_KEY` (an environment variable name), never the key itself
    /// (`…__BRAINSTORM__API_KEY_REF`).
    #[serde(default)]
    pub api_key_ref: Option<String>,
    /// Sampling temperature (`…__BRAINSTORM__TEMPERATURE`), default 0.3.
    #[serde(default = "default_temperature")]
    pub temperature: f32,
    /// Completion token limit (`…__BRAINSTORM__MAX_TOKENS`), default 4096.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: i32,
    /// Price of a million prompt tokens in micro-dollars (`…__BRAINSTORM__INPUT_PRICE_PER_MTOK_MICROS`).
    #[serde(default)]
    pub input_price_per_mtok_micros: i64,
    /// Price of a million completion tokens in micro-dollars (`…__BRAINSTORM__OUTPUT_PRICE_PER_MTOK_MICROS`).
    #[serde(default)]
    pub output_price_per_mtok_micros: i64,
}

fn default_temperature() -> f32 {
    0.3
}

fn default_max_tokens() -> i32 {
    4096
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_sane() {
        let config = GraphRunnerConfig::default();
        assert_eq!(config.lease_ttl(), Duration::from_secs(15));
        assert!(config.brainstorm.is_none());
        assert!(config.max_in_flight > 1);
    }

    #[test]
    fn a_seed_needs_provider_and_model_and_refuses_typos() {
        let seed: ModelSeed =
            serde_json::from_value(serde_json::json!({"provider": "openai", "model": "gpt-5.2"}))
                .expect("minimal seed");
        assert_eq!(seed.max_tokens, 4096);
        assert!(serde_json::from_value::<ModelSeed>(serde_json::json!({"model": "m"})).is_err());
        let typo = serde_json::json!({"provider": "openai", "model": "m", "modle": "x"});
        assert!(serde_json::from_value::<ModelSeed>(typo).is_err());
    }
}
