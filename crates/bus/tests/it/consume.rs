//! Publish → consume → ack, batching, and graceful drain.

use std::sync::atomic::Ordering;
use std::time::Duration;

use orch_bus::{Delivery, HandlerError};
use orch_contracts::messages::worker::WorkerProgress;

use crate::support::*;

#[tokio::test]
async fn every_published_message_is_handled_once_and_acked() {
    let bus = bus();
    let sent: Vec<_> = (0..50).map(message).collect();
    bus.publish_batch(&stream(), &sent).await.expect("publish");
    let counter = Counter::default();
    let (stop, handle) = spawn_consumer(&bus, "c1", counting(&counter));
    counter.wait_for(50, Duration::from_secs(10)).await;
    stop.cancel();
    handle.await.expect("joins");
    assert_eq!(counter.get(), 50);
    assert_eq!(pending(&bus).await, 0, "everything handled is acknowledged");
    assert_eq!(bus.metrics().handled_count("work", "ok"), 50);
}

#[tokio::test]
async fn messages_published_before_the_group_exists_are_not_skipped() {
    let bus = bus();
    bus.publish(&stream(), &message(1)).await.expect("publish");
    let counter = Counter::default();
    let (stop, handle) = spawn_consumer(&bus, "late", counting(&counter));
    counter.wait_for(1, Duration::from_secs(5)).await;
    stop.cancel();
    handle.await.expect("joins");
}

#[tokio::test]
async fn shutdown_finishes_in_flight_handlers_and_acks_them() {
    let bus = bus();
    let counter = Counter::default();
    let started = Counter::default();
    let (c, s) = (counter.clone(), started.clone());
    let slow = move |_d: Delivery<WorkerProgress>| {
        let (c, s) = (c.clone(), s.clone());
        async move {
            s.0.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(700)).await;
            c.0.fetch_add(1, Ordering::SeqCst);
            Ok::<(), HandlerError>(())
        }
    };
    let sent: Vec<_> = (0..10).map(message).collect();
    bus.publish_batch(&stream(), &sent).await.expect("publish");
    let (stop, handle) = spawn_consumer(&bus, "drainer", slow);
    started.wait_for(10, Duration::from_secs(5)).await;
    stop.cancel();
    handle.await.expect("joins");
    assert_eq!(counter.get(), 10, "all in-flight handlers finished");
    assert_eq!(
        pending(&bus).await,
        0,
        "and were acknowledged before returning"
    );
}
