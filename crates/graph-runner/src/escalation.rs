//! Questions to the person about the build (escalations): a message with two buttons, answered by a press or a
//! written answer, reminded when it waits too long.
//!
//! An escalation is a row in `escalations`, written in the same transaction as the state change that needed
//! it, with the message that asks it. Its id derives from what it is about (the task and the round, or the
//! budget), so a re-run of the step asks once. Buttons carry the id ([`crate::callback::DecisionData`]): a
//! press on an answered question is recognised as stale. The thread keeps waiting in the `develop` step while
//! a question is open; the answer resumes it there (see [`crate::develop`]).

use chrono::{DateTime, Utc};
use orch_contracts::ProjectId;
use orch_contracts::messages::chat::{ChatAction, TextFormat};
use orch_store::StoreError;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::callback::decision_buttons;
use crate::db::db;
use crate::relay;
use crate::state::Conversation;

/// What a question is about; decides what its buttons do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A task failed twice: try again, or skip it.
    TaskFailed,
    /// A pull request needs a person: merge it anyway, or drop it.
    Review,
    /// The budget is spent: raise it, or stop.
    Budget,
}

impl Kind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::TaskFailed => "task_failed",
            Kind::Review => "review",
            Kind::Budget => "budget",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [Kind::TaskFailed, Kind::Review, Kind::Budget]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// A question to ask.
#[derive(Debug, Clone)]
pub struct Question<'a> {
    /// What it is about.
    pub kind: Kind,
    /// The task it is about, if any.
    pub task_id: Option<Uuid>,
    /// Names this occurrence (the same subject asks once), e.g. `task:bot:4`.
    pub subject: &'a str,
    /// The question's text.
    pub text: String,
    /// The approving button's label.
    pub yes: &'a str,
    /// The rejecting button's label.
    pub no: &'a str,
}

/// An open question as read back.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Open {
    /// `escalations.id`.
    pub id: Uuid,
    /// Stored kind name.
    pub kind: String,
    /// The task, if any.
    pub task_id: Option<Uuid>,
    /// The question's text.
    pub question: String,
    /// `open`, `answered` or `expired`.
    pub status: String,
}

impl Open {
    /// The kind; `None` for a row this version does not know.
    pub fn kind(&self) -> Option<Kind> {
        Kind::parse(&self.kind)
    }

    /// True while nobody answered it.
    pub fn is_open(&self) -> bool {
        self.status == "open"
    }
}

/// The id of the question about `subject` in `project`.
pub fn escalation_id(project: ProjectId, subject: &str) -> Uuid {
    let name = format!("escalation:{project}:{subject}");
    Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes())
}

/// The `ref_key` of a question's message, so it can be edited once answered.
pub fn message_ref(id: Uuid) -> String {
    format!("esc:{}", id.simple())
}

