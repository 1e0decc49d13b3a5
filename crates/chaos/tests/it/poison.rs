//! Test 3: a poison message lands in the DLQ after 5 deliveries; the 999 others are processed.

use std::time::Duration;

use crate::support::{Fixture, World};

#[tokio::test]
async fn test3_poison_message_goes_to_the_dlq_and_the_rest_flows() {
    let world = World::new().await;
    let sent = world.publish(0..1000).await;
    let poison = &sent[500];
    let flags = [
        "--panic-on-seq",
        "500",
        "--claim-min-idle-ms",
        "1000",
        "--reclaim-interval-ms",
        "500",
    ];
    let a = Fixture::start(&world, "a", &flags).await;
    let b = Fixture::start(&world, "b", &flags).await;
    // 5 × (min-idle + tick) = 7.5 s, plus slack for 2-core CI machines.
    let bus = world.bus.clone();
    let stream = world.stream();
    world
        .until(
            Duration::from_secs(12),
            "the poison message in the DLQ",
            || {
                let (bus, stream) = (bus.clone(), stream.clone());
                async move {
                    bus.dead_letters(&stream, 10)
                        .await
                        .map(|d| !d.is_empty())
                        .unwrap_or(false)
                }
            },
        )
        .await;
    world
        .until(Duration::from_secs(10), "999 effects", || async {
            world.effects().await == 999
        })
        .await;
    let letters = world
        .bus
        .dead_letters(&world.stream(), 10)
        .await
        .expect("dlq");
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0].event_id.as_deref(),
        Some(poison.event_id.to_string().as_str())
    );
    assert_eq!(letters[0].deliveries, 5);
    assert!(
        letters[0].reason.contains("poison message 500"),
        "{}",
        letters[0].reason
    );
    world
        .until(Duration::from_secs(5), "nothing pending", || async {
            world.pending().await == 0
        })
        .await;
    let poison_effects: i64 =
        sqlx::query_scalar("SELECT count(*) FROM chaos_effects WHERE seq = 500")
            .fetch_one(&world.pool)
            .await
            .expect("count");
    assert_eq!(poison_effects, 0);
    a.terminate(Duration::from_secs(10)).await;
    b.terminate(Duration::from_secs(10)).await;
    world.drop_database().await;
}
