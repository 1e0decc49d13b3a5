//! Several workers on one repository at once, each pushing its own branch; every result carries the sha the
//! remote really has.

use std::time::Duration;

use orch_contracts::messages::worker::{WorkerProgress, WorkerStatus};
use orch_contracts::streams;

use crate::support::{self, Fleet, Git};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_push_their_own_branches_in_parallel() {
    let _slot = support::docker_slot().await;
    let git = Git::start().await;
    let pool = support::pool().await;
    let project = support::project(&pool, 4).await;
    let mut fleet = Fleet::new(&git);
    fleet.config.max_workers = 4;
    fleet.config.max_workers_per_project = 4;
    let spawner = fleet.start().await;
    let bus = fleet.bus();
    let spawns: Vec<_> = (0..4)
        .map(|i| {
            support::spawn(
                &git,
                project,
                &format!("task/{i}"),
                &format!("Create the file.\n@write src/file{i}.txt hello from worker {i}\n@summary wrote file {i}\n@usage 100 20 1500\n@sleep 2\n"),
            )
        })
        .collect();
    for spawn in &spawns {
        support::publish(&bus, spawn).await;
    }
    let started = std::time::Instant::now();
    for (i, spawn) in spawns.iter().enumerate() {
        let result = support::result(&bus, spawn.worker_id, Duration::from_secs(180)).await;
        assert_eq!(result.status, WorkerStatus::Succeeded, "{result:?}");
        assert!(result.verified);
        let remote = git.branch_sha(&spawn.branch).await.expect("branch pushed");
        assert_eq!(result.commit_sha.as_deref(), Some(remote.as_str()));
        assert_eq!(
            git.file(&spawn.branch, &format!("src/file{i}.txt")),
            format!("hello from worker {i}\n")
        );
        assert_eq!(result.summary.trim(), format!("wrote file {i}"));
        let usage = result.usage.expect("usage reported");
        assert_eq!(
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cost_usd_micros
            ),
            (100, 20, 1500)
        );
        assert!(
            result.log_tail.contains("[orch] pushing"),
            "{}",
            result.log_tail
        );
        let progress = bus
            .read_after::<WorkerProgress>(
                &streams::worker_progress(spawn.worker_id),
                "0-0",
                100,
                Duration::from_millis(10),
            )
            .await
            .expect("progress");
        let lines: Vec<String> = progress
            .into_iter()
            .flat_map(|(_, p)| p.expect("valid").body.lines)
            .collect();
        assert!(
            lines
                .iter()
                .any(|l| l.contains("[scripted] write src/file")),
            "{lines:?}"
        );
    }
    // All four ran at once: the last one started before the first one finished.
    let (last_start, first_finish): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as(
            "SELECT max(started_at), min(finished_at) FROM workers WHERE project_id = $1",
        )
        .bind(project.0)
        .fetch_one(&pool)
        .await
        .expect("worker rows");
    assert!(last_start < first_finish, "the workers did not overlap");
    let elapsed = started.elapsed();
    spawner.stop().await;
    fleet.assert_no_leftovers().await;
    println!("4 parallel workers finished in {elapsed:?}");
}
