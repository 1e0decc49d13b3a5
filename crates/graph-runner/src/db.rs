//! The rows this service keeps beside the graph checkpoints: chats, threads (one active per chat), runs,
//! project names, and the seeded `brainstorm` model configuration.
//!
//! Creation is idempotent: a thread's project, run and thread ids are derived from the `chat:in` event that
//! created it ([`ids_for_event`]), so a redelivered `/new` finds what it created instead of creating twice.

use orch_contracts::{EventId, ProjectId, RunId};
use orch_graph::ThreadKey;
use orch_store::StoreError;
use orch_store::projects::{self, NewProject, ProjectStatus};
use sqlx::PgConnection;
use uuid::Uuid;

/// Namespace of the ids derived from events.
const NAMESPACE: Uuid = Uuid::from_u128(0x3b7e_51c2_90d4_4f6a_a1e8_5c0f_7d2b_91aa);

/// The graph every thread of this service runs (`threads.graph`, `runs.kind`).
pub const GRAPH: &str = "brainstorm";

pub(crate) fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { action, source }
}

/// Status of a run (`run_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "run_status", rename_all = "snake_case")]
pub enum RunStatus {
    /// Working.
    Running,
    /// Waiting for the person.
    WaitingForHuman,
    /// Stopped by its budget.
    PausedBudget,
    /// Finished well.
    Succeeded,
    /// Gave up.
    Failed,
    /// Cancelled by the person.
    Cancelled,
}

impl RunStatus {
    fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// The ids of a thread created by one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedIds {
    /// The project.
    pub project_id: ProjectId,
    /// The run.
    pub run_id: RunId,
    /// The thread (`chat:<chat>:project:<project>`).
    pub thread: ThreadKey,
}

/// Returns the ids of the thread that `event` in `chat_id` creates.
pub fn ids_for_event(chat_id: i64, event: EventId) -> DerivedIds {
    let project = ProjectId(Uuid::new_v5(
        &NAMESPACE,
        format!("project:{event}").as_bytes(),
    ));
    DerivedIds {
        run_id: run_of(project),
        thread: ThreadKey::chat_project(chat_id, project),
        project_id: project,
    }
}

/// Returns the brainstorm run of a project.
pub fn run_of(project: ProjectId) -> RunId {
    RunId(Uuid::new_v5(
        &NAMESPACE,
        format!("run:{project}").as_bytes(),
    ))
}

/// Returns the draft name of a project before its spec names it.
pub fn draft_name(project: ProjectId) -> String {
    format!("draft-{}", &project.0.simple().to_string()[..8])
}

/// Records the chat (its first person is its owner); returns `chats.id`.
pub async fn upsert_chat(
    conn: &mut PgConnection,
    chat_id: i64,
    user_id: i64,
) -> Result<i64, StoreError> {
    sqlx::query_scalar!(
        "INSERT INTO chats (telegram_chat_id, user_id) VALUES ($1, $2)
         ON CONFLICT (telegram_chat_id) DO UPDATE SET telegram_chat_id = EXCLUDED.telegram_chat_id
         RETURNING id",
        chat_id,
        user_id
    )
    .fetch_one(conn)
    .await
    .map_err(db("recording a chat"))
}

/// The active thread of a chat, with its project.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveThread {
    /// The thread.
    pub thread: ThreadKey,
    /// Its project.
    pub project_id: ProjectId,
    /// Its run.
    pub run_id: RunId,
    /// The project's owner.
    pub owner_user_id: i64,
    /// The project's current name.
    pub name: String,
    /// The project's status.
    pub status: ProjectStatus,
    /// The project's budget.
    pub budget_usd_micros: i64,
}

/// Returns the chat's active thread, if any.
pub async fn active_thread(
    conn: &mut PgConnection,
    chat_id: i64,
) -> Result<Option<ActiveThread>, StoreError> {
    let row = sqlx::query!(
        r#"SELECT t.id, p.id AS project_id, p.owner_user_id, p.name, p.status AS "status: ProjectStatus",
                  p.budget_usd_micros
           FROM threads t JOIN chats c ON c.id = t.chat_id JOIN projects p ON p.id = t.project_id
           WHERE c.telegram_chat_id = $1 AND t.is_active"#,
        chat_id
    )
    .fetch_optional(conn)
    .await
    .map_err(db("finding the active thread"))?;
    Ok(row.map(|r| ActiveThread {
        thread: ThreadKey::new(r.id),
        project_id: ProjectId(r.project_id),
        run_id: run_of(ProjectId(r.project_id)),
        owner_user_id: r.owner_user_id,
        name: r.name,
        status: r.status,
        budget_usd_micros: r.budget_usd_micros,
    }))
}

/// Returns whether a thread exists (active or not).
pub async fn thread_exists(
    conn: &mut PgConnection,
    thread: &ThreadKey,
) -> Result<bool, StoreError> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM threads WHERE id = $1) AS "found!""#,
        thread.thread_id()
    )
    .fetch_one(conn)
    .await
    .map_err(db("looking up a thread"))
}

