//! Usage is recorded once per key and summed per project.

use orch_contracts::ProjectId;
use orch_store::projects::{self, NewProject};
use orch_store::usage::{self, UsageRecord, UsageSource};
use orch_store::users;
use sqlx::PgPool;

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn spend_sums_each_call_once(pool: PgPool) {
    let mut conn = pool.acquire().await.expect("conn");
    let user = users::upsert_telegram(&mut conn, 1, "A", true)
        .await
        .expect("user");
    let id = ProjectId::new();
    let new = NewProject {
        id,
        owner_user_id: user.id,
        name: "p",
        budget_usd_micros: 1_000_000,
    };
    projects::create(&mut conn, &new).await.expect("project");
    let record = |key: &'static str, cost| UsageRecord {
        source: UsageSource::Llm,
        user_id: Some(user.id),
        project_id: Some(id),
        run_id: None,
        worker_id: None,
        role: "brainstorm",
        provider: "openai",
        model: "gpt-5.2",
        prompt_tokens: 100,
        completion_tokens: 20,
        cost_usd_micros: cost,
        idempotency_key: key,
    };
    assert!(
        usage::record(&mut conn, &record("call-1", 1500))
            .await
            .expect("record")
    );
    assert!(
        !usage::record(&mut conn, &record("call-1", 1500))
            .await
            .expect("retry"),
        "a retried record is a no-op"
    );
    assert!(
        usage::record(&mut conn, &record("call-2", 500))
            .await
            .expect("record")
    );
    assert_eq!(
        usage::project_spend(&mut conn, id).await.expect("spend"),
        2000
    );
    assert_eq!(
        usage::project_spend(&mut conn, ProjectId::new())
            .await
            .expect("spend"),
        0
    );
}
