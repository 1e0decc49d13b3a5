//! Test 6, the negative control that justifies streams: pub/sub loses what is published while a subscriber is
//! away; a stream consumer that is away for the same second loses nothing.

use std::time::Duration;

use futures::StreamExt;
use orch_bus::signals;

use crate::support::{Fixture, World, redis_url};

#[tokio::test]
async fn test6_pubsub_loses_messages_while_a_subscriber_is_away() {
    let channel = format!("chaos-signal-{}", uuid::Uuid::new_v4().simple());
    let first = signals::subscribe(&redis_url(), &channel)
        .await
        .expect("subscribe");
    drop(first); // the subscriber goes away for a second
    for n in 0..100 {
        signals::publish(&redis_url(), &channel, &n.to_string())
            .await
            .expect("publish");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut back = signals::subscribe(&redis_url(), &channel)
        .await
        .expect("subscribe");
    signals::publish(&redis_url(), &channel, "after")
        .await
        .expect("publish");
    let got = tokio::time::timeout(Duration::from_secs(2), back.next())
        .await
        .expect("a message")
        .expect("open");
    assert_eq!(
        got, "after",
        "the 100 published while away are gone: {} lost",
        100
    );
}

#[tokio::test]
async fn test6_control_a_stream_consumer_away_for_a_second_loses_nothing() {
    let world = World::new().await;
    let a = Fixture::start(&world, "a", &[]).await;
    a.kill9().await;
    world.publish(0..100).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let back = Fixture::start(&world, "b", &[]).await;
    world
        .until(Duration::from_secs(10), "all 100", || async {
            world.effects().await == 100
        })
        .await;
    back.terminate(Duration::from_secs(10)).await;
    world.drop_database().await;
}
