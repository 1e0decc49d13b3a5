//! The inbox turns a redelivered event into a no-op.

use orch_contracts::EventId;
use orch_store::inbox;
use sqlx::PgPool;

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn an_event_is_claimed_once_per_consumer(pool: PgPool) {
    let mut conn = pool.acquire().await.expect("conn");
    let event = EventId::new();
    assert!(
        inbox::claim(&mut conn, "spawner", event)
            .await
            .expect("claim")
    );
    assert!(
        !inbox::claim(&mut conn, "spawner", event)
            .await
            .expect("claim again"),
        "second claim is refused"
    );
    assert!(
        inbox::claim(&mut conn, "reviewer", event)
            .await
            .expect("other consumer"),
        "consumers are independent"
    );
    assert_eq!(inbox::count(&mut conn, "spawner").await.expect("count"), 1);
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn a_rolled_back_claim_leaves_the_event_unapplied(pool: PgPool) {
    let event = EventId::new();
    let mut tx = pool.begin().await.expect("tx");
    assert!(inbox::claim(&mut tx, "c", event).await.expect("claim"));
    tx.rollback().await.expect("rollback");
    let mut conn = pool.acquire().await.expect("conn");
    assert!(
        inbox::claim(&mut conn, "c", event).await.expect("claim"),
        "the effect never committed, so retry applies it"
    );
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn contains_reports_claimed_events(pool: PgPool) {
    let mut conn = pool.acquire().await.expect("conn");
    let event = EventId::new();
    assert!(!inbox::contains(&mut conn, "gw", event).await.expect("read"));
    inbox::claim(&mut conn, "gw", event).await.expect("claim");
    assert!(inbox::contains(&mut conn, "gw", event).await.expect("read"));
    assert!(
        !inbox::contains(&mut conn, "other", event)
            .await
            .expect("read")
    );
}
