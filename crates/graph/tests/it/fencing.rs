//! Reliability test 12: a runner paused past its lease TTL cannot write after a peer took the thread over.

use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::procs::{Proc, World, json_after};

const WAIT: Duration = Duration::from_secs(45);
/// Checkpoints 1 (input), 2 (n1) and 3 (n2) are written by the first owner before it is stopped in n3.
const BEFORE_TAKEOVER: i64 = 3;

/// Starts owner O, stops it inside n3, lets peer P take over, resumes O while P is still in n3.
async fn takeover(world: &World, owner_flags: &[&str]) -> (Proc, Proc) {
    let mut args = vec!["--scenario", "chain", "--owner", "O", "--delay", "n3=4000"];
    args.extend(owner_flags);
    let mut owner = world.start(&args).await;
    owner.wait_for("enter n3", WAIT).await;
    owner.signal("-STOP");
    let stopped = Instant::now();
    let peer_args = [
        "--scenario",
        "chain",
        "--owner",
        "P",
        "--wait-lease",
        "--delay",
        "n3=8000",
    ];
    let mut peer = world.start(&peer_args).await;
    peer.wait_for("enter n3", WAIT).await;
    assert!(
        stopped.elapsed() >= Duration::from_secs(10),
        "the peer waited for the lease to expire"
    );
    let epoch = world
        .scalar("SELECT epoch FROM graph_leases WHERE thread_id = 't1'")
        .await;
    assert_eq!(epoch, 2, "the peer took over with epoch + 1");
    owner.signal("-CONT");
    (owner, peer)
}

async fn written_after_takeover_by_others(world: &World) -> i64 {
    world
        .scalar(&format!(
            "SELECT count(*) FROM graph_checkpoints WHERE checkpoint_id > {BEFORE_TAKEOVER} AND lease_epoch <> 2"
        ))
        .await
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn test12_a_stopped_owner_is_fenced_after_a_peer_takes_over(pool: PgPool) {
    let world = World::new(pool).await;
    let (owner, peer) = takeover(&world, &[]).await;
    let (code, lines) = owner.exit(WAIT).await;
    assert_eq!(code, 3, "the old owner's write was rejected: {lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("fenced")), "{lines:?}");
    let (code, lines) = peer.exit(WAIT).await;
    assert_eq!(code, 0, "{lines:?}");
    let state = json_after(&lines, "done ");
    assert_eq!(state["by"]["n2"], "O");
    assert_eq!(state["by"]["n3"], "P");
    assert_eq!(
        written_after_takeover_by_others(&world).await,
        0,
        "0 rows with the stale epoch"
    );
    let stale = world
        .scalar("SELECT count(*) FROM graph_checkpoints WHERE lease_epoch = 1")
        .await;
    assert_eq!(
        stale, BEFORE_TAKEOVER,
        "the old owner's rows are exactly those before the takeover"
    );
    assert_eq!(
        world.runs_of(&["n1", "n2", "n3", "n4", "n5"]).await,
        [1, 1, 2, 1, 1]
    );
}

/// Negative control: the same schedule with the old owner writing unfenced lets its stale write land after
/// the takeover, and the legitimate owner then fails — which test 12's assertions catch.
#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn test12_negative_control_without_fencing_the_stale_owner_overwrites_the_step(pool: PgPool) {
    let world = World::new(pool).await;
    let (owner, peer) = takeover(&world, &["--unfenced"]).await;
    let (_, lines) = owner.exit(WAIT).await;
    // Its renewal then notices the takeover and stops it, but the stale step is already written.
    assert!(
        lines.iter().any(|l| l.starts_with("checkpoint 4 ran=n3")),
        "{lines:?}"
    );
    let (code, lines) = peer.exit(WAIT).await;
    assert_eq!(
        code, 1,
        "the rightful owner hit the stale owner's checkpoint: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("already exists")),
        "{lines:?}"
    );
    assert!(written_after_takeover_by_others(&world).await > 0);
}
