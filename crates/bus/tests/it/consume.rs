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

#[tokio::test]
async fn an_ordering_key_keeps_each_keys_messages_in_stream_order() {
    use std::sync::{Arc, Mutex};
    let bus = bus();
    // Two keys (worker ids), 20 messages each, interleaved; the handler is slower for even sequence numbers,
    // so without ordering they would finish out of order.
    let keys = [
        orch_contracts::WorkerId::new(),
        orch_contracts::WorkerId::new(),
    ];
    let sent: Vec<_> = (0..40u64)
        .map(|seq| {
            orch_contracts::Envelope::new(WorkerProgress {
                worker_id: keys[(seq % 2) as usize],
                seq,
                lines: vec!["l".into()],
            })
        })
        .collect();
    bus.publish_batch(&stream(), &sent).await.expect("publish");
    let seen: Arc<Mutex<Vec<(orch_contracts::WorkerId, u64)>>> = Arc::default();
    let s = Arc::clone(&seen);
    let handler = move |d: Delivery<WorkerProgress>| {
        let s = Arc::clone(&s);
        async move {
            let delay = if d.envelope.body.seq % 4 < 2 { 30 } else { 1 };
            tokio::time::sleep(Duration::from_millis(delay)).await;
            s.lock()
                .expect("lock")
                .push((d.envelope.body.worker_id, d.envelope.body.seq));
            Ok::<(), HandlerError>(())
        }
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let consumer = orch_bus::Consumer::new(&bus, &stream(), "testers", "ordered", handler)
        .with_ordering_key(|m: &WorkerProgress| m.worker_id.0.as_u128() as u64);
    let handle = tokio::spawn(consumer.run(stop.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen.lock().expect("lock").len() < 40 {
        assert!(tokio::time::Instant::now() < deadline, "not all handled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    handle.await.expect("joins").expect("runs");
    let seen = seen.lock().expect("lock").clone();
    for key in keys {
        let order: Vec<u64> = seen
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, seq)| *seq)
            .collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(
            order, sorted,
            "messages of one key are handled in stream order"
        );
    }
}
