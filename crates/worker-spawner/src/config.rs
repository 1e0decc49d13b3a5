//! The spawner's settings section (`WORKER_SPAWNER__*`; nested sections use `__`, e.g.
//! `WORKER_SPAWNER__EGRESS__POLICY`). This is the only module that reads the environment (for the `env` secret
//! backend).
//!
//! Secrets: production resolves handles through zavhoz (`SECRETS__BACKEND=zavhoz`, `ZAVHOZ__URL`,
//! `ZAVHOZ__TOKEN`); the compiled-in default stays the `file` backend so a development spawner starts without
//! zavhoz.
//!
//! Production defaults: runtime `sysbox-runc`, egress through the allowlisting proxy. Tests and the local engine
//! select `runc` and the offline test image by configuration only.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use orch_contracts::messages::worker::AgentKind;
use orch_zavhoz_client::ZavhozClientConfig;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// This service's own settings (`WORKER_SPAWNER__*`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSpawnerConfig {
    /// Where the health server listens (`HTTP_LISTEN`), default `127.0.0.1:8094`.
    pub http_listen: SocketAddr,
    /// Names this spawner fleet in the `orch.spawner` label of everything it creates (`SPAWNER_ID`), default
    /// `worker-spawner`. Replicas on one Docker host share it, so a restarted replica finds its orphans.
    pub spawner_id: String,
    /// The consumer group on `worker:spawn` (`CONSUMER_GROUP`), default `worker-spawner`.
    pub consumer_group: String,
    /// A key prefix for every stream this spawner reads and writes (`STREAM_PREFIX`, `<prefix>:worker:spawn`),
    /// default empty; isolates tenants and test runs that share a Redis.
    pub stream_prefix: String,
    /// Workers running at once in this process (`MAX_WORKERS`), default 4. The spawner never reads more
    /// `worker:spawn` entries than it has free slots; the rest wait in the stream.
    pub max_workers: usize,
    /// Upper bound of workers per project (`MAX_WORKERS_PER_PROJECT`), default 3; the project's own
    /// `max_parallel_workers` applies when lower. Excess spawns are requeued, not failed.
    pub max_workers_per_project: u32,
    /// Pause before a spawn over its project's limit goes back to the stream (`REQUEUE_DELAY_MS`), default 1000.
    pub requeue_delay_ms: u64,
    /// The container engine and the sandbox (`DOCKER__*`).
    pub docker: DockerConfig,
    /// Network egress of workers (`EGRESS__*`).
    pub egress: EgressConfig,
    /// The command that runs each agent kind inside the worker (`AGENTS__*`).
    pub agents: AgentCommands,
    /// Where secret handles are resolved (`SECRETS__*`).
    pub secrets: SecretsConfig,
    /// How to reach zavhoz as worker-spawner (`ZAVHOZ__URL`, default `http://127.0.0.1:50051`;
    /// `ZAVHOZ__TOKEN`, minted by `scripts/zavhoz-mint-token.sh worker-spawner`); used by the `zavhoz`
    /// secret backend. The token is redacted in `Debug` and never serialized.
    #[serde(skip_serializing)]
    pub zavhoz: ZavhozClientConfig,
    /// The GitHub REST API used to verify pushed commits (`GITHUB_API_URL`), default `https://api.github.com`.
    pub github_api_url: String,
    /// The repository checks the runner runs after the agent (`TEST_CMD`): `auto` (`make test` when the
    /// Makefile has a `test` target), `none`, or a shell command. Default `auto`.
    pub test_cmd: String,
    /// Commit author name inside workers (`GIT_AUTHOR_NAME`).
    pub git_author_name: String,
    /// Commit author e-mail inside workers (`GIT_AUTHOR_EMAIL`).
    pub git_author_email: String,
    /// Seconds a worker's pid count may sit at its limit before it is killed as `resource_exhausted`
    /// (`PIDS_EXHAUSTED_KILL_SECS`), default 10.
    pub pids_exhausted_kill_secs: u64,
    /// How often a running worker's stats are sampled, in ms (`STATS_INTERVAL_MS`), default 1000.
    pub stats_interval_ms: u64,
    /// How often new log lines are published to `worker:progress:<id>`, in ms (`PROGRESS_INTERVAL_MS`),
    /// default 1000.
    pub progress_interval_ms: u64,
    /// Log lines kept for a result's `log_tail` (`LOG_TAIL_LINES`), default 200.
    pub log_tail_lines: usize,
    /// How often the reaper looks for orphans, in seconds (`REAPER_INTERVAL_SECS`), default 30.
    pub reaper_interval_secs: u64,
    /// How long past its deadline an unfinished worker nobody handles is left before the reaper removes it and
    /// reports `infra_error`, in seconds (`REAP_GRACE_SECS`), default 120.
    pub reap_grace_secs: u64,
}

