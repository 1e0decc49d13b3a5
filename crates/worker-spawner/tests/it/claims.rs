//! Claims are verified, refusals are clear, secrets stay where they belong.

use std::time::Duration;

use orch_contracts::messages::worker::{
    SecretHandle, SecretInjection, WorkerProgress, WorkerStatus,
};
use orch_contracts::streams;

use crate::support::{self, Fleet, Git};

/// Lesson 5: the runner reports success with a sha, but the agent had pointed the push URL at a local
/// repository, so nothing reached the remote. The spawner checks the remote and says `failed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_worker_is_failed() {
    let _slot = support::docker_slot().await;
    let git = Git::start().await;
    let pool = support::pool().await;
    let project = support::project(&pool, 2).await;
    let fleet = Fleet::new(&git);
    let spawner = fleet.start().await;
    let bus = fleet.bus();
    let lying = support::spawn(&git, project, "task/lie", "@write a.txt a\n@fake-push\n");
    let idle = support::spawn(&git, project, "task/idle", "Do nothing at all.\n");
    support::publish(&bus, &lying).await;
    support::publish(&bus, &idle).await;

    let result = support::result(&bus, lying.worker_id, Duration::from_secs(120)).await;
    assert_eq!(result.status, WorkerStatus::Failed, "{result:?}");
    assert!(!result.verified);
    assert!(
        result.summary.starts_with("lying worker"),
        "{}",
        result.summary
    );
    assert!(result.commit_sha.is_some(), "the claimed sha is reported");
    assert_eq!(git.branch_sha("task/lie").await, None);
    assert!(
        result.log_tail.contains("[orch] done"),
        "the runner believed it: {}",
        result.log_tail
    );

    // An agent that exits 0 without changing anything is an honest failure, caught by the runner.
    let idle = support::result(&bus, idle.worker_id, Duration::from_secs(120)).await;
    assert_eq!(idle.status, WorkerStatus::Failed, "{idle:?}");
    assert_eq!(idle.summary, "the agent made no changes");
    assert_eq!(git.branch_sha("task/idle").await, None);
    spawner.stop().await;
    fleet.assert_no_leftovers().await;
}

/// The runner runs the repository's own checks (`make test` when the Makefile has a test target): failing
/// checks fail the worker (the work is still pushed for inspection), passing checks let it succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repositorys_checks_decide() {
    let _slot = support::docker_slot().await;
    let git = Git::start().await;
    let pool = support::pool().await;
    let project = support::project(&pool, 2).await;
    let fleet = Fleet::new(&git);
    let spawner = fleet.start().await;
    let bus = fleet.bus();
    let makefile = "@write Makefile test: ; test -f ok.txt\n";
    let failing = support::spawn(&git, project, "task/red", makefile);
    let passing = support::spawn(
        &git,
        project,
        "task/green",
        &format!("{makefile}@write ok.txt ok\n"),
    );
    support::publish(&bus, &failing).await;
    support::publish(&bus, &passing).await;
    let red = support::result(&bus, failing.worker_id, Duration::from_secs(120)).await;
    assert_eq!(red.status, WorkerStatus::Failed, "{red:?}");
    assert_eq!(red.summary, "the repository's checks failed");
    assert!(
        git.branch_sha("task/red").await.is_some(),
        "the work is pushed for inspection"
    );
    let green = support::result(&bus, passing.worker_id, Duration::from_secs(120)).await;
    assert_eq!(green.status, WorkerStatus::Succeeded, "{green:?}");
    assert!(
        green
            .log_tail
            .contains("running the repository's checks: make test"),
        "{}",
        green.log_tail
    );
    spawner.stop().await;
    fleet.assert_no_leftovers().await;
}

