//! Stand-ins for the worker-spawner and the reviewer (each tested for real in its own crate): the spawner
//! really pushes to the (simulated) GitHub, continuing a task's branch when it exists; the reviewer answers
//! by a policy and "merges" when it approves.

use std::path::Path;
use std::time::Duration;

use orch_bus::Group;
use orch_contracts::messages::review::{LineComment, ReviewRequest, ReviewResult, Verdict};
use orch_contracts::messages::worker::{
    Usage, WorkerProgress, WorkerResult, WorkerSpawn, WorkerStatus,
};
use orch_contracts::{Envelope, StreamKey, streams};
use orch_testkit::github::GithubSim;

use super::service::Service;

pub const WAIT: Duration = Duration::from_secs(20);
/// The token the fakes push with.
pub const TOKEN: &str = "ghp_factory_token";
/// What each pushed worker reports to have cost.
pub const WORKER_COST: u64 = 150_000;

/// Decides whether a spawn fails (given the spawns seen before it).
pub type FailWhen = Box<dyn Fn(&WorkerSpawn, &[WorkerSpawn]) -> bool + Send>;

/// Reads spawns, pushes a commit for each (unless `fail_when` says it fails), publishes results.
pub struct FakeSpawner {
    group: Group,
    pub seen: Vec<WorkerSpawn>,
    fail_when: FailWhen,
}

impl FakeSpawner {
    pub async fn new(s: &Service, fail_when: FailWhen) -> Self {
        Self {
            group: group(s, streams::WORKER_SPAWN, "fake-spawner").await,
            seen: Vec::new(),
            fail_when,
        }
    }

    /// Fails the first attempt on `task/<key>`.
    pub fn fail_first(key: &str) -> FailWhen {
        let branch = format!("task/{key}");
        Box::new(move |spawn, seen| {
            spawn.branch == branch && !seen.iter().any(|s| s.branch == spawn.branch)
        })
    }

    /// Handles spawns until `n` were handled in all.
    /// Results are published as spawns arrive: a failure's retry is one of the spawns waited for.
    pub async fn handle(&mut self, s: &Service, sim: &GithubSim, n: usize) {
        while self.seen.len() < n {
            let spawns = self.receive(1).await;
            self.complete(s, sim, spawns).await;
        }
    }
}

impl FakeSpawner {
    /// Reads spawns until `n` arrived, without answering them (they stay "running").
    pub async fn receive(&mut self, n: usize) -> Vec<WorkerSpawn> {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut got = Vec::new();
        while got.len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} spawns",
                got.len()
            );
            for entry in self
                .group
                .read_new(10, Duration::from_millis(200))
                .await
                .expect("read spawns")
            {
                let spawn = Envelope::<WorkerSpawn>::from_fields(&entry.fields)
                    .expect("a valid spawn")
                    .body;
                self.group.ack(&[entry.id]).await.expect("ack");
                got.push(spawn);
            }
        }
        got
    }

    /// Pushes (unless `fail_when` says it fails) and reports received spawns as the spawner would.
    pub async fn complete(&mut self, s: &Service, sim: &GithubSim, spawns: Vec<WorkerSpawn>) {
        for spawn in spawns {
            let result = if (self.fail_when)(&spawn, &self.seen) {
                failed(&spawn)
            } else {
                pushed(&spawn, sim).await
            };
            s.bus
                .publish_result(
                    &streams::worker_result(spawn.worker_id),
                    &Envelope::new(result),
                )
                .await
                .expect("publish result");
            self.seen.push(spawn);
        }
    }
}

/// A consumer group `name` on `stream`, created.
async fn group(s: &Service, stream: &str, name: &str) -> Group {
    let group = Group::new(&s.bus, &StreamKey::from(stream), name, "c");
    group.ensure().await.expect("group");
    group
}

/// Publishes a log line of a running worker, as the spawner streams them.
pub async fn progress(s: &Service, spawn: &WorkerSpawn, seq: u64, line: &str) {
    let progress = WorkerProgress {
        worker_id: spawn.worker_id,
        seq,
        lines: vec![line.to_owned()],
    };
    s.bus
        .publish(
            &streams::worker_progress(spawn.worker_id),
            &Envelope::new(progress),
        )
        .await
        .expect("publish progress");
}

fn failed(spawn: &WorkerSpawn) -> WorkerResult {
    WorkerResult {
        worker_id: spawn.worker_id,
        status: WorkerStatus::Failed,
        branch: spawn.branch.clone(),
        commit_sha: None,
        verified: false,
        summary: "tests failed: test_forecast_command".into(),
        usage: None,
        exit_code: Some(1),
        log_tail: "FAILED tests/test_bot.py".into(),
        duration_ms: 1200,
    }
}

