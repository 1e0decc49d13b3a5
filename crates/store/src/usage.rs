//! Usage and cost of every LLM call and every worker, and spend per project (for budgets).

use orch_contracts::{ProjectId, RunId, WorkerId};
use sqlx::PgConnection;

use crate::StoreError;

/// Where usage came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageSource {
    /// A call the orchestrator made.
    Llm,
    /// Usage a coding worker reported.
    Worker,
}

impl UsageSource {
    fn as_str(self) -> &'static str {
        match self {
            Self::Llm => "llm",
            Self::Worker => "worker",
        }
    }
}

/// One usage record.
#[derive(Debug, Clone)]
pub struct UsageRecord<'a> {
    /// Where it came from.
    pub source: UsageSource,
    /// Who pays.
    pub user_id: Option<i64>,
    /// For which project.
    pub project_id: Option<ProjectId>,
    /// In which run.
    pub run_id: Option<RunId>,
    /// Which worker, for worker usage.
    pub worker_id: Option<WorkerId>,
    /// The role (`brainstorm`, `architect`, `reviewer`, `developer`).
    pub role: &'a str,
    /// Provider.
    pub provider: &'a str,
    /// Model id.
    pub model: &'a str,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Cost in millionths of a dollar.
    pub cost_usd_micros: i64,
    /// Makes recording idempotent (a call id, a worker id).
    pub idempotency_key: &'a str,
}

/// Records usage once per idempotency key; returns false when it was already recorded.
pub async fn record(conn: &mut PgConnection, r: &UsageRecord<'_>) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "INSERT INTO llm_usage (source, user_id, project_id, run_id, worker_id, role, provider, model,
                                prompt_tokens, completion_tokens, cost_usd_micros, idempotency_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (idempotency_key) DO NOTHING",
        r.source.as_str(),
        r.user_id,
        r.project_id.map(|p| p.0),
        r.run_id.map(|x| x.0),
        r.worker_id.map(|w| w.0),
        r.role,
        r.provider,
        r.model,
        r.prompt_tokens,
        r.completion_tokens,
        r.cost_usd_micros,
        r.idempotency_key
    )
    .execute(conn)
    .await
    .map_err(StoreError::db("recording usage"))?;
    Ok(done.rows_affected() == 1)
}

/// Returns what a project has spent so far, in millionths of a dollar.
pub async fn project_spend(
    conn: &mut PgConnection,
    project_id: ProjectId,
) -> Result<i64, StoreError> {
    sqlx::query_scalar!(
        "SELECT COALESCE(SUM(cost_usd_micros), 0)::BIGINT AS \"spent!\" FROM llm_usage WHERE project_id = $1",
        project_id.0
    )
    .fetch_one(conn)
    .await
    .map_err(StoreError::db("summing project spend"))
}
