//! `worker:spawn` (graph-runner → worker-spawner), `worker:result:<id>` and `worker:progress:<id>` (back).

use serde::{Deserialize, Serialize};

use super::LONG_TEXT_LIMIT;
use crate::envelope::Contract;
use crate::ids::{ProjectId, WorkerId};
use crate::validate::Violations;

/// A zavhoz secret handle (`hdl_…`): a reference to a secret, never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretHandle(pub String);

impl SecretHandle {
    /// The prefix every handle carries.
    pub const PREFIX: &'static str = "hdl_";

    /// Returns true when the string has a handle's shape: `hdl_` and 20..=64 alphanumerics.
    pub fn is_well_formed(&self) -> bool {
        self.0.strip_prefix(Self::PREFIX).is_some_and(|rest| {
            (20..=64).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_alphanumeric())
        })
    }
}

/// A repository on the git host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoRef {
    /// Owner (user or organisation) login.
    pub owner: String,
    /// Repository name.
    pub name: String,
    /// HTTPS clone URL (credentials are injected separately, never embedded).
    pub clone_url: String,
}

impl RepoRef {
    fn check(&self, v: &mut Violations) {
        v.slug("repo.owner", &self.owner, 100)
            .slug("repo.name", &self.name, 100);
        v.check(
            self.clone_url.starts_with("https://") || self.clone_url.starts_with("http://"),
            || "repo.clone_url must be an http(s) URL".into(),
        );
        v.check(!self.clone_url.contains('@'), || {
            "repo.clone_url must not embed credentials".into()
        });
    }
}

/// A unit of work for a coding agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// One-line title (also the commit and PR title).
    pub title: String,
    /// The full task for TASK.md.
    pub body: String,
}

/// The coding agent that runs inside the worker; each has a command template in the spawner's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    /// Factory.ai `droid exec`.
    Droid,
    /// Anthropic Claude Code.
    ClaudeCode,
    /// OpenAI Codex CLI.
    Codex,
    /// aider.
    Aider,
    /// A deterministic agent that follows TASK.md literally (offline demo and tests).
    Scripted,
}

/// An environment variable the spawner fills with a resolved secret inside this worker only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretInjection {
    /// The variable name, e.g. `ANTHROPIC_API_KEY`.
    pub env: String,
    /// The handle zavhoz resolves for the spawner.
    pub handle: SecretHandle,
}

/// Resource limits of one worker container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerLimits {
    /// Memory limit in MiB.
    pub memory_mib: u32,
    /// CPU limit in thousandths of a CPU (1000 = one CPU).
    pub cpu_millis: u32,
    /// Maximum number of processes.
    pub pids: u32,
}

/// `worker:spawn`: run one coding agent on one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSpawn {
    /// The worker's id; its result arrives on `worker:result:<id>`.
    pub worker_id: WorkerId,
    /// The project the work is for.
    pub project_id: ProjectId,
    /// Redelivery of the same key never yields a second container.
    pub idempotency_key: String,
    /// The repository to work in.
    pub repo: RepoRef,
    /// The branch to start from.
    pub base_branch: String,
    /// The branch to push.
    pub branch: String,
    /// The work.
    pub task: TaskSpec,
    /// Which agent does it.
    pub agent: AgentKind,
    /// Secrets to inject, as handles.
    #[serde(default)]
    pub secrets: Vec<SecretInjection>,
    /// Container limits.
    pub limits: WorkerLimits,
    /// Wall-clock limit in seconds; the container is killed after it.
    pub timeout_secs: u32,
}

impl Contract for WorkerSpawn {
    const TYPE: &'static str = "worker.spawn";
    const VERSION: u16 = 1;

    fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::new();
        v.check(!self.worker_id.is_nil(), || "worker_id is nil".into());
        v.check(!self.project_id.is_nil(), || "project_id is nil".into());
        v.slug("idempotency_key", &self.idempotency_key, 200);
        self.repo.check(&mut v);
        v.slug("base_branch", &self.base_branch, 200)
            .slug("branch", &self.branch, 200);
        v.check(self.branch != self.base_branch, || {
            "branch must differ from base_branch".into()
        });
        v.text("task.title", &self.task.title, 200).text(
            "task.body",
            &self.task.body,
            LONG_TEXT_LIMIT,
        );
        for s in &self.secrets {
            let env_ok = s
                .env
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
                && s.env
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            v.check(env_ok, || {
                format!("secret env `{}` must match [A-Z_][A-Z0-9_]*", s.env)
            });
            v.check(s.handle.is_well_formed(), || {
                format!("secret for `{}` is not a handle", s.env)
            });
        }
        check_limits(&mut v, &self.limits);
        v.check((1..=24 * 3600).contains(&self.timeout_secs), || {
            "timeout_secs must be 1..=86400".into()
        });
        v.into_result()
    }
}

