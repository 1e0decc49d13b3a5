//! The LLM configuration per role, read at run time (the dashboard edits it).

use sqlx::PgConnection;

use crate::StoreError;

/// How one role talks to its model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// The role (`brainstorm`, `architect`, `reviewer`, …).
    pub role: String,
    /// The provider (`openai`, `anthropic`, `gemini`, `openrouter`, `openai_compatible`, …).
    pub provider: String,
    /// The model id.
    pub model: String,
    /// An endpoint overriding the provider's default.
    pub endpoint: Option<String>,
    /// A reference to the API key (env var name or secrets path), never the key.
    pub api_key_ref: Option<String>,
    /// Sampling temperature.
    pub temperature: f32,
    /// Completion token limit.
    pub max_tokens: i32,
    /// The role's system prompt.
    pub system_prompt: String,
    /// Price of a million prompt tokens, in millionths of a dollar.
    pub input_price_per_mtok_micros: i64,
    /// Price of a million completion tokens, in millionths of a dollar.
    pub output_price_per_mtok_micros: i64,
}

/// Reads the configuration of `role`.
pub async fn get(conn: &mut PgConnection, role: &str) -> Result<Option<ModelConfig>, StoreError> {
    sqlx::query_as!(
        ModelConfig,
        "SELECT role, provider, model, endpoint, api_key_ref, temperature, max_tokens, system_prompt,
                input_price_per_mtok_micros, output_price_per_mtok_micros
         FROM model_configs WHERE role = $1",
        role
    )
    .fetch_optional(conn)
    .await
    .map_err(StoreError::db("reading a model config"))
}

/// Creates or replaces the configuration of a role.
pub async fn upsert(conn: &mut PgConnection, c: &ModelConfig) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO model_configs (role, provider, model, endpoint, api_key_ref, temperature, max_tokens,
                                    system_prompt, input_price_per_mtok_micros, output_price_per_mtok_micros)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (role) DO UPDATE SET provider = EXCLUDED.provider, model = EXCLUDED.model,
             endpoint = EXCLUDED.endpoint, api_key_ref = EXCLUDED.api_key_ref, temperature = EXCLUDED.temperature,
             max_tokens = EXCLUDED.max_tokens, system_prompt = EXCLUDED.system_prompt,
             input_price_per_mtok_micros = EXCLUDED.input_price_per_mtok_micros,
             output_price_per_mtok_micros = EXCLUDED.output_price_per_mtok_micros, updated_at = now()",
        c.role,
        c.provider,
        c.model,
        c.endpoint,
        c.api_key_ref,
        c.temperature,
        c.max_tokens,
        c.system_prompt,
        c.input_price_per_mtok_micros,
        c.output_price_per_mtok_micros
    )
    .execute(conn)
    .await
    .map_err(StoreError::db("saving a model config"))?;
    Ok(())
}

/// Inserts a model configuration unless its role has one; returns true when it inserted.
pub async fn insert_if_missing(
    conn: &mut PgConnection,
    c: &ModelConfig,
) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "INSERT INTO model_configs (role, provider, model, endpoint, api_key_ref, temperature, max_tokens,
                                    system_prompt, input_price_per_mtok_micros, output_price_per_mtok_micros)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (role) DO NOTHING",
        c.role,
        c.provider,
        c.model,
        c.endpoint,
        c.api_key_ref,
        c.temperature,
        c.max_tokens,
        c.system_prompt,
        c.input_price_per_mtok_micros,
        c.output_price_per_mtok_micros
    )
    .execute(conn)
    .await
    .map_err(StoreError::db("seeding a model config"))?;
    Ok(done.rows_affected() == 1)
}