/// Test 16's spawner part: a secret's value reaches the agent's environment and nothing else — not the
/// container configuration (`docker inspect`), not the progress stream, not the result. The git token reaches
/// git only, not the agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_values_reach_the_agent_and_nothing_else() {
    let _slot = support::docker_slot().await;
    let git = Git::start().await;
    let pool = support::pool().await;
    let project = support::project(&pool, 2).await;
    let fleet = Fleet::new(&git);
    let canary = format!("canary-{}", uuid::Uuid::new_v4().simple());
    let handle = "hdl_canary0000000000000000000001";
    std::fs::write(fleet.secrets_path().join(handle), &canary).expect("secret file");
    let spawner = fleet.start().await;
    let bus = fleet.bus();
    let mut spawn = support::spawn(
        &git,
        project,
        "task/canary",
        "@run echo leaking $CANARY_TOKEN\n@record env.txt echo git-token=${GIT_TOKEN:-unset} canary-length=${#CANARY_TOKEN}\n@sleep 4\n",
    );
    spawn.secrets.push(SecretInjection {
        env: "CANARY_TOKEN".into(),
        handle: SecretHandle(handle.into()),
    });
    support::publish(&bus, &spawn).await;
    let inspected = inspect_while_running(&fleet.id).await;
    assert!(
        !inspected.contains(&canary),
        "docker inspect shows the secret"
    );
    assert!(
        !inspected.contains(support::TOKEN),
        "docker inspect shows the git token"
    );

    let result = support::result(&bus, spawn.worker_id, Duration::from_secs(120)).await;
    assert_eq!(result.status, WorkerStatus::Succeeded, "{result:?}");
    let env = git.file("task/canary", "env.txt");
    assert!(
        env.contains(&format!("git-token=unset canary-length={}", canary.len())),
        "{env}"
    );
    let progress: Vec<String> = bus
        .read_after::<WorkerProgress>(
            &streams::worker_progress(spawn.worker_id),
            "0-0",
            1000,
            Duration::from_millis(10),
        )
        .await
        .expect("progress")
        .into_iter()
        .flat_map(|(_, p)| p.expect("valid").body.lines)
        .collect();
    assert!(
        progress.iter().any(|l| l == "leaking [REDACTED]"),
        "{progress:?}"
    );
    let everything = format!("{progress:?} {result:?}");
    assert!(
        !everything.contains(&canary),
        "the secret leaked: {everything}"
    );
    spawner.stop().await;
    fleet.assert_no_leftovers().await;
}

async fn inspect_while_running(fleet: &str) -> String {
    for _ in 0..100 {
        let containers = support::containers_per_key(fleet).await;
        if !containers.is_empty() {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "docker inspect $(docker ps -aq --filter label=orch.spawner={fleet})"
                ))
                .output()
                .expect("docker inspect");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(text.contains("orch.idempotency-key"), "{text}");
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the worker container never appeared");
}

/// Spawns this spawner cannot run are answered with `rejected` results, not dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_projects_handles_and_reserved_names_are_rejected() {
    let git = Git::start().await;
    let pool = support::pool().await;
    let project = support::project(&pool, 2).await;
    let fleet = Fleet::new(&git);
    let spawner = fleet.start().await;
    let bus = fleet.bus();
    let mut unknown_project = support::spawn(&git, project, "task/x", "@write a a\n");
    unknown_project.project_id = orch_contracts::ProjectId::new();
    let mut unknown_handle = support::spawn(&git, project, "task/y", "@write a a\n");
    unknown_handle.secrets[0].handle = SecretHandle("hdl_doesnotexist00000000000000".into());
    let mut reserved = support::spawn(&git, project, "task/z", "@write a a\n");
    reserved.secrets[0].env = "LD_PRELOAD".into();
    for spawn in [&unknown_project, &unknown_handle, &reserved] {
        support::publish(&bus, spawn).await;
    }
    for (spawn, expected) in [
        (&unknown_project, "does not exist"),
        (&unknown_handle, "unknown secret handle"),
        (&reserved, "reserved"),
    ] {
        let result = support::result(&bus, spawn.worker_id, Duration::from_secs(60)).await;
        assert_eq!(result.status, WorkerStatus::Rejected, "{result:?}");
        assert!(result.summary.contains(expected), "{}", result.summary);
        assert!(!result.status.is_retryable());
    }
    spawner.stop().await;
    fleet.assert_no_leftovers().await;
}
