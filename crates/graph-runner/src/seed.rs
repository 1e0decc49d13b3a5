//! The `brainstorm` and `architect` rows of `model_configs`: seeded from `GRAPH_RUNNER__BRAINSTORM__*` and
//! `GRAPH_RUNNER__ARCHITECT__*` when missing, never overwritten (the dashboard owns them after that). Without a
//! seed the operator's row is used; when there is none, startup logs a warning and each message explains that
//! the model is not configured (and is retried).

use std::time::Duration;

use orch_llm::{ConfigError, Route};
use orch_store::Store;
use orch_store::model_configs::{self, ModelConfig};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::ModelSeed;

/// A role the graph calls, and the system prompt its seeded row starts with.
#[derive(Debug, Clone, Copy)]
pub struct SeededRole {
    /// The `model_configs` role.
    pub role: &'static str,
    /// The prompt of a seeded row.
    pub prompt: &'static str,
}

/// The brainstorm model.
pub const BRAINSTORM: SeededRole = SeededRole {
    role: crate::nodes::ROLE,
    prompt: crate::prompt::ROLE_PROMPT,
};

/// The architect model.
pub const ARCHITECT: SeededRole = SeededRole {
    role: orch_factory::ARCHITECT_ROLE,
    prompt: orch_factory::architect::ROLE_PROMPT,
};

/// Checks the seed without a database: a known provider, a model, an endpoint where one is required.
pub fn check(seed: &ModelSeed, role: SeededRole) -> Result<(), ConfigError> {
    Route::resolve(
        role.role,
        &seed.provider,
        &seed.model,
        seed.endpoint.as_deref(),
    )
    .map(|_| ())
}

/// The row a seed stands for.
pub fn row(seed: &ModelSeed, role: SeededRole) -> ModelConfig {
    ModelConfig {
        role: role.role.to_owned(),
        provider: seed.provider.clone(),
        model: seed.model.clone(),
        endpoint: seed.endpoint.clone().filter(|e| !e.trim().is_empty()),
        api_key_ref: seed.api_key_ref.clone().filter(|k| !k.trim().is_empty()),
        temperature: seed.temperature,
        max_tokens: seed.max_tokens,
        system_prompt: role.prompt.to_owned(),
        input_price_per_mtok_micros: seed.input_price_per_mtok_micros,
        output_price_per_mtok_micros: seed.output_price_per_mtok_micros,
    }
}

/// Inserts the row if missing, retrying while the database is unreachable (until `shutdown`).
pub async fn insert_until_done(
    store: &Store,
    seed: &ModelSeed,
    role: SeededRole,
    shutdown: &CancellationToken,
) {
    let row = row(seed, role);
    let role = role.role;
    while !shutdown.is_cancelled() {
        match insert(store, &row).await {
            Ok(true) => {
                return info!(role, provider = %row.provider, model = %row.model, "seeded the model config");
            }
            Ok(false) => {
                return info!(
                    role,
                    "a model config exists for the role; its seed is not used"
                );
            }
            Err(e) => warn!(role, error = %e, "cannot seed the model config yet; retrying"),
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
    model_configs::insert_if_missing(&mut conn, row).await
}

/// Logs a warning when the role has no row (nothing is seeded).
pub async fn warn_if_missing(store: &Store, role: SeededRole) {
    let Ok(mut conn) = store.pool().acquire().await else {
        return;
    };
    if let Ok(None) = model_configs::get(&mut conn, role.role).await {
        warn!(
            role = role.role,
            "model_configs has no row for the role and no seed is configured: the steps that call it will \
             wait until an operator configures the model"
        );
    }
}

/// Seeds the role's row when a seed is given, or warns when the row is missing.
pub async fn ensure(
    store: &Store,
    seed: Option<&ModelSeed>,
    role: SeededRole,
    shutdown: &CancellationToken,
) {
    match seed {
        Some(seed) => insert_until_done(store, seed, role, shutdown).await,
        None => warn_if_missing(store, role).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(provider: &str, endpoint: Option<&str>) -> ModelSeed {
        serde_json::from_value(serde_json::json!({
            "provider": provider, "model": "sim-model", "endpoint": endpoint
        }))
        .expect("seed")
    }

    #[test]
    fn a_seed_is_checked_before_anything_is_written() {
        let sim = seed("openai_compatible", Some("http://127.0.0.1:1/v1/"));
        assert!(check(&sim, BRAINSTORM).is_ok());
        assert!(
            check(&seed("openai_compatible", None), BRAINSTORM).is_err(),
            "needs an endpoint"
        );
        assert!(
            check(&seed("opneai", None), ARCHITECT).is_err(),
            "unknown provider"
        );
        let brainstorm = row(&seed("openai", Some(" ")), BRAINSTORM);
        assert_eq!(brainstorm.endpoint, None);
        assert_eq!(brainstorm.role, "brainstorm");
        assert!(brainstorm.system_prompt.contains("product manager"));
        let architect = row(&sim, ARCHITECT);
        assert_eq!(architect.role, "architect");
        assert!(architect.system_prompt.contains("software architect"));
    }
}
