//! The `reviewer` row of `model_configs`: seeded from `REVIEWER__MODEL__*` when missing, never overwritten
//! (the dashboard owns it after that). Without a seed the operator's row is used; when there is none, each
//! review fails (and is retried) with "no model configured for role reviewer" until one exists.

use std::time::Duration;

use orch_llm::{ConfigError, Route};
use orch_store::model_configs::{self, ModelConfig};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::ModelSeed;
use crate::judge::ROLE_PROMPT;

/// Checks the seed without a database: a known provider, a model, an endpoint where one is required.
pub fn check(role: &str, seed: &ModelSeed) -> Result<(), ConfigError> {
    Route::resolve(role, &seed.provider, &seed.model, seed.endpoint.as_deref()).map(|_| ())
}

/// The row a seed stands for.
pub fn row(role: &str, seed: &ModelSeed) -> ModelConfig {
    ModelConfig {
        role: role.to_owned(),
        provider: seed.provider.clone(),
        model: seed.model.clone(),
        endpoint: seed.endpoint.clone().filter(|e| !e.trim().is_empty()),
        api_key_ref: seed.api_key_ref.clone().filter(|k| !k.trim().is_empty()),
        temperature: seed.temperature,
        max_tokens: seed.max_tokens,
        system_prompt: ROLE_PROMPT.to_owned(),
        input_price_per_mtok_micros: seed.input_price_per_mtok_micros,
        output_price_per_mtok_micros: seed.output_price_per_mtok_micros,
    }
}

/// Inserts the row if missing, retrying while the database is unreachable (until `shutdown`).
pub async fn insert_until_done(pool: &PgPool, row: &ModelConfig, shutdown: &CancellationToken) {
    while !shutdown.is_cancelled() {
        match insert(pool, row).await {
            Ok(true) => {
                return info!(role = %row.role, model = %row.model, "seeded the reviewer model config");
            }
            Ok(false) => {
                return info!(role = %row.role, "a model config exists; the REVIEWER__MODEL__ seed is not used");
            }
            Err(e) => warn!(error = %e, "cannot seed the reviewer model config yet; retrying"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
            () = shutdown.cancelled() => {}
        }
    }
}

async fn insert(pool: &PgPool, c: &ModelConfig) -> Result<bool, orch_store::StoreError> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(|source| orch_store::StoreError::Database {
            action: "acquiring a connection to seed a model config",
            source,
        })?;
    model_configs::insert_if_missing(&mut conn, c).await
}
