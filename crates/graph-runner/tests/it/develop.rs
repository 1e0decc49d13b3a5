//! The develop step with a stand-in worker-spawner that really pushes to the (simulated) GitHub and a stand-in
//! reviewer that approves: the first wave runs in parallel, a failed worker is retried once with the error in
//! its task, each pushed task gets a pull request and a review request, a merge unblocks the next wave, and the
//! person hears about each step as it happens.

use std::path::Path;
use std::time::Duration;

use orch_bus::Group;
use orch_contracts::messages::review::{ReviewRequest, ReviewResult, Verdict};
use orch_contracts::messages::worker::{AgentKind, WorkerResult, WorkerSpawn, WorkerStatus};
use orch_contracts::{Envelope, StreamKey, streams};
use orch_testkit::github::GithubSim;
use orch_testkit::llm::Answer;

use crate::architect::{TOKEN, approve, factory, plan};
use crate::support::service::{Service, text};

const WAIT: Duration = Duration::from_secs(20);

/// Reads spawns, pushes a commit for each (except the first attempt of `fail_first`), publishes results.
struct FakeSpawner {
    group: Group,
    seen: Vec<WorkerSpawn>,
}

impl FakeSpawner {
    async fn new(s: &Service) -> Self {
        let group = Group::new(
            &s.bus,
            &StreamKey::from(streams::WORKER_SPAWN),
            "fake-spawner",
            "f",
        );
        group.ensure().await.expect("group");
        Self {
            group,
            seen: Vec::new(),
        }
    }

    /// Handles spawns until `n` were handled in all.
    async fn handle(&mut self, s: &Service, sim: &GithubSim, n: usize, fail_first: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.seen.len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} spawns arrived",
                self.seen.len()
            );
            let entries = self
                .group
                .read_new(10, Duration::from_millis(200))
                .await
                .expect("read spawns");
            for entry in entries {
                let spawn = Envelope::<WorkerSpawn>::from_fields(&entry.fields)
                    .expect("a valid spawn")
                    .body;
                let fail = spawn.branch == format!("task/{fail_first}")
                    && !self.seen.iter().any(|seen| seen.branch == spawn.branch);
                let result = if fail {
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
                self.group.ack(&[entry.id]).await.expect("ack");
                self.seen.push(spawn);
            }
        }
    }
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

