//! The outbox hands each message to one relay and forgets it once published.

use orch_store::outbox;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn claimed_messages_are_skipped_by_a_second_relay(pool: PgPool) {
    let mut conn = pool.acquire().await.expect("conn");
    for n in 0..3 {
        outbox::enqueue(&mut conn, "chat:out", &json!({ "n": n.to_string() }))
            .await
            .expect("enqueue");
    }
    let mut relay_a = pool.begin().await.expect("tx");
    let taken = outbox::claim_unpublished(&mut relay_a, 2)
        .await
        .expect("claim");
    assert_eq!(taken.len(), 2);
    let mut relay_b = pool.begin().await.expect("tx");
    let rest = outbox::claim_unpublished(&mut relay_b, 10)
        .await
        .expect("claim");
    assert_eq!(
        rest.len(),
        1,
        "locked rows are skipped, not handed out twice"
    );
    outbox::mark_published(
        &mut relay_a,
        &taken.iter().map(|m| m.id).collect::<Vec<_>>(),
    )
    .await
    .expect("mark");
    relay_a.commit().await.expect("commit");
    relay_b.rollback().await.expect("rollback");
    let left = outbox::claim_unpublished(&mut conn, 10)
        .await
        .expect("claim");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].fields["n"], "2");
}
