//! Per-id result streams: wait with a timeout, read after a restart, expire.

use std::time::Duration;

use orch_contracts::messages::worker::WorkerProgress;
use orch_contracts::{StreamKey, WorkerId, streams};

use crate::support::*;

#[tokio::test]
async fn a_waiter_receives_a_result_published_later() {
    let bus = bus();
    let key = streams::worker_result(WorkerId::new());
    let sent = message(7);
    let publisher = bus.clone();
    let (k, s) = (key.clone(), sent.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        publisher.publish_result(&k, &s).await.expect("publish");
    });
    let got = bus
        .wait_for_result::<WorkerProgress>(&key, Duration::from_secs(5))
        .await
        .expect("wait");
    assert_eq!(got.expect("a result").event_id, sent.event_id);
}

#[tokio::test]
async fn a_result_published_before_waiting_is_still_read_and_expires() {
    let bus = bus();
    let key = StreamKey::new(format!("worker:result:{}", WorkerId::new()));
    let sent = message(1);
    bus.publish_result(&key, &sent).await.expect("publish");
    for _ in 0..2 {
        // A restarted waiter reads the same result again.
        let got = bus
            .wait_for_result::<WorkerProgress>(&key, Duration::from_secs(1))
            .await
            .expect("wait");
        assert_eq!(got.expect("result").body, sent.body);
    }
    let mut conn = redis::Client::open(redis_url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("conn");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(bus.key(&key))
        .query_async(&mut conn)
        .await
        .expect("pttl");
    assert!(
        ttl > 0 && ttl <= bus.config().result_ttl.as_millis() as i64,
        "ttl {ttl}"
    );
}

#[tokio::test]
async fn waiting_times_out_with_none() {
    let bus = bus();
    let key = streams::worker_result(WorkerId::new());
    let started = std::time::Instant::now();
    let got = bus
        .wait_for_result::<WorkerProgress>(&key, Duration::from_millis(300))
        .await
        .expect("wait");
    assert!(got.is_none());
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn latest_returns_the_newest_entry_or_none() {
    let bus = bus();
    let key = streams::worker_progress(WorkerId::new());
    assert!(
        bus.latest::<WorkerProgress>(&key)
            .await
            .expect("latest")
            .is_none()
    );
    for n in 1..=3 {
        bus.publish(&key, &message(n)).await.expect("publish");
    }
    let newest = bus
        .latest::<WorkerProgress>(&key)
        .await
        .expect("latest")
        .expect("an entry");
    assert_eq!(newest.body.seq, 3);
    assert_eq!(newest.body.lines, ["line 3"]);
}
