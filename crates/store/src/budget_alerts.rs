//! `budget_alerts`: which budget thresholds a project has crossed and been warned about — once per project,
//! threshold and budget (raising the budget re-arms the warnings).

use orch_contracts::ProjectId;
use sqlx::PgConnection;

use crate::StoreError;
use crate::projects;
use crate::usage;

/// The thresholds, in percent of the budget, that warn the person.
pub const THRESHOLDS: [i32; 2] = [80, 100];

/// A threshold crossed for the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crossed {
    /// The threshold, in percent.
    pub threshold_pct: i32,
    /// Spent so far, in millionths of a dollar.
    pub spent_usd_micros: i64,
    /// The budget, in millionths of a dollar.
    pub budget_usd_micros: i64,
}

/// Records the highest threshold the project's spend has reached and returns it when it was not recorded
/// before (for this budget); `None` when nothing new was crossed or the project is unknown.
pub async fn record_crossed(
    conn: &mut PgConnection,
    project_id: ProjectId,
) -> Result<Option<Crossed>, StoreError> {
    let Some(project) = projects::get(&mut *conn, project_id).await? else {
        return Ok(None);
    };
    let spent = usage::project_spend(&mut *conn, project_id).await?;
    let budget = project.budget_usd_micros;
    let Some(threshold_pct) = highest_reached(spent, budget) else {
        return Ok(None);
    };
    let inserted = sqlx::query(
        "INSERT INTO budget_alerts (project_id, threshold_pct, budget_usd_micros) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(project_id.0)
    .bind(threshold_pct)
    .bind(budget)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("recording a budget alert"))?
    .rows_affected();
    Ok((inserted == 1).then_some(Crossed {
        threshold_pct,
        spent_usd_micros: spent,
        budget_usd_micros: budget,
    }))
}

/// The highest threshold `spent` has reached of `budget` (a zero budget is reached at once).
pub fn highest_reached(spent: i64, budget: i64) -> Option<i32> {
    THRESHOLDS
        .iter()
        .rev()
        .copied()
        .find(|pct| i128::from(spent) * 100 >= i128::from(budget) * i128::from(*pct))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_reached_at_80_and_100_percent() {
        assert_eq!(highest_reached(0, 20_000_000), None);
        assert_eq!(highest_reached(15_999_999, 20_000_000), None);
        assert_eq!(highest_reached(16_000_000, 20_000_000), Some(80));
        assert_eq!(highest_reached(19_999_999, 20_000_000), Some(80));
        assert_eq!(highest_reached(20_000_000, 20_000_000), Some(100));
        assert_eq!(highest_reached(i64::MAX, i64::MAX), Some(100));
        assert_eq!(highest_reached(0, 0), Some(100));
    }
}