impl Default for WorkerSpawnerConfig {
    fn default() -> Self {
        Self {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8094)),
            spawner_id: "worker-spawner".into(),
            consumer_group: "worker-spawner".into(),
            stream_prefix: String::new(),
            max_workers: 4,
            max_workers_per_project: 3,
            requeue_delay_ms: 1000,
            docker: DockerConfig::default(),
            egress: EgressConfig::default(),
            agents: AgentCommands::default(),
            secrets: SecretsConfig::default(),
            zavhoz: ZavhozClientConfig::default(),
            github_api_url: "https://api.github.com".into(),
            test_cmd: "auto".into(),
            git_author_name: "orchestrator worker".into(),
            git_author_email: "worker@orchestrator.invalid".into(),
            pids_exhausted_kill_secs: 10,
            stats_interval_ms: 1000,
            progress_interval_ms: 1000,
            log_tail_lines: 200,
            reaper_interval_secs: 30,
            reap_grace_secs: 120,
        }
    }
}

/// The container engine and the sandbox profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DockerConfig {
    /// The OCI runtime of worker containers (`DOCKER__RUNTIME`), default `sysbox-runc`. Checked against
    /// `docker info` at startup.
    pub runtime: String,
    /// The worker image (`DOCKER__IMAGE`), default `orch-worker:latest`; it must exist locally (nothing is
    /// pulled).
    pub image: String,
    /// `user[:group]` the worker runs as (`DOCKER__USER`), default `1000:1000`.
    pub user: String,
    /// Size of the `/tmp` tmpfs in MiB (`DOCKER__TMPFS_MIB`), default 256; it counts against the memory limit.
    pub tmpfs_mib: u32,
    /// Largest single file a worker may write, in MiB (`RLIMIT_FSIZE`; `DOCKER__MAX_FILE_MIB`), default 2048.
    pub max_file_mib: u64,
}

impl Default for DockerConfig {
    fn default() -> Self {
        Self {
            runtime: "sysbox-runc".into(),
            image: "orch-worker:latest".into(),
            user: "1000:1000".into(),
            tmpfs_mib: 256,
            max_file_mib: 2048,
        }
    }
}

/// What a worker may reach over the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EgressPolicy {
    /// No network interface but loopback (`network_mode: none`). The runner cannot clone, so only useful for
    /// agents that need nothing; every worker fails at the clone step.
    None,
    /// A private network per worker with no route anywhere; HTTP(S) goes through the egress proxy, which
    /// forwards only to the allowlisted `host:port` pairs.
    Allowlist,
}

/// Network egress of workers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EgressConfig {
    /// `allowlist` (default) or `none` (`EGRESS__POLICY`).
    pub policy: EgressPolicy,
    /// Comma-separated `host:port` pairs the proxy forwards to (`EGRESS__ALLOW`), default
    /// `github.com:443,api.github.com:443`. Add the model APIs your agents use.
    pub allow: String,
    /// The proxy image (`EGRESS__PROXY_IMAGE`); empty means the worker image (which carries tinyproxy).
    pub proxy_image: String,
    /// The address pool worker networks are carved from (`EGRESS__NETWORK_POOL`), default `10.213.0.0/16`.
    pub network_pool: String,
    /// Prefix length of each worker network (`EGRESS__SUBNET_PREFIX`), default 28 (4096 networks in a /16).
    pub subnet_prefix: u8,
}

impl Default for EgressConfig {
    fn default() -> Self {
        Self {
            policy: EgressPolicy::Allowlist,
            allow: "github.com:443,api.github.com:443".into(),
            proxy_image: String::new(),
            network_pool: "10.213.0.0/16".into(),
            subnet_prefix: 28,
        }
    }
}

/// The shell command that runs each agent kind in the repository (`AGENTS__<KIND>`). Commands may use
/// `$ORCH_TASK_FILE`, `$ORCH_SUMMARY_FILE`, `$ORCH_USAGE_FILE` and `$ORCH_STATE_DIR`; empty disables a kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentCommands {
    /// Factory.ai droid.
    pub droid: String,
    /// Claude Code.
    pub claude_code: String,
    /// OpenAI Codex CLI.
    pub codex: String,
    /// aider.
    pub aider: String,
    /// The deterministic scripted agent of the test image.
    pub scripted: String,
}

