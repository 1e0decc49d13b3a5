//! Message references move to the newest message.

use orch_store::chat_refs;
use sqlx::PgPool;

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn a_reference_is_set_read_and_moved(pool: PgPool) {
    let mut conn = pool.acquire().await.expect("conn");
    assert_eq!(
        chat_refs::get(&mut conn, 42, "progress:run-1")
            .await
            .expect("get"),
        None
    );
    chat_refs::set(&mut conn, 42, "progress:run-1", 100)
        .await
        .expect("set");
    chat_refs::set(&mut conn, 42, "progress:run-1", 105)
        .await
        .expect("move");
    assert_eq!(
        chat_refs::get(&mut conn, 42, "progress:run-1")
            .await
            .expect("get"),
        Some(105)
    );
    assert_eq!(
        chat_refs::get(&mut conn, 43, "progress:run-1")
            .await
            .expect("get"),
        None,
        "per chat"
    );
}
