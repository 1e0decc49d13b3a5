//! Projects: what a person asked for, its approved spec, its repository and budget.

use chrono::{DateTime, Utc};
use orch_contracts::ProjectId;
use serde_json::Value;
use sqlx::PgConnection;

use crate::StoreError;

/// Where a project is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "project_status", rename_all = "snake_case")]
pub enum ProjectStatus {
    /// The idea is being talked through.
    Brainstorming,
    /// The person approved a spec.
    SpecApproved,
    /// Workers are writing code.
    Building,
    /// Pull requests are under review.
    Reviewing,
    /// Being deployed.
    Deploying,
    /// Deployed and healthy.
    Live,
    /// Waiting (budget, a question to the person).
    Paused,
    /// Gave up.
    Failed,
    /// Cancelled by the person.
    Cancelled,
}

/// A stored project.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// Id.
    pub id: ProjectId,
    /// Owner.
    pub owner_user_id: i64,
    /// Short name (also the repository name).
    pub name: String,
    /// Life-cycle state.
    pub status: ProjectStatus,
    /// The approved spec, once approved.
    pub spec: Option<Value>,
    /// Version of the approved spec (0 before approval).
    pub spec_version: i32,
    /// Budget in millionths of a dollar.
    pub budget_usd_micros: i64,
    /// Workers that may run at once.
    pub max_parallel_workers: i32,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// What is needed to create a project.
#[derive(Debug, Clone)]
pub struct NewProject<'a> {
    /// Id (chosen by the caller so creation is idempotent).
    pub id: ProjectId,
    /// Owner.
    pub owner_user_id: i64,
    /// Short name.
    pub name: &'a str,
    /// Budget in millionths of a dollar.
    pub budget_usd_micros: i64,
}

/// Creates a project; creating the same id again returns the existing row unchanged.
pub async fn create(conn: &mut PgConnection, new: &NewProject<'_>) -> Result<Project, StoreError> {
    sqlx::query!(
        "INSERT INTO projects (id, owner_user_id, name, budget_usd_micros) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO NOTHING",
        new.id.0,
        new.owner_user_id,
        new.name,
        new.budget_usd_micros
    )
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("creating a project"))?;
    get(conn, new.id).await?.ok_or(StoreError::Database {
        action: "reading a project just created",
        source: sqlx::Error::RowNotFound,
    })
}

/// Reads a project.
pub async fn get(conn: &mut PgConnection, id: ProjectId) -> Result<Option<Project>, StoreError> {
    let row = sqlx::query!(
        r#"SELECT id, owner_user_id, name, status AS "status: ProjectStatus", spec, spec_version,
                  budget_usd_micros, max_parallel_workers, created_at
           FROM projects WHERE id = $1"#,
        id.0
    )
    .fetch_optional(conn)
    .await
    .map_err(StoreError::db("reading a project"))?;
    Ok(row.map(|r| Project {
        id: ProjectId(r.id),
        owner_user_id: r.owner_user_id,
        name: r.name,
        status: r.status,
        spec: r.spec,
        spec_version: r.spec_version,
        budget_usd_micros: r.budget_usd_micros,
        max_parallel_workers: r.max_parallel_workers,
        created_at: r.created_at,
    }))
}

/// Stores a new spec version and makes it the approved spec of the project.
pub async fn approve_spec(
    conn: &mut PgConnection,
    id: ProjectId,
    schema_version: i32,
    spec: &Value,
) -> Result<i32, StoreError> {
    let version = sqlx::query_scalar!(
        "UPDATE projects SET spec = $2, spec_version = spec_version + 1, status = 'spec_approved', updated_at = now()
         WHERE id = $1 RETURNING spec_version",
        id.0,
        spec
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::db("approving a spec"))?;
    sqlx::query!(
        "INSERT INTO project_specs (project_id, version, schema_version, spec, approved_at) VALUES ($1, $2, $3, $4, now())",
        id.0,
        version,
        schema_version,
        spec
    )
    .execute(conn)
    .await
    .map_err(StoreError::db("recording a spec version"))?;
    Ok(version)
}

/// Moves a project to another life-cycle state.
pub async fn set_status(
    conn: &mut PgConnection,
    id: ProjectId,
    status: ProjectStatus,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE projects SET status = $2, updated_at = now() WHERE id = $1",
        id.0,
        status as ProjectStatus
    )
    .execute(conn)
    .await
    .map_err(StoreError::db("changing a project's status"))?;
    Ok(())
}
