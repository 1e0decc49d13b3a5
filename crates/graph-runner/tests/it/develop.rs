//! The develop step with a stand-in worker-spawner that really pushes to the (simulated) GitHub: the first
//! wave runs in parallel, a failed worker is retried once with the error in its task, each pushed task gets a
//! pull request, and the person hears about each as it finishes.

use std::path::Path;
use std::time::Duration;

use orch_bus::Group;
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

// Multi-threaded: the stand-in spawner runs git synchronously against the simulator served by this runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_wave_runs_in_parallel_a_failure_is_retried_and_each_push_gets_a_pull_request() {
    let (s, sim) = factory(Answer::text(plan().to_string())).await;
    let mut spawner = FakeSpawner::new(&s).await;
    let replies = approve(&s, 5).await;
    assert!(text(&replies[4]).contains("Started 2 coding worker(s)"));

    spawner.handle(&s, &sim, 3, "bot").await;
    // forecast pushed; bot failed, retried, pushed; then the step reports and ends.
    let texts: Vec<String> = s
        .replies(5, WAIT)
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
    assert_eq!(
        has("✅ Bot commands: pushed and verified; pull request #"),
        1,
        "{texts:#?}"
    );
    assert!(
        texts[4].contains("2 task(s) with an open pull request, 0 merged, 0 failed, 1 waiting"),
        "{texts:#?}"
    );

    // What the spawner was asked: parallel first wave, the retry carries the error, nothing for the blocked task.
    let branches: Vec<&str> = spawner.seen.iter().map(|sp| sp.branch.as_str()).collect();
    assert_eq!(branches, ["task/forecast", "task/bot", "task/bot"]);
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

    let pulls = sim.pull_requests().await;
    assert_eq!(pulls.len(), 2, "one pull request per pushed task");
    assert_eq!(
        s.count("SELECT count(*) FROM tasks WHERE status = 'in_review'")
            .await,
        2
    );
    assert_eq!(
        s.count("SELECT count(*) FROM tasks WHERE key = 'morning-push' AND status = 'pending' AND attempts = 0")
            .await,
        1
    );
    assert_eq!(
        s.count("SELECT count(*) FROM pull_requests WHERE state = 'open'")
            .await,
        2
    );
    assert_eq!(
        s.count("SELECT COALESCE(SUM(cost_usd_micros), 0)::bigint FROM llm_usage WHERE source = 'worker'")
            .await,
        300_000,
        "each pushed worker's usage charged once"
    );
    assert!(
        s.read(Duration::from_millis(700)).await.is_empty(),
        "nothing twice"
    );
    s.finish().await;
    sim.shutdown().await;
}
