//! Reliability test 26 with real processes: SIGKILL the spawner while its workers run, start another one.
//! The new process reclaims the pending spawns, resumes the running containers instead of starting new ones,
//! delivers verified results, and leaves nothing behind.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use orch_contracts::messages::worker::WorkerStatus;
use tokio::process::{Child, Command};

use crate::support::{self, Fleet, Git};

/// The spawner's configuration as the environment a real process reads.
fn environment(fleet: &Fleet) -> HashMap<String, String> {
    let c = &fleet.config;
    HashMap::from([
        ("DATABASE_URL".into(), support::database_url()),
        ("REDIS_URL".into(), support::redis_url()),
        ("BUS_CLAIM_MIN_IDLE_SECS".into(), "2".into()),
        ("SHUTDOWN_GRACE_SECS".into(), "5".into()),
        ("LOG_FORMAT".into(), "json".into()),
        ("WORKER_SPAWNER__HTTP_LISTEN".into(), "127.0.0.1:0".into()),
        ("WORKER_SPAWNER__SPAWNER_ID".into(), c.spawner_id.clone()),
        (
            "WORKER_SPAWNER__STREAM_PREFIX".into(),
            c.stream_prefix.clone(),
        ),
        (
            "WORKER_SPAWNER__DOCKER__RUNTIME".into(),
            c.docker.runtime.clone(),
        ),
        (
            "WORKER_SPAWNER__DOCKER__IMAGE".into(),
            c.docker.image.clone(),
        ),
        (
            "WORKER_SPAWNER__EGRESS__ALLOW".into(),
            c.egress.allow.clone(),
        ),
        (
            "WORKER_SPAWNER__GITHUB_API_URL".into(),
            c.github_api_url.clone(),
        ),
        (
            "WORKER_SPAWNER__SECRETS__DIR".into(),
            fleet.secrets_path().display().to_string(),
        ),
        ("WORKER_SPAWNER__REAPER_INTERVAL_SECS".into(), "2".into()),
    ])
}

fn start(fleet: &Fleet, log: &std::path::Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_worker-spawner"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(environment(fleet))
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("spawner process")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_spawner_is_replaced_without_losing_or_duplicating_workers() {
    let _slot = support::docker_slot().await;
    let git = Git::start().await;
    let pool = support::pool().await;
    let project = support::project(&pool, 3).await;
    let fleet = Fleet::new(&git);
    let logs = tempfile::tempdir().expect("log dir");
    let since = chrono::Utc::now().timestamp();
    let mut first = start(&fleet, &logs.path().join("first.log"));
    let bus = fleet.bus();
    let spawns: Vec<_> = (0..2)
        .map(|i| {
            support::spawn(
                &git,
                project,
                &format!("task/crash{i}"),
                &format!("@write c{i}.txt c{i}\n@sleep 8\n"),
            )
        })
        .collect();
    for spawn in &spawns {
        support::publish(&bus, spawn).await;
    }
    let most = Arc::new(AtomicUsize::new(0));
    let watcher = tokio::spawn(watch_duplicates(fleet.id.clone(), Arc::clone(&most)));
    wait_for_running(&fleet.id, 2, Duration::from_secs(90)).await;
    first.kill().await.expect("SIGKILL the first spawner");

    let mut second = start(&fleet, &logs.path().join("second.log"));
    for spawn in &spawns {
        let result = support::result(&bus, spawn.worker_id, Duration::from_secs(120)).await;
        assert_eq!(result.status, WorkerStatus::Succeeded, "{result:?}");
        assert!(result.verified);
        assert_eq!(result.commit_sha, git.branch_sha(&spawn.branch).await);
    }
    watcher.abort();
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "a key had two containers at once"
    );
    let second_log = std::fs::read_to_string(logs.path().join("second.log")).unwrap_or_default();
    assert!(
        second_log.contains("resuming"),
        "the second spawner did not resume: {second_log}"
    );
    println!("second spawner log:\n{second_log}");
    terminate(&mut second).await;
    let creates = std::process::Command::new("docker")
        .args([
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &chrono::Utc::now().timestamp().to_string(),
        ])
        .args([
            "--filter",
            "event=create",
            "--filter",
            &format!("label=orch.spawner={}", fleet.id),
        ])
        .args(["--filter", "label=orch.role=worker"])
        .output()
        .expect("docker events");
    let creates = String::from_utf8_lossy(&creates.stdout).lines().count();
    assert_eq!(
        creates, 2,
        "one container per spawn, across both spawner processes"
    );
    fleet.assert_no_leftovers().await;
}

async fn wait_for_running(fleet: &str, keys: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while support::containers_per_key(fleet).await.len() < keys {
        assert!(
            Instant::now() < deadline,
            "the workers did not start within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let the runners get past their clone, so the kill lands mid-run.
    tokio::time::sleep(Duration::from_secs(2)).await;
}

async fn watch_duplicates(fleet: String, most: Arc<AtomicUsize>) {
    loop {
        let per_key = support::containers_per_key(&fleet).await;
        let worst = per_key.values().copied().max().unwrap_or(0);
        most.fetch_max(worst, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn terminate(child: &mut Child) {
    let pid = child.id().expect("running").to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("status");
    assert!(status.success(), "the spawner exited with {status}");
}