fn check_limits(v: &mut Violations, l: &WorkerLimits) {
    v.check((64..=65536).contains(&l.memory_mib), || {
        "limits.memory_mib must be 64..=65536".into()
    });
    v.check((100..=64000).contains(&l.cpu_millis), || {
        "limits.cpu_millis must be 100..=64000".into()
    });
    v.check((16..=65536).contains(&l.pids), || {
        "limits.pids must be 16..=65536".into()
    });
}

/// How a worker ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerStatus {
    /// The agent finished and its commit is verified on the remote branch.
    Succeeded,
    /// The agent or the task runner reported a failure, or claimed success that could not be verified.
    Failed,
    /// The wall-clock limit was hit and the container was killed.
    Timeout,
    /// The container ran out of memory (exit 137, OOM-killed); not retryable as is.
    Oom,
    /// A resource limit other than memory was hit (pids).
    ResourceExhausted,
    /// The spawn was refused before a container ran (unknown secret handle, bad repository).
    Rejected,
    /// The platform failed (Docker error); retryable.
    InfraError,
}

impl WorkerStatus {
    /// Returns true when running the same task again may succeed without changing it.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Failed | Self::Timeout | Self::InfraError)
    }
}

/// Tokens and money an agent reported spending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cost in millionths of a US dollar.
    pub cost_usd_micros: u64,
}

/// `worker:result:<id>`: how one worker ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerResult {
    /// The worker.
    pub worker_id: WorkerId,
    /// The outcome.
    pub status: WorkerStatus,
    /// The branch the worker pushed (or was to push).
    pub branch: String,
    /// The pushed commit, when there is one.
    pub commit_sha: Option<String>,
    /// Whether the spawner saw `commit_sha` on the remote branch itself.
    pub verified: bool,
    /// What the agent says it did, or why it failed.
    pub summary: String,
    /// Reported usage, when the agent reports it.
    pub usage: Option<Usage>,
    /// The container's exit code, when it exited.
    pub exit_code: Option<i64>,
    /// The last lines of the worker's log.
    pub log_tail: String,
    /// How long the worker ran, in milliseconds.
    pub duration_ms: u64,
}

impl Contract for WorkerResult {
    const TYPE: &'static str = "worker.result";
    const VERSION: u16 = 1;

    fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::new();
        v.check(!self.worker_id.is_nil(), || "worker_id is nil".into());
        v.slug("branch", &self.branch, 200);
        if let Some(sha) = &self.commit_sha {
            v.check(is_sha(sha), || {
                format!("commit_sha `{sha}` is not a 40-character hex sha")
            });
        }
        if self.status == WorkerStatus::Succeeded {
            v.check(self.commit_sha.is_some() && self.verified, || {
                "a succeeded worker needs a commit verified on the remote".into()
            });
        }
        v.check(self.summary.chars().count() <= LONG_TEXT_LIMIT, || {
            "summary too long".into()
        });
        v.check(self.log_tail.len() <= LONG_TEXT_LIMIT, || {
            "log_tail longer than 64 KiB".into()
        });
        v.into_result()
    }
}

/// `worker:progress:<id>`: new log lines from a running worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerProgress {
    /// The worker.
    pub worker_id: WorkerId,
    /// Increases by one per progress message of this worker.
    pub seq: u64,
    /// The new lines.
    pub lines: Vec<String>,
}

impl Contract for WorkerProgress {
    const TYPE: &'static str = "worker.progress";
    const VERSION: u16 = 1;

    fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::new();
        v.check(!self.lines.is_empty(), || "lines is empty".into());
        let bytes: usize = self.lines.iter().map(String::len).sum();
        v.check(bytes <= LONG_TEXT_LIMIT, || {
            "progress lines longer than 64 KiB".into()
        });
        v.into_result()
    }
}

/// Returns true for a full 40-character lower-case hex git sha.
pub fn is_sha(s: &str) -> bool {
    s.len() == 40
        && s.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}
