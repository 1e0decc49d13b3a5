//! Bad entries and failing handlers end on the dead-letter stream with the reason; others flow on.

use std::sync::atomic::Ordering;
use std::time::Duration;

use orch_bus::{Delivery, HandlerError};
use orch_contracts::messages::worker::WorkerProgress;

use crate::support::*;

async fn wait_dlq(bus: &orch_bus::Bus, n: usize) -> Vec<orch_bus::DeadLetter> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let letters = bus.dead_letters(&stream(), 100).await.expect("dlq");
        if letters.len() >= n {
            return letters;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "dlq has {} of {n}",
            letters.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn unreadable_entries_go_to_the_dlq_with_the_reason() {
    let bus = bus();
    bus.publish_fields(
        &stream(),
        &[("type", "worker.progress".into()), ("v", "1".into())],
    )
    .await
    .expect("xadd");
    let mut wrong_type = message(1).to_fields().expect("fields");
    wrong_type[0].1 = "chat.in".into();
    bus.publish_fields(&stream(), &wrong_type)
        .await
        .expect("xadd");
    bus.publish(&stream(), &message(2)).await.expect("publish");

    let counter = Counter::default();
    let (stop, handle) = spawn_consumer(&bus, "c", counting(&counter));
    let letters = wait_dlq(&bus, 2).await;
    counter.wait_for(1, Duration::from_secs(5)).await;
    stop.cancel();
    handle.await.expect("joins");

    assert!(
        letters[0].reason.contains("no `event_id` field"),
        "{}",
        letters[0].reason
    );
    assert!(
        letters[1]
            .reason
            .contains("unexpected message type `chat.in`"),
        "{}",
        letters[1].reason
    );
    assert_eq!(
        letters[1].fields["type"], "chat.in",
        "the original fields are kept for replay"
    );
    assert!(letters[1].event_id.is_some());
    assert_eq!(pending(&bus).await, 0);
}

#[tokio::test]
async fn a_panicking_handler_is_retried_then_dead_lettered_after_max_deliveries() {
    let bus = bus();
    let poison = message(13);
    let poison_id = poison.event_id;
    bus.publish(&stream(), &poison).await.expect("publish");
    bus.publish(&stream(), &message(1)).await.expect("publish");
    let attempts = Counter::default();
    let ok = Counter::default();
    let (a, o) = (attempts.clone(), ok.clone());
    let handler = move |d: Delivery<WorkerProgress>| {
        let (a, o) = (a.clone(), o.clone());
        async move {
            if d.envelope.event_id == poison_id {
                a.0.fetch_add(1, Ordering::SeqCst);
                panic!("poison message");
            }
            o.0.fetch_add(1, Ordering::SeqCst);
            Ok::<(), HandlerError>(())
        }
    };
    let (stop, handle) = spawn_consumer(&bus, "c", handler);
    let letters = wait_dlq(&bus, 1).await;
    stop.cancel();
    handle.await.expect("joins");
    assert_eq!(attempts.get(), 5, "delivered exactly max_deliveries times");
    assert_eq!(ok.get(), 1);
    assert_eq!(letters[0].deliveries, 5);
    assert_eq!(
        letters[0].event_id.as_deref(),
        Some(poison_id.to_string().as_str())
    );
    assert!(
        letters[0]
            .reason
            .contains("handler panicked: poison message"),
        "{}",
        letters[0].reason
    );
    assert_eq!(pending(&bus).await, 0);
}

#[tokio::test]
async fn a_rejected_message_goes_to_the_dlq_at_once_and_can_be_replayed() {
    let bus = bus();
    bus.publish(&stream(), &message(1)).await.expect("publish");
    let seen = Counter::default();
    let s = seen.clone();
    let handler = move |_d: Delivery<WorkerProgress>| {
        let s = s.clone();
        async move {
            // Reject the first time only, to show that a replayed entry is handled normally.
            if s.0.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(HandlerError::reject("project 7 does not exist"))
            } else {
                Ok(())
            }
        }
    };
    let (stop, handle) = spawn_consumer(&bus, "c", handler);
    let letters = wait_dlq(&bus, 1).await;
    assert_eq!(letters[0].deliveries, 1);
    assert!(letters[0].reason.contains("project 7 does not exist"));
    bus.replay_dead_letter(&stream(), &letters[0])
        .await
        .expect("replay");
    seen.wait_for(2, Duration::from_secs(5)).await;
    stop.cancel();
    handle.await.expect("joins");
    assert!(
        bus.dead_letters(&stream(), 10)
            .await
            .expect("dlq")
            .is_empty(),
        "the record left the dlq"
    );
}
