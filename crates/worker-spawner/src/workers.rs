//! The `workers` table: one row per idempotency key, the spawner's record of every worker it ran.
//!
//! The row is created (`queued`) before any container exists, moves to `running` when the worker is admitted
//! under its project's limit, and ends in a terminal status together with the result. A redelivered spawn whose
//! row is terminal republishes that result instead of running again.

use orch_contracts::messages::worker::{WorkerSpawn, WorkerStatus};
use orch_contracts::{ProjectId, WorkerId};
use sqlx::PgPool;

use crate::sandbox::agent_kind_name;

/// Why a `workers` operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkersError {
    /// The spawn names a project that does not exist.
    #[error("project {0} does not exist")]
    UnknownProject(ProjectId),
    /// The database refused or is unreachable.
    #[error("database error while {action}: {source}")]
    Database {
        /// What was being done.
        action: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> WorkersError {
    move |source| WorkersError::Database { action, source }
}

/// Where a worker row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// Recorded, not yet admitted.
    Queued,
    /// Admitted; a container runs (or is being created).
    Running,
    /// Finished with this status.
    Done(WorkerStatus),
}

impl RowState {
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "queued" => Some(Self::Queued),
            "running" => Some(Self::Running),
            other => serde_json::from_value(serde_json::Value::String(other.to_owned()))
                .ok()
                .map(Self::Done),
        }
    }
}

/// A stored worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRow {
    /// The worker id.
    pub id: WorkerId,
    /// The project.
    pub project_id: ProjectId,
    /// Its state.
    pub state: RowState,
    /// The branch.
    pub branch: String,
    /// The verified or claimed commit.
    pub commit_sha: Option<String>,
    /// The exit code.
    pub exit_code: Option<i64>,
    /// The summary.
    pub summary: Option<String>,
}

/// The outcome stored with a terminal row.
#[derive(Debug, Clone)]
pub struct Finish<'a> {
    /// The status.
    pub status: WorkerStatus,
    /// The commit.
    pub commit_sha: Option<&'a str>,
    /// The exit code.
    pub exit_code: Option<i64>,
    /// The summary.
    pub summary: &'a str,
}

/// Records a spawn as `queued` unless its key is known; returns the row stored under the key, or `None` when
/// the worker id is taken by another key.
pub async fn record(pool: &PgPool, spawn: &WorkerSpawn) -> Result<Option<WorkerRow>, WorkersError> {
    let inserted = sqlx::query!(
        "INSERT INTO workers (id, project_id, idempotency_key, agent_kind, status, branch)
         VALUES ($1, $2, $3, $4, 'queued', $5) ON CONFLICT DO NOTHING",
        spawn.worker_id.0,
        spawn.project_id.0,
        spawn.idempotency_key,
        agent_kind_name(spawn.agent),
        spawn.branch
    )
    .execute(pool)
    .await;
    match inserted {
        Ok(_) => {}
        Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
            return Err(WorkersError::UnknownProject(spawn.project_id));
        }
        Err(e) => return Err(db("recording a worker")(e)),
    }
    by_key(pool, &spawn.idempotency_key).await
}

/// Returns the row of an idempotency key.
pub async fn by_key(
    db_conn: impl sqlx::PgExecutor<'_>,
    key: &str,
) -> Result<Option<WorkerRow>, WorkersError> {
    let row = sqlx::query!(
        r#"SELECT id, project_id, status::text AS "status!", branch, commit_sha, exit_code, summary
           FROM workers WHERE idempotency_key = $1"#,
        key
    )
    .fetch_optional(db_conn)
    .await
    .map_err(db("reading a worker"))?;
    Ok(row.and_then(|r| {
        Some(WorkerRow {
            id: WorkerId(r.id),
            project_id: ProjectId(r.project_id),
            state: RowState::parse(&r.status)?,
            branch: r.branch,
            commit_sha: r.commit_sha,
            exit_code: r.exit_code,
            summary: r.summary,
        })
    }))
}

