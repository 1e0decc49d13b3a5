//! An entry whose consumer vanished is reclaimed by another; an entry still being handled is not.

use std::sync::atomic::Ordering;
use std::time::Duration;

use orch_bus::{Delivery, Group, HandlerError};
use orch_contracts::messages::worker::WorkerProgress;

use crate::support::*;

#[tokio::test]
async fn an_abandoned_entry_is_redelivered_to_another_consumer() {
    let bus = bus();
    let crashed = Group::new(&bus, &stream(), "testers", "crashed");
    crashed.ensure().await.expect("group");
    bus.publish(&stream(), &message(1)).await.expect("publish");
    let taken = crashed
        .read_new(10, Duration::from_millis(100))
        .await
        .expect("read");
    assert_eq!(
        taken.len(),
        1,
        "the crashed consumer took it and never acked"
    );

    let deliveries = Counter::default();
    let d = deliveries.clone();
    let handler = move |delivery: Delivery<WorkerProgress>| {
        let d = d.clone();
        async move {
            d.0.store(delivery.deliveries as usize, Ordering::SeqCst);
            Ok::<(), HandlerError>(())
        }
    };
    let (stop, handle) = spawn_consumer(&bus, "survivor", handler);
    deliveries.wait_for(2, Duration::from_secs(5)).await;
    stop.cancel();
    handle.await.expect("joins");
    assert_eq!(deliveries.get(), 2, "second delivery");
    assert_eq!(pending(&bus).await, 0);
}

#[tokio::test]
async fn a_slow_handler_keeps_its_entry_from_being_reclaimed() {
    let bus = bus();
    bus.publish(&stream(), &message(1)).await.expect("publish");
    let runs = Counter::default();
    let r = runs.clone();
    // Handling takes 4× the claim timeout; keepalive must stop peers from running it again meanwhile.
    let slow = move |_d: Delivery<WorkerProgress>| {
        let r = r.clone();
        async move {
            r.0.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(2000)).await;
            Ok::<(), HandlerError>(())
        }
    };
    let (stop_a, a) = spawn_consumer(&bus, "a", slow.clone());
    let (stop_b, b) = spawn_consumer(&bus, "b", slow);
    runs.wait_for(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop_a.cancel();
    stop_b.cancel();
    a.await.expect("joins");
    b.await.expect("joins");
    assert_eq!(runs.get(), 1, "handled once, not reclaimed while in flight");
    assert_eq!(pending(&bus).await, 0);
}