/// Clones, continues the branch when it exists, commits a file named after the worker, pushes.
async fn pushed(spawn: &WorkerSpawn, sim: &GithubSim) -> WorkerResult {
    let dir = tempfile::tempdir().expect("tmp");
    let url = sim.git_url_with_token(&spawn.repo.owner, &spawn.repo.name, TOKEN);
    git(dir.path(), &["clone", "--quiet", &url, "work"]);
    let work = dir.path().join("work");
    let remote = git(&work, &["ls-remote", "--heads", "origin", &spawn.branch]);
    if remote.is_empty() {
        git(&work, &["checkout", "--quiet", "-b", &spawn.branch]);
    } else {
        git(&work, &["fetch", "--quiet", "origin", &spawn.branch]);
        git(
            &work,
            &["checkout", "--quiet", "-B", &spawn.branch, "FETCH_HEAD"],
        );
    }
    let file = format!(
        "{}_{}.py",
        spawn.branch.replace('/', "_"),
        spawn.worker_id.0.simple()
    );
    std::fs::write(work.join(file), "print('ok')\n").expect("write");
    git(&work, &["add", "--all"]);
    git(&work, &["commit", "--quiet", "-m", &spawn.task.title]);
    git(&work, &["push", "--quiet", "origin", &spawn.branch]);
    let sha = git(&work, &["rev-parse", "HEAD"]);
    WorkerResult {
        worker_id: spawn.worker_id,
        status: WorkerStatus::Succeeded,
        branch: spawn.branch.clone(),
        commit_sha: Some(sha),
        verified: true,
        summary: format!("implemented {}", spawn.task.title),
        usage: Some(Usage {
            input_tokens: 1000,
            output_tokens: 200,
            cost_usd_micros: WORKER_COST,
        }),
        exit_code: Some(0),
        log_tail: String::new(),
        duration_ms: 900,
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "Worker")
        .env("GIT_AUTHOR_EMAIL", "worker@example.com")
        .env("GIT_COMMITTER_NAME", "Worker")
        .env("GIT_COMMITTER_EMAIL", "worker@example.com")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Decides a review's verdict from the request.
pub type Policy = Box<dyn Fn(&ReviewRequest) -> Verdict + Send>;

/// Answers every review request by its policy; approvals "merge".
pub struct FakeReviewer {
    group: Group,
    pub seen: Vec<ReviewRequest>,
    policy: Policy,
}

impl FakeReviewer {
    pub async fn new(s: &Service, policy: Policy) -> Self {
        Self {
            group: group(s, streams::REVIEW_REQUEST, "fake-reviewer").await,
            seen: Vec::new(),
            policy,
        }
    }

    /// Approves everything.
    pub fn approving() -> Policy {
        Box::new(|_| Verdict::Approved)
    }

    /// Handles requests until `n` were handled in all.
    pub async fn handle(&mut self, s: &Service, n: usize) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.seen.len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "reviews: {:?}",
                self.seen
            );
            self.handle_some(s).await;
        }
    }

    async fn handle_some(&mut self, s: &Service) {
        let entries = self
            .group
            .read_new(10, Duration::from_millis(100))
            .await
            .expect("read reviews");
        for entry in entries {
            let request = Envelope::<ReviewRequest>::from_fields(&entry.fields)
                .expect("a valid review request")
                .body;
            let result = review(&request, (self.policy)(&request));
            s.bus
                .publish_result(
                    &streams::review_result(request.review_id),
                    &Envelope::new(result),
                )
                .await
                .expect("publish review");
            self.group.ack(&[entry.id]).await.expect("ack");
            self.seen.push(request);
        }
    }
}

fn review(request: &ReviewRequest, verdict: Verdict) -> ReviewResult {
    let approved = verdict == Verdict::Approved;
    let (summary, comments) = match verdict {
        Verdict::ChangesRequested => (
            "The commands need a docstring.".to_owned(),
            vec![LineComment {
                path: "bot/commands.py".into(),
                line: 1,
                body: "@append bot/commands.py # documented".into(),
            }],
        ),
        Verdict::Escalate => (
            "This changes the bot's public commands; a person should decide.".to_owned(),
            Vec::new(),
        ),
        Verdict::Approved => ("Small and matches the task.".to_owned(), Vec::new()),
    };
    ReviewResult {
        review_id: request.review_id,
        pr_number: request.pr_number,
        verdict,
        summary,
        comments,
        merged: approved,
        merge_sha: approved.then(|| format!("{:0>40}", request.pr_number)),
        conflict: false,
    }
}
