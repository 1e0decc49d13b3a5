//! Checkpoint shape and throughput paths in PostgreSQL: deltas with periodic snapshots, the state size
//! guard, and many threads committing through the group-commit writer at once.

use std::sync::Arc;

use orch_graph::checkpoint::StateBody;
use orch_graph::{
    Checkpointer, Ctx, Graph, GraphError, Input, LeaseConfig, NodeError, PgCheckpointer, PgConfig,
    Runner, RunnerConfig, START, ThreadKey,
};
use sqlx::PgPool;

use crate::support::{Counters, Trail, TrailUpdate, names, visit};

/// `work` loops until the count reaches `n`.
fn counting_graph(c: &Counters, n: i64) -> Graph<Trail> {
    Graph::builder()
        .add_node("work", visit("work", c))
        .add_edge(START, "work")
        .add_conditional_edges(
            "work",
            move |s: &Trail| if s.count < n { "work" } else { orch_graph::END },
        )
        .compile()
        .expect("valid")
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn checkpoints_are_deltas_with_a_snapshot_every_few_steps_and_reload_exactly(pool: PgPool) {
    let c = Counters::default();
    let pg = Arc::new(PgCheckpointer::new(pool));
    let config = RunnerConfig {
        snapshot_every: 4,
        ..RunnerConfig::default()
    };
    let runner = Runner::new(counting_graph(&c, 10))
        .with_checkpointer(pg.clone())
        .with_config(config);
    let thread = ThreadKey::chat(77);
    let done = runner
        .invoke(&thread, Input::Start(Trail::default()))
        .await
        .expect("runs");
    let history = pg.history(&thread, 100).await.expect("history");
    let snapshots: Vec<i64> = history
        .iter()
        .rev()
        .filter(|r| matches!(r.body, StateBody::Snapshot(_)))
        .map(|r| r.checkpoint_id)
        .collect();
    assert_eq!(snapshots, [1, 5, 9], "a snapshot every 4 checkpoints");
    let delta = history
        .iter()
        .find(|r| r.checkpoint_id == 3)
        .expect("checkpoint 3");
    let StateBody::Delta(updates) = &delta.body else {
        panic!("checkpoint 3 is a delta");
    };
    assert_eq!(updates.len(), 1, "just the one update of that step");
    let loaded = pg.load(&thread).await.expect("load").expect("exists");
    assert_eq!(
        loaded.chain.first().map(|r| r.checkpoint_id),
        Some(9),
        "loading starts at the last snapshot"
    );
    let stored = runner
        .get_state(&thread)
        .await
        .expect("state")
        .expect("exists");
    assert_eq!(
        &stored.state,
        done.state(),
        "snapshot + deltas rebuild the exact state"
    );
    assert_eq!(stored.state.count, 10);
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn a_state_over_the_size_limit_stops_the_run_with_a_clear_error(pool: PgPool) {
    let blob = |_: Arc<Trail>, _: Ctx| async {
        let mut u = TrailUpdate::visit("blob");
        u.answer = Some("x".repeat(10_000));
        Ok::<_, NodeError>(u)
    };
    let graph = Graph::builder()
        .add_node("blob", blob)
        .add_edge(START, "blob")
        .compile()
        .expect("valid");
    let config = RunnerConfig {
        snapshot_every: 1,
        max_state_bytes: 4096,
        ..RunnerConfig::default()
    };
    let runner = Runner::new(graph)
        .with_checkpointer(Arc::new(PgCheckpointer::new(pool)))
        .with_config(config);
    let err = runner
        .invoke(&ThreadKey::chat(78), Input::Start(Trail::default()))
        .await
        .expect_err("too big");
    assert!(
        matches!(err, GraphError::State { ref message, .. } if message.contains("max_state_bytes")),
        "{err}"
    );
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn a_hundred_leased_threads_commit_through_the_group_writer(pool: PgPool) {
    let c = Counters::default();
    let pg = Arc::new(PgCheckpointer::with_config(
        pool.clone(),
        PgConfig {
            writers: 2,
            max_batch: 64,
            queue: 1024,
        },
    ));
    let runner = Runner::new(counting_graph(&c, 5))
        .with_checkpointer(pg.clone())
        .with_leases(pg.clone(), LeaseConfig::unique("it"));
    let runs: Vec<_> = (0..100)
        .map(|i| {
            let runner = runner.clone();
            tokio::spawn(async move {
                runner
                    .invoke(&ThreadKey::chat(i), Input::Start(Trail::default()))
                    .await
            })
        })
        .collect();
    for run in runs {
        let done = run.await.expect("joins").expect("runs");
        assert_eq!(done.state().visited, names(&["work"; 5]));
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM graph_checkpoints")
        .fetch_one(&pool)
        .await
        .expect("n");
    assert_eq!(rows, 100 * 6, "input + 5 steps per thread");
    let held: i64 =
        sqlx::query_scalar("SELECT count(*) FROM graph_leases WHERE owner <> '' OR runnable")
            .fetch_one(&pool)
            .await
            .expect("n");
    assert_eq!(
        held, 0,
        "the last checkpoint of each run released its lease"
    );
}
