//! Test 1 (redelivery after SIGKILL) and test 2 (1,000 messages, 4 consumers, churn), with negative controls.

use std::time::{Duration, Instant};

use rand::Rng;

use crate::support::{Fixture, World};

const FAST_RECLAIM: [&str; 4] = [
    "--claim-min-idle-ms",
    "2000",
    "--reclaim-interval-ms",
    "1000",
];

async fn kill_a_with_message_in_flight(world: &World, a_flags: &[&str]) -> Instant {
    let a = Fixture::start(world, "a", a_flags).await;
    world.publish([1]).await;
    // A holds the message in its handler (or has acked it, in the negative control).
    tokio::time::sleep(Duration::from_millis(800)).await;
    a.kill9().await;
    Instant::now()
}

#[tokio::test]
async fn test1_a_message_in_flight_at_sigkill_is_redelivered_and_applied_once() {
    let world = World::new().await;
    let mut a_flags = vec!["--hang-on-seq", "1"];
    a_flags.extend(FAST_RECLAIM);
    let killed_at = kill_a_with_message_in_flight(&world, &a_flags).await;
    assert_eq!(
        world.pending().await,
        1,
        "A died holding the message: it is pending"
    );
    let b = Fixture::start(&world, "b", &FAST_RECLAIM).await;
    world
        .until(
            Duration::from_secs(4),
            "B to apply the effect within 4 s of the kill",
            || async { world.effects().await == 1 },
        )
        .await;
    assert!(killed_at.elapsed() <= Duration::from_secs(5));
    let deliveries: i64 = sqlx::query_scalar("SELECT deliveries FROM chaos_effects")
        .fetch_one(&world.pool)
        .await
        .expect("row");
    assert_eq!(deliveries, 2, "B saw it as the second delivery");
    world
        .until(Duration::from_secs(3), "the ack", || async {
            world.pending().await == 0
        })
        .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(world.effects().await, 1, "exactly one effect");
    b.terminate(Duration::from_secs(10)).await;
    world.drop_database().await;
}

#[tokio::test]
async fn test1_negative_control_ack_before_handling_loses_the_message() {
    let world = World::new().await;
    let mut a_flags = vec!["--hang-on-seq", "1", "--ack-before-handling"];
    a_flags.extend(FAST_RECLAIM);
    kill_a_with_message_in_flight(&world, &a_flags).await;
    let b = Fixture::start(&world, "b", &FAST_RECLAIM).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        world.effects().await,
        0,
        "with ack-before-handling the message is lost: test 1 catches it"
    );
    assert_eq!(world.pending().await, 0);
    b.terminate(Duration::from_secs(10)).await;
    world.drop_database().await;
}

/// Publishes 1,000 messages to 4 consumers and SIGKILLs a random one every 200 ms for 10 s, restarting it.
async fn churn(world: &World, flags: &[&str]) {
    world.publish(0..1000).await;
    let names = ["c0", "c1", "c2", "c3"];
    let mut consumers = Vec::new();
    for name in names {
        consumers.push(Some(Fixture::start(world, name, flags).await));
    }
    let started = Instant::now();
    let mut generation = 0;
    while started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let victim = rand::rng().random_range(0..names.len());
        if let Some(f) = consumers[victim].take() {
            f.kill9().await;
        }
        generation += 1;
        let name = format!("{}-{generation}", names[victim]);
        consumers[victim] = Some(Fixture::start(world, &name, flags).await);
    }
    world
        .until(Duration::from_secs(60), "all 1,000 effects", || async {
            world.distinct_effects().await == 1000
        })
        .await;
    world
        .until(Duration::from_secs(15), "nothing pending", || async {
            world.pending().await == 0
        })
        .await;
    for f in consumers.into_iter().flatten() {
        f.terminate(Duration::from_secs(30)).await;
    }
}

#[tokio::test]
async fn test2_churn_loses_nothing_and_duplicates_nothing() {
    let world = World::new().await;
    let flags = [
        "--work-ms",
        "20",
        "--max-in-flight",
        "2",
        "--claim-min-idle-ms",
        "1000",
        "--reclaim-interval-ms",
        "300",
    ];
    churn(&world, &flags).await;
    assert_eq!(world.distinct_effects().await, 1000, "no loss");
    assert_eq!(world.effects().await, 1000, "no duplicate side effect");
    assert_eq!(world.inbox_count().await, 1000, "processed_events");
    assert_eq!(world.pending().await, 0);
    world.drop_database().await;
}

#[tokio::test]
async fn test2_negative_control_without_the_inbox_churn_duplicates_effects() {
    let world = World::new().await;
    let flags = [
        "--work-ms",
        "20",
        "--max-in-flight",
        "2",
        "--claim-min-idle-ms",
        "1000",
        "--reclaim-interval-ms",
        "300",
        "--no-inbox",
        "--pause-after-commit-ms",
        "50",
    ];
    churn(&world, &flags).await;
    assert_eq!(world.distinct_effects().await, 1000, "still no loss");
    assert!(
        world.effects().await > 1000,
        "without the inbox, kills between commit and ack duplicate effects"
    );
    world.drop_database().await;
}
