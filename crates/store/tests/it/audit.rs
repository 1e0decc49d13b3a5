//! The audit log appends and reads back in order.

use orch_store::audit::{self, AuditEntry};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn entries_read_back_newest_first(pool: PgPool) {
    let mut conn = pool.acquire().await.expect("conn");
    for handle in ["hdl_a", "hdl_b"] {
        let entry = AuditEntry {
            actor: "worker-spawner",
            action: "secret.resolve",
            subject: handle,
            detail: json!({ "worker": "w1" }),
            run_id: None,
        };
        audit::append(&mut conn, &entry).await.expect("append");
    }
    let records = audit::recent(&mut conn, "secret.resolve", 10)
        .await
        .expect("read");
    assert_eq!(
        records
            .iter()
            .map(|r| r.subject.as_str())
            .collect::<Vec<_>>(),
        ["hdl_b", "hdl_a"]
    );
    assert_eq!(records[0].detail["worker"], "w1");
    assert!(
        audit::recent(&mut conn, "other", 10)
            .await
            .expect("read")
            .is_empty()
    );
}
