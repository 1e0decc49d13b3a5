//! Users and projects: idempotent creation, spec approval, constraints.

use orch_contracts::ProjectId;
use orch_store::projects::{self, NewProject, ProjectStatus};
use orch_store::users;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn a_project_is_created_once_and_its_spec_versions_are_kept(pool: PgPool) {
    let mut conn = pool.acquire().await.expect("conn");
    let user = users::upsert_telegram(&mut conn, 42, "Alice", true)
        .await
        .expect("user");
    let again = users::upsert_telegram(&mut conn, 42, "Alice B", true)
        .await
        .expect("user");
    assert_eq!(user.id, again.id);
    assert_eq!(again.display_name, "Alice B");

    let new = NewProject {
        id: ProjectId::new(),
        owner_user_id: user.id,
        name: "weather-bot",
        budget_usd_micros: 5_000_000,
    };
    let project = projects::create(&mut conn, &new).await.expect("create");
    let retried = projects::create(&mut conn, &new).await.expect("retry");
    assert_eq!(project, retried, "creating the same id twice is idempotent");
    assert_eq!(project.status, ProjectStatus::Brainstorming);

    let v1 = projects::approve_spec(&mut conn, new.id, 1, &json!({"name": "weather-bot"}))
        .await
        .expect("approve");
    let v2 = projects::approve_spec(
        &mut conn,
        new.id,
        1,
        &json!({"name": "weather-bot", "v": 2}),
    )
    .await
    .expect("approve");
    assert_eq!((v1, v2), (1, 2));
    let stored = projects::get(&mut conn, new.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(stored.status, ProjectStatus::SpecApproved);
    assert_eq!(stored.spec.expect("spec")["v"], 2);

    projects::set_status(&mut conn, new.id, ProjectStatus::Building)
        .await
        .expect("status");
    assert_eq!(
        projects::get(&mut conn, new.id)
            .await
            .expect("get")
            .expect("exists")
            .status,
        ProjectStatus::Building
    );
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn project_names_must_be_repository_safe(pool: PgPool) {
    let mut conn = pool.acquire().await.expect("conn");
    let user = users::upsert_telegram(&mut conn, 7, "Bob", true)
        .await
        .expect("user");
    let bad = NewProject {
        id: ProjectId::new(),
        owner_user_id: user.id,
        name: "Weather Bot!",
        budget_usd_micros: 1,
    };
    let err = projects::create(&mut conn, &bad)
        .await
        .expect_err("refused")
        .to_string();
    assert!(err.contains("creating a project"), "{err}");
}