async fn pushed(spawn: &WorkerSpawn, sim: &GithubSim) -> WorkerResult {
    let dir = tempfile::tempdir().expect("tmp");
    let url = sim.git_url_with_token(&spawn.repo.owner, &spawn.repo.name, TOKEN);
    git(dir.path(), &["clone", "--quiet", &url, "work"]);
    let work = dir.path().join("work");
    git(&work, &["checkout", "--quiet", "-b", &spawn.branch]);
    std::fs::write(
        work.join(format!("{}.py", spawn.branch.replace('/', "_"))),
        "print('ok')\n",
    )
    .expect("write");
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
        usage: Some(orch_contracts::messages::worker::Usage {
            input_tokens: 1000,
            output_tokens: 200,
            cost_usd_micros: 150_000,
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

/// Approves and "merges" every review request (the real reviewer is tested in its own crate).
struct FakeReviewer {
    group: Group,
    seen: Vec<ReviewRequest>,
}

impl FakeReviewer {
    async fn new(s: &Service) -> Self {
        let group = Group::new(
            &s.bus,
            &StreamKey::from(streams::REVIEW_REQUEST),
            "fake-reviewer",
            "r",
        );
        group.ensure().await.expect("group");
        Self {
            group,
            seen: Vec::new(),
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
            let result = ReviewResult {
                review_id: request.review_id,
                pr_number: request.pr_number,
                verdict: Verdict::Approved,
                summary: "Small and matches the task.".into(),
                comments: Vec::new(),
                merged: true,
                merge_sha: Some(format!("{:0>40}", request.pr_number)),
                conflict: false,
            };
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

// Multi-threaded: the stand-in spawner runs git synchronously against the simulator served by this runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waves_run_in_parallel_failures_retry_and_merges_unblock_the_next_wave() {
    let (s, sim) = factory(Answer::text(plan().to_string())).await;
    let mut spawner = FakeSpawner::new(&s).await;
    let mut reviewer = FakeReviewer::new(&s).await;
    let replies = approve(&s, 5).await;
    assert!(text(&replies[4]).contains("Started 2 coding worker(s)"));

    // forecast pushes; bot fails once and is retried; both get reviewed and merged; then morning-push runs.
    spawner.handle(&s, &sim, 3, "bot").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while reviewer.seen.len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "reviews: {:?}",
            reviewer.seen
        );
        reviewer.handle_some(&s).await;
    }
    spawner.handle(&s, &sim, 4, "bot").await;
    while reviewer.seen.len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "reviews: {:?}",
            reviewer.seen
        );
        reviewer.handle_some(&s).await;
    }
    let texts: Vec<String> = s
        .replies(10, WAIT)
        .await
        .iter()
        .map(|a| text(a).to_owned())
        .collect();
    let has = |needle: &str| texts.iter().filter(|t| t.contains(needle)).count();
    assert_eq!(
        has("✅ Forecast client: pushed and verified; pull request #"),
        1,
        "{texts:#?}"
    );
    assert_eq!(
        has("⚠️ Bot commands: the worker ended Failed (tests failed"),
        1,
        "{texts:#?}"
    );
    assert_eq!(
        has("Started 1 coding worker(s): Bot commands"),
        1,
        "{texts:#?}"
    );
    assert_eq!(has("✅ Bot commands: pushed and verified"), 1, "{texts:#?}");
    assert_eq!(has("🔀"), 3, "three merges: {texts:#?}");
    assert_eq!(
        has("Started 1 coding worker(s): Morning push"),
        1,
        "{texts:#?}"
    );
    assert!(
        texts[9].contains("3 task(s) merged, 0 waiting for a person, 0 failed"),
        "{texts:#?}"
    );
    let started_push = texts
        .iter()
        .position(|t| t.contains("Morning push"))
        .expect("push");
    let merges_before = texts[..started_push]
        .iter()
        .filter(|t| t.contains("🔀"))
        .count();
    assert_eq!(
        merges_before, 2,
        "the second wave starts after both merges: {texts:#?}"
    );

    // What the spawner and the reviewer were asked.
    let branches: Vec<&str> = spawner.seen.iter().map(|sp| sp.branch.as_str()).collect();
    assert_eq!(
        branches,
        ["task/forecast", "task/bot", "task/bot", "task/morning-push"]
    );
    assert!(
        spawner
            .seen
            .iter()
            .all(|sp| sp.agent == AgentKind::Scripted && sp.base_branch == "main")
    );
    assert!(
        spawner.seen[2]
            .task
            .body
            .contains("The previous attempt failed")
    );
    assert_ne!(spawner.seen[1].worker_id, spawner.seen[2].worker_id);
    assert!(
        reviewer
            .seen
            .iter()
            .all(|r| r.iteration == 1 && r.merge_when_approved)
    );
    assert!(
        reviewer
            .seen
            .iter()
            .all(|r| r.spec_summary.contains("Morning forecasts"))
    );

    assert_eq!(
        sim.pull_requests().await.len(),
        3,
        "one pull request per pushed task"
    );
    assert_eq!(
        s.count("SELECT count(*) FROM tasks WHERE status = 'merged'")
            .await,
        3
    );
    assert_eq!(
        s.count(
            "SELECT count(*) FROM pull_requests WHERE state = 'merged' AND merge_sha IS NOT NULL"
        )
        .await,
        3
    );
    assert_eq!(
        s.count("SELECT COALESCE(SUM(cost_usd_micros), 0)::bigint FROM llm_usage WHERE source = 'worker'")
            .await,
        450_000,
        "each pushed worker's usage charged once"
    );
    assert!(
        s.read(Duration::from_millis(700)).await.is_empty(),
        "nothing twice"
    );
    s.finish().await;
    sim.shutdown().await;
}
