//! What the runner reported (`/out/result.json`) and how a worker's ending becomes a [`WorkerStatus`].
//!
//! The report is a claim. The spawner's own observations come first (it killed the container at the deadline
//! or for pid exhaustion; the kernel OOM-killed it), and a claimed success counts only once the commit is seen
//! on the remote branch (lesson 5: verify effects, not claims).

use orch_contracts::messages::worker::{Usage, WorkerStatus, is_sha};
use serde::Deserialize;

/// The runner's result file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RunnerReport {
    /// `succeeded` or `failed`.
    pub status: String,
    /// Why it failed.
    #[serde(default)]
    pub reason: String,
    /// The commit it pushed.
    #[serde(default)]
    pub commit_sha: Option<String>,
    /// The agent's summary.
    #[serde(default)]
    pub summary: String,
    /// Reported usage.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// `passed`, `failed` or `skipped`.
    #[serde(default)]
    pub tests: String,
}

impl RunnerReport {
    /// Parses the result file; `None` when it is not valid JSON of the expected shape.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    /// The claimed commit, when it is a well-formed sha.
    pub fn claimed_commit(&self) -> Option<&str> {
        self.commit_sha.as_deref().filter(|s| is_sha(s))
    }
}

/// Why the spawner itself stopped a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillReason {
    /// The wall-clock limit passed.
    Timeout,
    /// The pid count sat at its limit.
    PidsExhausted,
}

/// What the spawner saw of the branch on the remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// Not checked (no success was claimed).
    NotChecked,
    /// The branch points at this commit.
    At(String),
    /// The branch does not exist.
    Missing,
}

/// Everything known about a worker's ending.
#[derive(Debug, Clone)]
pub struct Ending {
    /// Set when the spawner killed the container.
    pub killed: Option<KillReason>,
    /// The container's exit code.
    pub exit_code: Option<i64>,
    /// The kernel OOM killer struck.
    pub oom_killed: bool,
    /// The pid count reached its limit at some point.
    pub pids_limit_hit: bool,
    /// The runner's report, when there is a readable one.
    pub report: Option<RunnerReport>,
    /// The remote branch, as the spawner saw it.
    pub remote: Remote,
    /// The wall-clock limit, for messages.
    pub timeout_secs: u32,
}

/// The verdict on a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The status.
    pub status: WorkerStatus,
    /// Whether the commit was seen on the remote.
    pub verified: bool,
    /// The commit to report.
    pub commit_sha: Option<String>,
    /// Why, in a sentence.
    pub summary: String,
}

/// Exit code of a process killed by SIGKILL (the OOM killer's signal).
const SIGKILL_EXIT: i64 = 137;
/// The runner's exit code when no task arrived on its stdin (worker-image/execute_task.sh).
pub const NO_TASK_EXIT: i64 = 97;

/// Classifies a worker's ending.
pub fn classify(ending: &Ending) -> Verdict {
    let claimed = ending
        .report
        .as_ref()
        .and_then(RunnerReport::claimed_commit)
        .map(str::to_owned);
    let fail = |status, summary: String| Verdict {
        status,
        verified: false,
        commit_sha: claimed.clone(),
        summary,
    };
    match ending.killed {
        Some(KillReason::Timeout) => {
            return fail(
                WorkerStatus::Timeout,
                format!(
                    "killed after the {} s wall-clock limit",
                    ending.timeout_secs
                ),
            );
        }
        Some(KillReason::PidsExhausted) => {
            return fail(
                WorkerStatus::ResourceExhausted,
                "killed: the process count stayed at its pids limit (fork bomb or runaway process tree)"
                    .into(),
            );
        }
        None => {}
    }
    if ending.oom_killed || ending.exit_code == Some(SIGKILL_EXIT) {
        return fail(
            WorkerStatus::Oom,
            format!(
                "out of memory: the kernel killed the worker's process (exit {}, OOMKilled {})",
                ending.exit_code.unwrap_or(SIGKILL_EXIT),
                ending.oom_killed
            ),
        );
    }
    let Some(report) = &ending.report else {
        return fail(
            WorkerStatus::Failed,
            format!(
                "the worker left no readable result file (exit code {})",
                exit_text(ending.exit_code)
            ),
        );
    };
    if report.status != "succeeded" || ending.exit_code != Some(0) {
        if ending.pids_limit_hit {
            return fail(
                WorkerStatus::ResourceExhausted,
                format!("the pids limit was hit: {}", report_reason(report)),
            );
        }
        return fail(WorkerStatus::Failed, report_reason(report));
    }
    verify_claim(ending, report, claimed)
}