/// What a new thread needs.
#[derive(Debug, Clone)]
pub struct NewThread<'a> {
    /// Its ids.
    pub ids: &'a DerivedIds,
    /// `chats.id`.
    pub chat_row: i64,
    /// The owner (`users.id`).
    pub owner_user_id: i64,
    /// The owner's default budget for new projects.
    pub budget_usd_micros: i64,
}

/// Creates the project (draft name), the thread and its run; creating again changes nothing.
pub async fn open_thread(conn: &mut PgConnection, new: &NewThread<'_>) -> Result<(), StoreError> {
    let ids = new.ids;
    let name = draft_name(ids.project_id);
    let project = NewProject {
        id: ids.project_id,
        owner_user_id: new.owner_user_id,
        name: &name,
        budget_usd_micros: new.budget_usd_micros,
    };
    projects::create(&mut *conn, &project).await?;
    sqlx::query!(
        "INSERT INTO threads (id, chat_id, project_id, graph) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
        ids.thread.thread_id(),
        new.chat_row,
        ids.project_id.0,
        GRAPH
    )
    .execute(&mut *conn)
    .await
    .map_err(db("creating a thread"))?;
    sqlx::query!(
        "INSERT INTO runs (id, project_id, thread_id, kind) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
        ids.run_id.0,
        ids.project_id.0,
        ids.thread.thread_id(),
        GRAPH
    )
    .execute(conn)
    .await
    .map_err(db("creating a run"))?;
    Ok(())
}

/// Ends a thread: inactive, its run cancelled, its project cancelled unless its status is one of `keep`.
pub async fn close_thread(
    conn: &mut PgConnection,
    thread: &ActiveThread,
    keep: &[ProjectStatus],
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE threads SET is_active = false WHERE id = $1",
        thread.thread.thread_id()
    )
    .execute(&mut *conn)
    .await
    .map_err(db("closing a thread"))?;
    set_run_status(&mut *conn, thread.run_id, RunStatus::Cancelled).await?;
    if !keep.contains(&thread.status) {
        projects::set_status(conn, thread.project_id, ProjectStatus::Cancelled).await?;
    }
    Ok(())
}

/// Moves a run to `status` (a final status also records when it finished).
pub async fn set_run_status(
    conn: &mut PgConnection,
    run: RunId,
    status: RunStatus,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE runs SET status = $2, finished_at = CASE WHEN $3 THEN now() ELSE NULL END
         WHERE id = $1 AND status <> $2 AND finished_at IS NULL",
        run.0,
        status as RunStatus,
        status.is_final()
    )
    .execute(conn)
    .await
    .map_err(db("changing a run's status"))?;
    Ok(())
}

/// Returns a name for the project that no other project of the owner has: `wanted`, else `wanted-<id>`.
pub async fn unique_name(
    conn: &mut PgConnection,
    project: ProjectId,
    owner: i64,
    wanted: &str,
) -> Result<String, StoreError> {
    let taken = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM projects WHERE owner_user_id = $1 AND name = $2 AND id <> $3) AS "taken!""#,
        owner,
        wanted,
        project.0
    )
    .fetch_one(conn)
    .await
    .map_err(db("checking a project name"))?;
    if !taken {
        return Ok(wanted.to_owned());
    }
    let suffix = &project.0.simple().to_string()[..6];
    let stem: String = wanted.chars().take(63 - suffix.len() - 1).collect();
    Ok(format!("{}-{suffix}", stem.trim_end_matches('-')))
}

/// Renames a project.
pub async fn rename_project(
    conn: &mut PgConnection,
    project: ProjectId,
    name: &str,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE projects SET name = $2, updated_at = now() WHERE id = $1",
        project.0,
        name
    )
    .execute(conn)
    .await
    .map_err(db("renaming a project"))?;
    Ok(())
}

/// Sets the budget of the thread's project and audits who set it.
pub async fn set_budget(
    conn: &mut PgConnection,
    thread: &ActiveThread,
    user_id: i64,
    micros: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE projects SET budget_usd_micros = $2, updated_at = now() WHERE id = $1")
        .bind(thread.project_id.0)
        .bind(micros)
        .execute(&mut *conn)
        .await
        .map_err(db("setting a budget"))?;
    let entry = orch_store::audit::AuditEntry {
        actor: &format!("user:{user_id}"),
        action: "project.budget_set",
        subject: &thread.project_id.to_string(),
        detail: serde_json::json!({ "budget_usd_micros": micros }),
        run_id: Some(thread.run_id),
    };
    orch_store::audit::append(conn, &entry).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_derived_from_the_event_and_stable() {
        let event = EventId::new();
        let a = ids_for_event(42, event);
        assert_eq!(a, ids_for_event(42, event));
        assert_ne!(a.project_id, ids_for_event(42, EventId::new()).project_id);
        assert_eq!(a.run_id, run_of(a.project_id));
        assert!(a.thread.thread_id().starts_with("chat:42:project:"));
    }

    #[test]
    fn draft_names_satisfy_the_project_name_rule() {
        let name = draft_name(ProjectId::new());
        assert_eq!(name.len(), 14);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }
}
