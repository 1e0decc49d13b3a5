//! Model configs are upserted per role.

use orch_store::model_configs::{self, ModelConfig};
use sqlx::PgPool;

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn a_role_config_is_replaced_not_duplicated(pool: PgPool) {
    let mut conn = pool.acquire().await.expect("conn");
    let mut config = ModelConfig {
        role: "reviewer".into(),
        provider: "anthropic".into(),
        model: "claude-opus-4.5".into(),
        endpoint: None,
        api_key_ref: Some("ANTHROPIC_API_KEY".into()),
        temperature: 0.1,
        max_tokens: 8000,
        system_prompt: "You review pull requests.".into(),
        input_price_per_mtok_micros: 5_000_000,
        output_price_per_mtok_micros: 25_000_000,
    };
    model_configs::upsert(&mut conn, &config)
        .await
        .expect("insert");
    config.model = "claude-sonnet-4.5".into();
    config.endpoint = Some("http://127.0.0.1:9/v1/".into());
    model_configs::upsert(&mut conn, &config)
        .await
        .expect("update");
    assert_eq!(
        model_configs::get(&mut conn, "reviewer")
            .await
            .expect("get"),
        Some(config)
    );
    assert_eq!(
        model_configs::get(&mut conn, "nobody").await.expect("get"),
        None
    );
}
