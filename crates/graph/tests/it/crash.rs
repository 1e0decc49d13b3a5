//! Reliability tests 8, 9 and 10 with real fixture processes and SIGKILL, each with a negative control.

use std::time::Duration;

use sqlx::PgPool;

use crate::procs::{World, first_entered, json_after};

const SECS_30: Duration = Duration::from_secs(30);
/// A short lease, so the restarted process need not wait 15 s for the killed one's lease to expire.
const SHORT_LEASE: [&str; 3] = ["--lease-ttl-ms", "1500", "--wait-lease"];

async fn kill_after_node3_checkpoint_then_restart(world: &World, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["--scenario", "chain", "--hang-after-checkpoint-of", "n3"];
    args.extend(SHORT_LEASE);
    args.extend(extra);
    let mut first = world.start(&args).await;
    first.wait_for("hanging", SECS_30).await;
    assert!(
        first
            .seen
            .iter()
            .any(|l| l.starts_with("checkpoint 4 ran=n3")),
        "{:?}",
        first.seen
    );
    first.kill9().await;
    assert_eq!(world.runs_of(&["n1", "n2", "n3", "n4"]).await, [1, 1, 1, 0]);
    let mut args = vec!["--scenario", "chain"];
    args.extend(SHORT_LEASE);
    args.extend(extra);
    let (code, lines) = world.start(&args).await.exit(SECS_30).await;
    assert_eq!(code, 0, "{lines:?}");
    lines
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn test8_sigkill_after_the_node3_checkpoint_resumes_at_node4(pool: PgPool) {
    let world = World::new(pool).await;
    let lines = kill_after_node3_checkpoint_then_restart(&world, &[]).await;
    assert_eq!(
        first_entered(&lines),
        Some("n4"),
        "the restart resumes at node 4: {lines:?}"
    );
    assert_eq!(
        world.runs_of(&["n1", "n2", "n3", "n4", "n5"]).await,
        [1, 1, 1, 1, 1]
    );
    let state = json_after(&lines, "done ");
    assert_eq!(
        state["visited"],
        serde_json::json!(["n1", "n2", "n3", "n4", "n5"])
    );
}

/// Negative control: without durable checkpoints (in-memory checkpointer) the same kill makes the restart
/// run nodes 1–3 again, which test 8's assertions catch.
#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn test8_negative_control_without_durable_checkpoints_nodes_1_to_3_run_twice(pool: PgPool) {
    let world = World::new(pool).await;
    let lines = kill_after_node3_checkpoint_then_restart(&world, &["--memory"]).await;
    assert_eq!(first_entered(&lines), Some("n1"));
    assert_eq!(
        world.runs_of(&["n1", "n2", "n3", "n4", "n5"]).await,
        [2, 2, 2, 1, 1]
    );
}

async fn kill_in_charge_then_restart(world: &World, hang: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["--scenario", "effect", hang];
    args.extend(SHORT_LEASE);
    args.extend(extra);
    let mut first = world.start(&args).await;
    first.wait_for("hanging", SECS_30).await;
    first.kill9().await;
    let mut args = vec!["--scenario", "effect"];
    args.extend(SHORT_LEASE);
    args.extend(extra);
    let (code, lines) = world.start(&args).await.exit(SECS_30).await;
    assert_eq!(code, 0, "{lines:?}");
    lines
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn test9_sigkill_between_the_external_call_and_the_checkpoint_performs_the_action_once(
    pool: PgPool,
) {
    let world = World::new(pool).await;
    let lines = kill_in_charge_then_restart(&world, "--hang-after-call", &[]).await;
    assert_eq!(world.runs("charge").await, 2, "the node re-ran");
    assert_eq!(
        world.scalar("SELECT count(*) FROM fx_ext_requests").await,
        2,
        "the service saw two calls"
    );
    assert_eq!(
        world
            .scalar("SELECT count(DISTINCT key) FROM fx_ext_requests")
            .await,
        1,
        "with one key"
    );
    assert_eq!(
        world.scalar("SELECT count(*) FROM fx_ext_actions").await,
        1,
        "and acted once"
    );
    let state = json_after(&lines, "done ");
    assert!(
        state["receipt"]
            .as_str()
            .is_some_and(|r| r.starts_with("receipt:t1/")),
        "{state}"
    );
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn test9_sigkill_after_the_effect_was_recorded_does_not_call_again(pool: PgPool) {
    let world = World::new(pool).await;
    kill_in_charge_then_restart(&world, "--hang-after-record", &[]).await;
    assert_eq!(world.runs("charge").await, 2, "the node re-ran");
    assert_eq!(
        world.scalar("SELECT count(*) FROM fx_ext_requests").await,
        1,
        "the recorded result was reused"
    );
    assert_eq!(world.scalar("SELECT count(*) FROM fx_ext_actions").await, 1);
}

/// Negative control: a key that changes per attempt defeats the service's deduplication.
#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn test9_negative_control_an_unstable_key_acts_twice(pool: PgPool) {
    let world = World::new(pool).await;
    kill_in_charge_then_restart(&world, "--hang-after-call", &["--unstable-key"]).await;
    assert_eq!(world.scalar("SELECT count(*) FROM fx_ext_actions").await, 2);
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn test10_a_failed_parallel_step_reruns_only_the_failed_task(pool: PgPool) {
    let world = World::new(pool).await;
    let (code, lines) = world
        .start(&["--scenario", "parallel", "--fail", "b"])
        .await
        .exit(SECS_30)
        .await;
    assert_eq!(code, 1, "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("node b failed")),
        "{lines:?}"
    );
    assert_eq!(world.runs_of(&["a", "b", "c"]).await, [1, 1, 0]);
    let (code, lines) = world
        .start(&["--scenario", "parallel"])
        .await
        .exit(SECS_30)
        .await;
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(
        world.runs_of(&["a", "b", "c"]).await,
        [1, 2, 1],
        "a came from its pending write"
    );
    let state = json_after(&lines, "done ");
    assert_eq!(state["visited"], serde_json::json!(["a", "b", "c"]));
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn test10_sigkill_during_a_parallel_step_keeps_the_finished_task(pool: PgPool) {
    let world = World::new(pool).await;
    let mut args = vec!["--scenario", "parallel", "--delay", "b=600000"];
    args.extend(SHORT_LEASE);
    let mut first = world.start(&args).await;
    first.wait_for("enter b", SECS_30).await;
    let a_written = "SELECT count(*) FROM graph_pending_writes WHERE task_id LIKE '%:a:%' AND channel = '__update__'";
    let deadline = tokio::time::Instant::now() + SECS_30;
    while world.scalar(a_written).await == 0 || world.runs("b").await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a's pending write never landed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.kill9().await;
    let mut args = vec!["--scenario", "parallel"];
    args.extend(SHORT_LEASE);
    let (code, lines) = world.start(&args).await.exit(SECS_30).await;
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(world.runs_of(&["a", "b", "c"]).await, [1, 2, 1]);
}
