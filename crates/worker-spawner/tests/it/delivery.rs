//! At-least-once delivery without duplicates: bad messages go to the dead-letter stream, redelivered spawns
//! never start a second container, and a project's worker limit makes spawns wait rather than fail.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::query_parameters::EventsOptionsBuilder;
use futures::StreamExt;
use orch_contracts::messages::worker::{WorkerResult, WorkerStatus};
use orch_contracts::{StreamKey, streams};

use crate::support::{self, Fleet, Git};

/// Malformed and invalid `worker:spawn` entries end in `worker:spawn:dlq` with the reason; no container runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_spawn_messages_are_dead_lettered() {
    let git = Git::start().await;
    let pool = support::pool().await;
    let project = support::project(&pool, 2).await;
    let fleet = Fleet::new(&git);
    let spawner = fleet.start().await;
    let bus = fleet.bus();
    let stream = StreamKey::from(streams::WORKER_SPAWN);
    let header = |body: String| {
        vec![
            ("type", "worker.spawn".to_owned()),
            ("v", "1".to_owned()),
            ("event_id", uuid::Uuid::new_v4().to_string()),
            ("created_at", chrono::Utc::now().to_rfc3339()),
            ("body", body),
        ]
    };
    let mut invalid = support::spawn(&git, project, "task/bad", "@write a a\n");
    invalid.timeout_secs = 0;
    invalid.repo.clone_url = "http://token@example.com/x.git".into();
    bus.publish_fields(&stream, &header("{not json".into()))
        .await
        .expect("publish");
    bus.publish_fields(
        &stream,
        &header(serde_json::to_string(&invalid).expect("json")),
    )
    .await
    .expect("publish");
    let deadline = Instant::now() + Duration::from_secs(30);
    let letters = loop {
        let letters = bus.dead_letters(&stream, 10).await.expect("dlq");
        if letters.len() >= 2 || Instant::now() > deadline {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(letters.len(), 2, "{letters:?}");
    let reasons = format!("{letters:?}");
    assert!(reasons.contains("timeout_secs"), "{reasons}");
    assert!(reasons.contains("credentials"), "{reasons}");
    assert!(support::containers_per_key(&fleet.id).await.is_empty());
    spawner.stop().await;
    fleet.assert_no_leftovers().await;
}

/// The same spawn delivered twice (a producer retry) and once more after it finished: one container ever, one
/// result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_spawn_never_starts_a_second_container() {
    let _slot = support::docker_slot().await;
    let git = Git::start().await;
    let pool = support::pool().await;
    let project = support::project(&pool, 2).await;
    let fleet = Fleet::new(&git);
    let since = chrono::Utc::now().timestamp();
    let spawner = fleet.start().await;
    let bus = fleet.bus();
    let spawn = support::spawn(
        &git,
        project,
        "task/once",
        "@write once.txt once\n@sleep 2\n",
    );
    support::publish(&bus, &spawn).await;
    support::publish(&bus, &spawn).await;
    let result = support::result(&bus, spawn.worker_id, Duration::from_secs(120)).await;
    assert_eq!(result.status, WorkerStatus::Succeeded, "{result:?}");
    support::publish(&bus, &spawn).await;
    // Give the spawner time to handle the late duplicate (it republishes only a missing result).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let results = bus
        .read_after::<WorkerResult>(
            &streams::worker_result(spawn.worker_id),
            "0-0",
            10,
            Duration::from_millis(10),
        )
        .await
        .expect("results");
    assert_eq!(results.len(), 1, "{results:?}");
    spawner.stop().await;
    let creates = container_creates(&fleet.id, since).await;
    assert_eq!(creates, 1, "containers created for one idempotency key");
    fleet.assert_no_leftovers().await;
}

/// Counts `create` events of the fleet's worker containers since `since` (unix seconds).
async fn container_creates(fleet: &str, since: i64) -> usize {
    let filters = HashMap::from([
        ("type".to_owned(), vec!["container".to_owned()]),
        ("event".to_owned(), vec!["create".to_owned()]),
        (
            "label".to_owned(),
            vec![
                format!("orch.spawner={fleet}"),
                "orch.role=worker".to_owned(),
            ],
        ),
    ]);
    let options = EventsOptionsBuilder::default()
        .since(&since.to_string())
        .until(&chrono::Utc::now().timestamp().to_string())
        .filters(&filters)
        .build();
    support::docker()
        .await
        .events(Some(options))
        .filter_map(|e| async { e.ok() })
        .count()
        .await
}

/// A project allowed one worker at a time: three spawns wait their turn (requeued, not failed) while the
/// spawner has free slots, and they never overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_at_its_limit_makes_spawns_wait() {
    let _slot = support::docker_slot().await;
    let git = Git::start().await;
    let pool = support::pool().await;
    let project = support::project(&pool, 1).await;
    let mut fleet = Fleet::new(&git);
    fleet.config.max_workers = 3;
    fleet.config.requeue_delay_ms = 300;
    let spawner = fleet.start().await;
    let bus = fleet.bus();
    let spawns: Vec<_> = (0..3)
        .map(|i| {
            support::spawn(
                &git,
                project,
                &format!("task/seq{i}"),
                &format!("@write f{i} x\n@sleep 2\n"),
            )
        })
        .collect();
    for spawn in &spawns {
        support::publish(&bus, spawn).await;
    }
    for spawn in &spawns {
        let result = support::result(&bus, spawn.worker_id, Duration::from_secs(120)).await;
        assert_eq!(result.status, WorkerStatus::Succeeded, "{result:?}");
    }
    let starts: Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as(
            "SELECT started_at, finished_at FROM workers WHERE project_id = $1 ORDER BY started_at",
        )
        .bind(project.0)
        .fetch_all(&pool)
        .await
        .expect("rows");
    assert_eq!(starts.len(), 3);
    for pair in starts.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "workers of a one-slot project overlapped: {starts:?}"
        );
    }
    spawner.stop().await;
    fleet.assert_no_leftovers().await;
}
