//! The per-project budget check made before every call (and usable on its own by the graph).
//!
//! A call may start when `spent + estimate <= budget`, where `spent` sums every `llm_usage` row of
//! the project (orchestrator calls and worker usage) and `estimate` is the call's worst case
//! ([`crate::LlmClient::estimate_cost`]: the prompt estimate plus `max_tokens` of completion).
//! Otherwise it fails with [`LlmError::BudgetExceeded`] before anything is sent.
//!
//! The check is not a reservation: calls running at the same time each see the spend before the
//! others finish, so a project can overshoot by at most the in-flight calls' cost.

use orch_contracts::ProjectId;
use orch_store::{Store, StoreError, projects, usage};

use crate::error::LlmError;

/// The figures of a passed budget check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetStatus {
    /// The project.
    pub project_id: ProjectId,
    /// The project's owner (who pays).
    pub owner_user_id: i64,
    /// Spent so far, in millionths of a dollar.
    pub spent_usd_micros: i64,
    /// The estimate that was checked.
    pub estimate_usd_micros: i64,
    /// The budget.
    pub budget_usd_micros: i64,
}

impl BudgetStatus {
    /// Returns what would be left after the estimated call.
    pub fn remaining_after_usd_micros(&self) -> i64 {
        self.budget_usd_micros - self.spent_usd_micros - self.estimate_usd_micros
    }
}

/// Checks that `project_id` can afford a call estimated at `estimate_usd_micros`.
#[tracing::instrument(skip_all, fields(project_id = %project_id, estimate_usd_micros))]
pub async fn check_budget(
    store: &Store,
    project_id: ProjectId,
    estimate_usd_micros: i64,
) -> Result<BudgetStatus, LlmError> {
    let mut conn = store
        .pool()
        .acquire()
        .await
        .map_err(|source| StoreError::Database {
            action: "acquiring a connection for the budget check",
            source,
        })?;
    let project = projects::get(&mut conn, project_id)
        .await?
        .ok_or(LlmError::UnknownProject { project_id })?;
    let spent = usage::project_spend(&mut conn, project_id).await?;
    let status = BudgetStatus {
        project_id,
        owner_user_id: project.owner_user_id,
        spent_usd_micros: spent,
        estimate_usd_micros,
        budget_usd_micros: project.budget_usd_micros,
    };
    if spent.saturating_add(estimate_usd_micros) > project.budget_usd_micros {
        tracing::warn!(
            spent,
            budget = project.budget_usd_micros,
            "llm budget exceeded"
        );
        return Err(LlmError::BudgetExceeded {
            project_id,
            spent_usd_micros: spent,
            estimate_usd_micros,
            budget_usd_micros: project.budget_usd_micros,
        });
    }
    Ok(status)
}
