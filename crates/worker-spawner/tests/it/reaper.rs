//! The reaper removes what nobody will finish — and only that.

use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, VolumeCreateRequest};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use orch_contracts::messages::worker::{WorkerSpawn, WorkerStatus};
use worker_spawner::names::{self, WorkerNames};

use crate::support::{self, Fleet, Git};

/// Creates a labelled container (running `sleep`) and workspace volume for `spawn`, as a crashed spawner would
/// have left them, with the given deadline (unix ms) and a `workers` row in `status`.
async fn orphan(fleet: &Fleet, spawn: &WorkerSpawn, deadline_ms: i64, status: &str) -> WorkerNames {
    let pool = support::pool().await;
    sqlx::query(
        "INSERT INTO workers (id, project_id, idempotency_key, agent_kind, status, branch)
         VALUES ($1, $2, $3, 'scripted', $4::worker_status, $5)",
    )
    .bind(spawn.worker_id.0)
    .bind(spawn.project_id.0)
    .bind(&spawn.idempotency_key)
    .bind(status)
    .bind(&spawn.branch)
    .execute(&pool)
    .await
    .expect("row");
    let docker = support::docker().await;
    let names = WorkerNames::for_key(&spawn.idempotency_key);
    docker
        .create_volume(VolumeCreateRequest {
            name: Some(names.workspace_volume.clone()),
            labels: Some(names::worker_labels(
                &fleet.id,
                names::ROLE_WORKER_VOLUME,
                spawn,
                deadline_ms,
            )),
            ..Default::default()
        })
        .await
        .expect("volume");
    let body = ContainerCreateBody {
        image: Some(support::test_image().to_owned()),
        cmd: Some(vec!["sleep".into(), "300".into()]),
        labels: Some(names::worker_labels(
            &fleet.id,
            names::ROLE_WORKER,
            spawn,
            deadline_ms,
        )),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default()
        .name(&names.container)
        .build();
    docker
        .create_container(Some(options), body)
        .await
        .expect("container");
    docker
        .start_container(&names.container, None)
        .await
        .expect("start");
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_are_reaped_and_live_workers_are_not() {
    let _slot = support::docker_slot().await;
    let git = Git::start().await;
    let pool = support::pool().await;
    let project = support::project(&pool, 3).await;
    let mut fleet = Fleet::new(&git);
    fleet.config.reap_grace_secs = 1;
    let now = chrono::Utc::now().timestamp_millis();
    let finished = support::spawn(&git, project, "task/finished", "@write a a\n");
    let finished_names = orphan(&fleet, &finished, now + 3_600_000, "succeeded").await;
    let abandoned = support::spawn(&git, project, "task/abandoned", "@write a a\n");
    let abandoned_names = orphan(&fleet, &abandoned, now - 5_000, "running").await;
    let spawner = fleet.start().await;
    let bus = fleet.bus();
    let live = support::spawn(
        &git,
        project,
        "task/live",
        "@write live.txt live\n@sleep 6\n",
    );
    support::publish(&bus, &live).await;

    // The abandoned worker gets a result, so whoever waits for it is not left hanging.
    let result = support::result(&bus, abandoned.worker_id, Duration::from_secs(30)).await;
    assert_eq!(result.status, WorkerStatus::InfraError, "{result:?}");
    assert!(result.summary.contains("abandoned"), "{}", result.summary);
    let deadline = Instant::now() + Duration::from_secs(30);
    while container_exists(&finished_names.container).await
        || container_exists(&abandoned_names.container).await
    {
        assert!(Instant::now() < deadline, "orphans were not reaped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The live worker ran through several reaper passes (every 2 s) untouched.
    let live = support::result(&bus, live.worker_id, Duration::from_secs(120)).await;
    assert_eq!(live.status, WorkerStatus::Succeeded, "{live:?}");
    spawner.stop().await;
    fleet.assert_no_leftovers().await;
}

async fn container_exists(name: &str) -> bool {
    support::docker()
        .await
        .inspect_container(name, None)
        .await
        .is_ok()
}
