//! The `brainstorm` row of `model_configs`: seeded from `GRAPH_RUNNER__BRAINSTORM__*` when missing, never
//! overwritten (the dashboard owns it after that). Without a seed the operator's row is used; when there is
//! none, startup logs a warning and each message explains that the model is not configured (and is retried).

use std::time::Duration;

use orch_llm::{ConfigError, Route};
use orch_store::Store;
use orch_store::model_configs::{self, ModelConfig};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::BrainstormSeed;
use crate::db;
use crate::nodes::ROLE;
use crate::prompt::ROLE_PROMPT;

/// Checks the seed without a database: a known provider, a model, an endpoint where one is required.
pub fn check(seed: &BrainstormSeed) -> Result<(), ConfigError> {
    Route::resolve(ROLE, &seed.provider, &seed.model, seed.endpoint.as_deref()).map(|_| ())
}

/// The row a seed stands for.
pub fn row(seed: &BrainstormSeed) -> ModelConfig {
    ModelConfig {
        role: ROLE.to_owned(),
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
pub async fn insert_until_done(store: &Store, seed: &BrainstormSeed, shutdown: &CancellationToken) {
    let row = row(seed);
    while !shutdown.is_cancelled() {
        match insert(store, &row).await {
            Ok(true) => {
                return info!(provider = %row.provider, model = %row.model, "seeded the brainstorm model config");
            }
            Ok(false) => {
                return info!(
                    "a brainstorm model config exists; the GRAPH_RUNNER__BRAINSTORM__ seed is not used"
                );
            }
            Err(e) => warn!(error = %e, "cannot seed the brainstorm model config yet; retrying"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
            () = shutdown.cancelled() => {}
        }
    }
}

async fn insert(store: &Store, row: &ModelConfig) -> Result<bool, orch_store::StoreError> {
    let mut conn =
        store
            .pool()
            .acquire()
            .await
            .map_err(|source| orch_store::StoreError::Database {
                action: "acquiring a connection to seed a model config",
                source,
            })?;
    db::seed_model_config(&mut conn, row).await
}

/// Logs a warning when no `brainstorm` row exists (nothing is seeded).
pub async fn warn_if_missing(store: &Store) {
    let Ok(mut conn) = store.pool().acquire().await else {
        return;
    };
    if let Ok(None) = model_configs::get(&mut conn, ROLE).await {
        warn!(
            "model_configs has no `brainstorm` row and GRAPH_RUNNER__BRAINSTORM__PROVIDER/MODEL are unset: \
             conversations will wait until an operator configures the model"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(provider: &str, endpoint: Option<&str>) -> BrainstormSeed {
        serde_json::from_value(serde_json::json!({
            "provider": provider, "model": "sim-model", "endpoint": endpoint
        }))
        .expect("seed")
    }

    #[test]
    fn a_seed_is_checked_before_anything_is_written() {
        assert!(check(&seed("openai_compatible", Some("http://127.0.0.1:1/v1/"))).is_ok());
        assert!(
            check(&seed("openai_compatible", None)).is_err(),
            "needs an endpoint"
        );
        assert!(check(&seed("opneai", None)).is_err(), "unknown provider");
        let row = row(&seed("openai", Some(" ")));
        assert_eq!(row.endpoint, None);
        assert_eq!(row.role, "brainstorm");
        assert!(row.system_prompt.contains("product manager"));
    }
}
