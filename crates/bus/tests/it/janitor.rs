//! Trimming never removes work a group has not received or acknowledged.

use std::time::Duration;

use orch_bus::{Group, janitor};

use crate::support::*;

#[tokio::test]
async fn trimming_keeps_pending_and_undelivered_entries() {
    let bus = bus();
    let group = Group::new(&bus, &stream(), "testers", "j");
    group.ensure().await.expect("group");
    let sent: Vec<_> = (0..300).map(message).collect();
    bus.publish_batch(&stream(), &sent).await.expect("publish");
    // Deliver 200, acknowledge the first 100; 100 stay pending and 100 are never delivered.
    let read = group
        .read_new(200, Duration::from_millis(100))
        .await
        .expect("read");
    let acked: Vec<String> = read[..100].iter().map(|e| e.id.clone()).collect();
    group.ack(&acked).await.expect("ack");

    // Zero retention: everything acknowledged may go, nothing else.
    janitor::tidy(&group, Duration::ZERO).await.expect("tidy");
    let left = bus.len(&stream()).await.expect("len");
    assert!(
        left >= 200,
        "pending and undelivered entries must survive, {left} left"
    );
    assert!(
        left < 300,
        "acknowledged entries should be trimmed (approximately), {left} left"
    );
    assert_eq!(group.pending().await.expect("pending"), 100);
}

#[tokio::test]
async fn a_stream_without_groups_is_not_trimmed() {
    let bus = bus();
    let sent: Vec<_> = (0..50).map(message).collect();
    bus.publish_batch(&stream(), &sent).await.expect("publish");
    let never_created = Group::new(&bus, &stream(), "nobody", "j");
    let minid = janitor::tidy(&never_created, Duration::ZERO)
        .await
        .expect("tidy");
    assert_eq!(
        minid, None,
        "no group reads the stream, so nothing is safe to trim"
    );
    assert_eq!(bus.len(&stream()).await.expect("len"), 50);
}