fn verify_claim(ending: &Ending, report: &RunnerReport, claimed: Option<String>) -> Verdict {
    let Some(sha) = claimed else {
        return Verdict {
            status: WorkerStatus::Failed,
            verified: false,
            commit_sha: None,
            summary: "the worker claimed success without a valid commit sha".into(),
        };
    };
    match &ending.remote {
        Remote::At(remote) if *remote == sha => Verdict {
            status: WorkerStatus::Succeeded,
            verified: true,
            commit_sha: Some(sha),
            summary: if report.summary.trim().is_empty() {
                "pushed".into()
            } else {
                report.summary.clone()
            },
        },
        remote => Verdict {
            status: WorkerStatus::Failed,
            verified: false,
            summary: format!(
                "lying worker: it claimed commit {sha} was pushed, but the remote branch {}",
                match remote {
                    Remote::At(other) => format!("points at {other}"),
                    Remote::Missing => "does not exist".into(),
                    Remote::NotChecked => "was not checked".into(),
                }
            ),
            commit_sha: Some(sha),
        },
    }
}

fn report_reason(report: &RunnerReport) -> String {
    if report.reason.trim().is_empty() {
        format!("the worker reported `{}`", report.status)
    } else {
        report.reason.clone()
    }
}

fn exit_text(code: Option<i64>) -> String {
    code.map_or_else(|| "unknown".into(), |c| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn ending() -> Ending {
        Ending {
            killed: None,
            exit_code: Some(0),
            oom_killed: false,
            pids_limit_hit: false,
            report: Some(RunnerReport {
                status: "succeeded".into(),
                commit_sha: Some(SHA.into()),
                summary: "did it".into(),
                ..Default::default()
            }),
            remote: Remote::At(SHA.into()),
            timeout_secs: 60,
        }
    }

    #[test]
    fn a_verified_push_succeeds() {
        let v = classify(&ending());
        assert_eq!(v.status, WorkerStatus::Succeeded);
        assert!(v.verified);
        assert_eq!(v.summary, "did it");
    }

    #[test]
    fn a_claim_the_remote_does_not_back_is_a_lie() {
        for remote in [Remote::Missing, Remote::At("f".repeat(40))] {
            let v = classify(&Ending { remote, ..ending() });
            assert_eq!(v.status, WorkerStatus::Failed);
            assert!(!v.verified);
            assert!(v.summary.starts_with("lying worker"), "{}", v.summary);
        }
    }

    #[test]
    fn the_spawners_own_observations_win_over_the_report() {
        let timeout = classify(&Ending {
            killed: Some(KillReason::Timeout),
            exit_code: Some(137),
            ..ending()
        });
        assert_eq!(timeout.status, WorkerStatus::Timeout);
        let pids = classify(&Ending {
            killed: Some(KillReason::PidsExhausted),
            ..ending()
        });
        assert_eq!(pids.status, WorkerStatus::ResourceExhausted);
        let oom = classify(&Ending {
            exit_code: Some(137),
            report: None,
            ..ending()
        });
        assert_eq!(oom.status, WorkerStatus::Oom);
        let oom_flag = classify(&Ending {
            oom_killed: true,
            exit_code: Some(1),
            ..ending()
        });
        assert_eq!(oom_flag.status, WorkerStatus::Oom);
    }

    #[test]
    fn failures_carry_the_runners_reason() {
        let v = classify(&Ending {
            exit_code: Some(1),
            report: Some(RunnerReport {
                status: "failed".into(),
                reason: "the agent made no changes".into(),
                ..Default::default()
            }),
            ..ending()
        });
        assert_eq!(v.status, WorkerStatus::Failed);
        assert_eq!(v.summary, "the agent made no changes");
        let exhausted = classify(&Ending {
            exit_code: Some(1),
            pids_limit_hit: true,
            report: Some(RunnerReport {
                status: "failed".into(),
                ..Default::default()
            }),
            ..ending()
        });
        assert_eq!(exhausted.status, WorkerStatus::ResourceExhausted);
        let missing = classify(&Ending {
            exit_code: Some(2),
            report: None,
            ..ending()
        });
        assert!(missing.summary.contains("no readable result"));
    }

    #[test]
    fn success_with_a_non_zero_exit_is_not_success() {
        let v = classify(&Ending {
            exit_code: Some(3),
            ..ending()
        });
        assert_eq!(v.status, WorkerStatus::Failed);
    }

    #[test]
    fn reports_parse_leniently_but_need_a_status() {
        let r = RunnerReport::parse(br#"{"version":1,"status":"failed","reason":"x","extra":1}"#)
            .expect("parses");
        assert_eq!(r.reason, "x");
        assert!(RunnerReport::parse(b"{}").is_none());
        assert!(RunnerReport::parse(b"garbage").is_none());
    }
}
