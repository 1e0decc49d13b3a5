//! The relay publishes committed outbox rows once each, in order, and never a rolled-back one.

use std::time::Duration;

use orch_bus::{Bus, BusConfig, Group};
use orch_contracts::messages::worker::WorkerProgress;
use orch_contracts::{Envelope, StreamKey, WorkerId};
use orch_service_kit::outbox_relay::OutboxRelay;
use orch_store::{Store, outbox};
use sqlx::PgPool;

fn message(seq: u64) -> Envelope<WorkerProgress> {
    Envelope::new(WorkerProgress {
        worker_id: WorkerId::new(),
        seq,
        lines: vec!["x".into()],
    })
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn committed_messages_are_published_once_and_rolled_back_ones_never(pool: PgPool) {
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("relay-{}", uuid::Uuid::new_v4().simple());
    let bus = Bus::connect(
        &redis,
        BusConfig {
            prefix,
            ..BusConfig::default()
        },
    )
    .expect("bus");
    let stream = StreamKey::new("chat:out-test");
    let sent: Vec<_> = (0..3).map(message).collect();

    let mut tx = pool.begin().await.expect("tx");
    for envelope in &sent {
        outbox::enqueue_message(&mut tx, &stream, envelope)
            .await
            .expect("enqueue");
    }
    tx.commit().await.expect("commit");
    let mut aborted = pool.begin().await.expect("tx");
    outbox::enqueue_message(&mut aborted, &stream, &message(99))
        .await
        .expect("enqueue");
    aborted.rollback().await.expect("rollback");

    let relay = OutboxRelay::new(
        Store::from_pool(pool.clone()),
        bus.clone(),
        100,
        Duration::from_millis(10),
    );
    assert_eq!(relay.relay_once().await.expect("relay"), 3);
    assert_eq!(
        relay.relay_once().await.expect("relay again"),
        0,
        "published rows are not published twice"
    );

    let group = Group::new(&bus, &stream, "g", "c");
    group.ensure().await.expect("group");
    let entries = group
        .read_new(10, Duration::from_millis(100))
        .await
        .expect("read");
    let got: Vec<_> = entries
        .iter()
        .map(|e| {
            Envelope::<WorkerProgress>::from_fields(&e.fields)
                .expect("valid")
                .event_id
        })
        .collect();
    assert_eq!(
        got,
        sent.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        "same events, same order"
    );
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn an_invalid_message_is_refused_at_enqueue(pool: PgPool) {
    let mut conn = pool.acquire().await.expect("conn");
    let invalid = Envelope::new(WorkerProgress {
        worker_id: WorkerId::new(),
        seq: 1,
        lines: vec![],
    });
    let err = outbox::enqueue_message(&mut conn, &StreamKey::new("s"), &invalid)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("lines is empty"), "{err}");
}
