//! Budget thresholds are reported once each per budget; raising the budget re-arms them.

use orch_contracts::ProjectId;
use orch_store::budget_alerts::record_crossed;
use orch_store::projects::{self, NewProject};
use orch_store::usage::{self, UsageRecord, UsageSource};
use orch_store::users;
use sqlx::{PgConnection, PgPool};

async fn spend(conn: &mut PgConnection, project: ProjectId, key: &str, cost: i64) {
    let record = UsageRecord {
        source: UsageSource::Llm,
        user_id: None,
        project_id: Some(project),
        run_id: None,
        worker_id: None,
        role: "brainstorm",
        provider: "openai",
        model: "gpt-5.2",
        prompt_tokens: 1,
        completion_tokens: 1,
        cost_usd_micros: cost,
        idempotency_key: key,
    };
    usage::record(conn, &record).await.expect("usage");
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn each_threshold_is_reported_once_per_budget(pool: PgPool) {
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

    spend(&mut conn, id, "a", 700_000).await;
    assert_eq!(record_crossed(&mut conn, id).await.expect("check"), None);
    spend(&mut conn, id, "b", 150_000).await;
    let warned = record_crossed(&mut conn, id)
        .await
        .expect("check")
        .expect("80% crossed");
    assert_eq!(
        (warned.threshold_pct, warned.spent_usd_micros),
        (80, 850_000)
    );
    assert_eq!(
        record_crossed(&mut conn, id).await.expect("check"),
        None,
        "warned once"
    );
    spend(&mut conn, id, "c", 200_000).await;
    let spent = record_crossed(&mut conn, id)
        .await
        .expect("check")
        .expect("100% crossed");
    assert_eq!(spent.threshold_pct, 100);
    assert_eq!(record_crossed(&mut conn, id).await.expect("check"), None);

    sqlx::query("UPDATE projects SET budget_usd_micros = 1200000 WHERE id = $1")
        .bind(id.0)
        .execute(&mut *conn)
        .await
        .expect("raise the budget");
    let rearmed = record_crossed(&mut conn, id)
        .await
        .expect("check")
        .expect("re-armed");
    assert_eq!(
        (rearmed.threshold_pct, rearmed.budget_usd_micros),
        (80, 1_200_000)
    );
    assert_eq!(
        record_crossed(&mut conn, ProjectId::new())
            .await
            .expect("check"),
        None,
        "an unknown project has nothing to report"
    );
}