/// Records the question and returns its message to send (nothing when it was asked before).
pub async fn ask(
    conn: &mut PgConnection,
    state: &Conversation,
    thread_id: &str,
    question: &Question<'_>,
) -> Result<Vec<ChatAction>, StoreError> {
    let id = escalation_id(state.project_id, question.subject);
    let inserted = sqlx::query(
        "INSERT INTO escalations (id, run_id, project_id, thread_id, task_id, kind, question, options)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(state.run_id.0)
    .bind(state.project_id.0)
    .bind(thread_id)
    .bind(question.task_id)
    .bind(question.kind.as_str())
    .bind(&question.text)
    .bind(serde_json::json!([question.yes, question.no]))
    .execute(&mut *conn)
    .await
    .map_err(db("recording a question"))?;
    if inserted.rows_affected() == 0 {
        return Ok(Vec::new());
    }
    Ok(vec![ChatAction::Send {
        text: question.text.clone(),
        format: TextFormat::Plain,
        buttons: vec![decision_buttons(id, question.yes, question.no)],
        ref_key: Some(message_ref(id)),
    }])
}

/// Reads a question of the run (locked for the answer), open or not.
pub async fn lock(
    conn: &mut PgConnection,
    run: orch_contracts::RunId,
    id: Uuid,
) -> Result<Option<Open>, StoreError> {
    sqlx::query_as::<_, Open>(
        "SELECT id, kind, task_id, question, status FROM escalations
         WHERE id = $1 AND run_id = $2 FOR UPDATE",
    )
    .bind(id)
    .bind(run.0)
    .fetch_optional(conn)
    .await
    .map_err(db("reading a question"))
}

/// The project a question belongs to.
pub async fn project_of(conn: &mut PgConnection, id: Uuid) -> Result<Option<Uuid>, StoreError> {
    let project: Option<Option<Uuid>> =
        sqlx::query_scalar("SELECT project_id FROM escalations WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await
            .map_err(db("reading a question's project"))?;
    Ok(project.flatten())
}

/// The run's oldest open question (locked), which a written answer goes to.
pub async fn oldest_open(
    conn: &mut PgConnection,
    run: orch_contracts::RunId,
) -> Result<Option<Open>, StoreError> {
    sqlx::query_as::<_, Open>(
        "SELECT id, kind, task_id, question, status FROM escalations
         WHERE run_id = $1 AND status = 'open' ORDER BY asked_at, id LIMIT 1 FOR UPDATE",
    )
    .bind(run.0)
    .fetch_optional(conn)
    .await
    .map_err(db("reading the open questions"))
}

/// How many questions of the run are open.
pub async fn open_count(
    conn: &mut PgConnection,
    run: orch_contracts::RunId,
) -> Result<u32, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM escalations WHERE run_id = $1 AND status = 'open'",
    )
    .bind(run.0)
    .fetch_one(conn)
    .await
    .map_err(db("counting open questions"))?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Stores the answer and queues the edit that shows it under the question (its buttons removed).
pub async fn answer(
    conn: &mut PgConnection,
    state: &Conversation,
    question: &Open,
    answer: &serde_json::Value,
    shown: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE escalations SET status = 'answered', answer = $2, answered_at = now()
         WHERE id = $1 AND status = 'open'",
    )
    .bind(question.id)
    .bind(answer)
    .execute(&mut *conn)
    .await
    .map_err(db("recording an answer"))?;
    let edit = ChatAction::Edit {
        ref_key: message_ref(question.id),
        text: format!("{}\n\n→ {shown}", question.question),
        format: TextFormat::Plain,
        buttons: Vec::new(),
    };
    relay::enqueue(conn, state.chat_id, Some(state.run_id), vec![edit]).await
}

/// A question due for a reminder.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Due {
    /// `escalations.id`.
    pub id: Uuid,
    /// The run.
    pub run_id: Uuid,
    /// The question's text.
    pub question: String,
    /// When it was asked.
    pub asked_at: DateTime<Utc>,
    /// The Telegram chat of its thread.
    pub telegram_chat_id: i64,
}

/// Marks open questions unanswered for `after` (since asked or last reminded) as reminded now and returns them;
/// the caller queues the reminders in the same transaction, so a restart never reminds twice per period.
pub async fn take_due(
    conn: &mut PgConnection,
    after: std::time::Duration,
) -> Result<Vec<Due>, StoreError> {
    sqlx::query_as::<_, Due>(
        "UPDATE escalations e SET reminded_at = now()
         FROM threads th JOIN chats c ON c.id = th.chat_id
         WHERE th.id = e.thread_id AND th.is_active AND e.status = 'open'
           AND COALESCE(e.reminded_at, e.asked_at) <= now() - make_interval(secs => $1)
         RETURNING e.id, e.run_id, e.question, e.asked_at, c.telegram_chat_id",
    )
    .bind(after.as_secs_f64())
    .fetch_all(conn)
    .await
    .map_err(db("taking due reminders"))
}