/// Moves a queued worker to `running` when its project has a free slot (the project row is locked, so
/// concurrent spawners admit one at a time); returns whether it was admitted.
pub async fn admit(
    pool: &PgPool,
    worker: WorkerId,
    project: ProjectId,
    cap: u32,
) -> Result<bool, WorkersError> {
    let mut tx = pool.begin().await.map_err(db("starting admission"))?;
    let limit = sqlx::query_scalar!(
        "SELECT max_parallel_workers FROM projects WHERE id = $1 FOR UPDATE",
        project.0
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(db("locking the project"))?
    .ok_or(WorkersError::UnknownProject(project))?;
    let running = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM workers WHERE project_id = $1 AND status = 'running'"#,
        project.0
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(db("counting running workers"))?;
    let limit = i64::from(limit.max(1)).min(i64::from(cap.max(1)));
    if running >= limit {
        return Ok(false);
    }
    sqlx::query!(
        "UPDATE workers SET status = 'running', started_at = now() WHERE id = $1 AND status = 'queued'",
        worker.0
    )
    .execute(&mut *tx)
    .await
    .map_err(db("admitting a worker"))?;
    tx.commit().await.map_err(db("committing admission"))?;
    Ok(true)
}

/// Records the container of a running worker.
pub async fn set_container(
    db_conn: impl sqlx::PgExecutor<'_>,
    worker: WorkerId,
    container_id: &str,
) -> Result<(), WorkersError> {
    sqlx::query!(
        "UPDATE workers SET container_id = $2 WHERE id = $1",
        worker.0,
        container_id
    )
    .execute(db_conn)
    .await
    .map_err(db("recording the container"))?;
    Ok(())
}

/// Stores a terminal status; a row that is terminal already keeps its first outcome. Returns whether this call
/// stored it.
pub async fn finish(
    pool: &PgPool,
    worker: WorkerId,
    outcome: &Finish<'_>,
) -> Result<bool, WorkersError> {
    let status = status_name(outcome.status);
    let updated = sqlx::query!(
        "UPDATE workers SET status = $2::text::worker_status, commit_sha = $3, exit_code = $4, summary = $5,
                finished_at = now()
         WHERE id = $1 AND status IN ('queued', 'running')",
        worker.0,
        status,
        outcome.commit_sha,
        outcome.exit_code,
        outcome.summary
    )
    .execute(pool)
    .await
    .map_err(db("finishing a worker"))?;
    Ok(updated.rows_affected() == 1)
}

/// Takes the session-level advisory lock of an idempotency key on `conn` (waits while another spawner holds
/// it). Launching a worker happens under this lock, so two spawners handling duplicate entries of one spawn
/// never both create or start its container.
pub async fn lock_key(conn: &mut sqlx::PgConnection, key: &str) -> Result<(), WorkersError> {
    sqlx::query_scalar!(
        r#"SELECT true AS "locked!" FROM (SELECT pg_advisory_lock(hashtextextended($1, 7))) AS l"#,
        key
    )
    .fetch_one(conn)
    .await
    .map_err(db("locking an idempotency key"))?;
    Ok(())
}

/// Releases the lock taken by [`lock_key`].
pub async fn unlock_key(conn: &mut sqlx::PgConnection, key: &str) -> Result<(), WorkersError> {
    sqlx::query_scalar!(
        r#"SELECT pg_advisory_unlock(hashtextextended($1, 7)) AS "unlocked!""#,
        key
    )
    .fetch_one(conn)
    .await
    .map_err(db("unlocking an idempotency key"))?;
    Ok(())
}

/// Returns the database name of a status (`resource_exhausted`).
pub fn status_name(status: WorkerStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_database_names() {
        for status in [
            WorkerStatus::Succeeded,
            WorkerStatus::Failed,
            WorkerStatus::Timeout,
            WorkerStatus::Oom,
            WorkerStatus::ResourceExhausted,
            WorkerStatus::Rejected,
            WorkerStatus::InfraError,
        ] {
            assert_eq!(
                RowState::parse(&status_name(status)),
                Some(RowState::Done(status))
            );
        }
        assert_eq!(RowState::parse("queued"), Some(RowState::Queued));
        assert_eq!(RowState::parse("bogus"), None);
    }
}
