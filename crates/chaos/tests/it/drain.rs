//! Test 7: SIGTERM with 10 messages in flight — finish and ack them, exit 0; past the grace period, leave
//! them pending for a peer.

use std::time::{Duration, Instant};

use crate::support::{Fixture, World};

#[tokio::test]
async fn test7_sigterm_finishes_and_acks_in_flight_messages_then_exits_0() {
    let world = World::new().await;
    let a = Fixture::start(&world, "a", &["--work-ms", "3000", "--max-in-flight", "10"]).await;
    world.publish(0..10).await;
    world
        .until(Duration::from_secs(5), "10 messages in flight", || async {
            world.pending().await == 10
        })
        .await;
    let asked = Instant::now();
    let status = a.terminate(Duration::from_secs(30)).await;
    assert!(status.success(), "exit status {status}");
    assert!(
        asked.elapsed() < Duration::from_secs(30),
        "within the grace period"
    );
    assert_eq!(world.effects().await, 10, "all 10 finished");
    assert_eq!(
        world.pending().await,
        0,
        "and were acknowledged before exit"
    );
    world.drop_database().await;
}

#[tokio::test]
async fn test7_past_the_grace_period_entries_stay_pending_and_a_peer_takes_them() {
    let world = World::new().await;
    let slow = [
        "--work-ms",
        "6000",
        "--max-in-flight",
        "10",
        "--grace-ms",
        "1000",
        "--claim-min-idle-ms",
        "1500",
    ];
    let a = Fixture::start(&world, "a", &slow).await;
    world.publish(0..10).await;
    world
        .until(Duration::from_secs(5), "10 messages in flight", || async {
            world.pending().await == 10
        })
        .await;
    let status = a.terminate(Duration::from_secs(10)).await;
    assert!(status.success(), "exit status {status}");
    assert_eq!(
        world.effects().await,
        0,
        "nothing finished within the grace period"
    );
    assert_eq!(world.pending().await, 10, "so everything stays pending");
    let peer = Fixture::start(
        &world,
        "peer",
        &[
            "--claim-min-idle-ms",
            "1500",
            "--reclaim-interval-ms",
            "500",
        ],
    )
    .await;
    world
        .until(
            Duration::from_secs(10),
            "the peer to apply all 10",
            || async { world.effects().await == 10 },
        )
        .await;
    world
        .until(Duration::from_secs(5), "nothing pending", || async {
            world.pending().await == 0
        })
        .await;
    peer.terminate(Duration::from_secs(10)).await;
    world.drop_database().await;
}