impl Default for AgentCommands {
    fn default() -> Self {
        Self {
            droid: r#"droid exec --auto high -f "$ORCH_TASK_FILE""#.into(),
            claude_code: concat!(
                r#"claude -p "$(cat "$ORCH_TASK_FILE")" --dangerously-skip-permissions --output-format json "#,
                r#">"$ORCH_STATE_DIR/claude.json"; rc=$?; "#,
                r#"jq -r '.result // empty' "$ORCH_STATE_DIR/claude.json" >"$ORCH_SUMMARY_FILE"; "#,
                r#"jq -r '"input_tokens=\(.usage.input_tokens // 0)\noutput_tokens=\(.usage.output_tokens // 0)\n"#,
                r#"cost_usd_micros=\((.total_cost_usd // 0) * 1000000 | floor)"' "$ORCH_STATE_DIR/claude.json" "#,
                r#">"$ORCH_USAGE_FILE"; exit $rc"#
            )
            .into(),
            codex: r#"codex exec --dangerously-bypass-approvals-and-sandbox "$(cat "$ORCH_TASK_FILE")""#
                .into(),
            aider: r#"aider --yes-always --no-auto-commits --message-file "$ORCH_TASK_FILE""#.into(),
            scripted: "orch-scripted-agent".into(),
        }
    }
}

impl AgentCommands {
    /// Returns the command of `kind`, or `None` when the kind is disabled here.
    pub fn command(&self, kind: AgentKind) -> Option<&str> {
        let command = match kind {
            AgentKind::Droid => &self.droid,
            AgentKind::ClaudeCode => &self.claude_code,
            AgentKind::Codex => &self.codex,
            AgentKind::Aider => &self.aider,
            AgentKind::Scripted => &self.scripted,
        };
        Some(command.as_str()).filter(|c| !c.trim().is_empty())
    }
}

/// Which secret backend resolves handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretBackend {
    /// Zavhoz's SecretService with the spawner's credentials (`ZAVHOZ__*`): the production backend; every
    /// resolution is audited by zavhoz and single-use handles redeem once.
    Zavhoz,
    /// One file per handle: `<dir>/<handle>` holds the value (a trailing newline is dropped).
    File,
    /// One environment variable per handle: `ORCH_SECRET_<HANDLE>` (the handle upper-cased).
    Env,
}

/// Where secret handles are resolved.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// `zavhoz` (production), `file` (the default, for development) or `env` (`SECRETS__BACKEND`).
    pub backend: SecretBackend,
    /// The directory of the `file` backend (`SECRETS__DIR`), default `/run/orch-secrets`.
    pub dir: PathBuf,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        Self {
            backend: SecretBackend::File,
            dir: PathBuf::from("/run/orch-secrets"),
        }
    }
}

/// Reads the value of a handle for the `env` secret backend: `ORCH_SECRET_<HANDLE>`.
pub fn secret_from_env(handle: &str) -> Option<SecretString> {
    let name = format!("ORCH_SECRET_{}", handle.to_ascii_uppercase());
    std::env::var(name).ok().map(SecretString::from)
}

impl WorkerSpawnerConfig {
    /// How long a spawn over its project's limit waits before it is requeued.
    pub fn requeue_delay(&self) -> Duration {
        Duration::from_millis(self.requeue_delay_ms)
    }

    /// How often stats are sampled.
    pub fn stats_interval(&self) -> Duration {
        Duration::from_millis(self.stats_interval_ms.max(100))
    }

    /// How often progress is published.
    pub fn progress_interval(&self) -> Duration {
        Duration::from_millis(self.progress_interval_ms.max(100))
    }

    /// The proxy image: the configured one, or the worker image.
    pub fn proxy_image(&self) -> &str {
        if self.egress.proxy_image.is_empty() {
            &self.docker.image
        } else {
            &self.egress.proxy_image
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_agent_kind_has_a_default_command() {
        let agents = AgentCommands::default();
        for kind in [
            AgentKind::Droid,
            AgentKind::ClaudeCode,
            AgentKind::Codex,
            AgentKind::Aider,
            AgentKind::Scripted,
        ] {
            assert!(agents.command(kind).is_some(), "{kind:?}");
        }
    }

    #[test]
    fn an_empty_command_disables_a_kind() {
        let agents = AgentCommands {
            droid: " ".into(),
            ..AgentCommands::default()
        };
        assert_eq!(agents.command(AgentKind::Droid), None);
    }

    #[test]
    fn production_defaults_use_sysbox_and_the_allowlist() {
        let config = WorkerSpawnerConfig::default();
        assert_eq!(config.docker.runtime, "sysbox-runc");
        assert_eq!(config.egress.policy, EgressPolicy::Allowlist);
        assert_eq!(config.proxy_image(), "orch-worker:latest");
    }
}
