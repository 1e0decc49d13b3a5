//! The `develop` step: the project's tasks run on coding workers, in parallel where the plan allows.
//!
//! Each run of the step starts the tasks that are ready — pending, with every dependency merged — up to the
//! project's `max_parallel_workers`, by queueing `worker:spawn` messages in the same transaction that marks the
//! tasks running (the outbox publishes them; the spawner dedupes redeliveries by idempotency key). Then the
//! thread waits. The [`crate::watcher`] resumes it with each worker's result as it arrives:
//! - pushed and verified → a pull request is opened (idempotently), the task is `in_review`, a `review:request`
//!   goes to the reviewer (merge when approved), the person is told;
//! - anything else → the first failure is retried once with the error appended to the task, the second leaves
//!   the task `failed` and tells the person.
//!
//! and with each review's result (see [`crate::rework`]): merged → the task is `merged`, which makes the tasks
//! depending on it ready for the next pass; changes requested (or a conflict) → back to a worker on the same
//! branch with the review's comments, up to `max_review_iterations` rounds; otherwise a question to the person.
//! A task that failed twice, a pull request that needs a person and a spent budget (checked before every
//! spawn) ask the person with buttons ([`crate::escalation`]); the answers come back here too
//! ([`crate::answers`]). When nothing is running, in review or asked any more, the step reports where the
//! build stands and ends.

use orch_contracts::messages::chat::ChatAction;
use orch_contracts::messages::review::{MergeMethod, ReviewRequest, ReviewResult};
use orch_contracts::messages::worker::{
    RepoRef, SecretHandle, SecretInjection, TaskSpec, WorkerLimits, WorkerResult, WorkerSpawn,
    WorkerStatus,
};
use orch_contracts::{Envelope, ProjectId, ReviewId, StreamKey, WorkerId, streams};
use orch_github::{NewPullRequest, PullRequest};
use orch_graph::effects;
use orch_graph::{Ctx, NodeError};
use orch_store::usage::{self, UsageRecord, UsageSource};
use orch_store::{StoreError, outbox};

use crate::db::db;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::config::WorkerSettings;
use crate::escalation::{self, Kind, Question};
use crate::nodes::Deps;
use crate::progress;
use crate::relay;
use crate::rework;
use crate::state::{Answer, Conversation, ConversationUpdate, Next, RepositoryRef, Waiting};
use crate::texts;

/// Consecutive failed workers per task before the person is asked: the first, and one retry with the error.
pub const MAX_FAILURES: i32 = 2;
/// The branch pull requests merge into.
const BASE: &str = "main";

/// The worker of a task's attempt: the same inputs give the same id, so a re-run publishes the same spawn and
/// the watcher knows which result stream to read.
pub fn worker_id(project: ProjectId, task_key: &str, attempt: i32) -> WorkerId {
    let name = format!("worker:{project}:{task_key}:{attempt}");
    WorkerId(Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes()))
}

/// The review of a pull request's iteration: the same inputs give the same id (and result stream).
pub fn review_id(project: ProjectId, pr_number: u64, iteration: u32) -> ReviewId {
    let name = format!("review:{project}:{pr_number}:{iteration}");
    ReviewId(Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes()))
}

/// Where the build stands after a `start` pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Tasks started by this pass.
    pub started: Vec<String>,
    /// Tasks running now (including those just started).
    pub running: u32,
    /// Tasks waiting for dependencies to be merged.
    pub blocked: u32,
    /// Tasks with an open pull request.
    pub in_review: u32,
    /// Tasks merged.
    pub merged: u32,
    /// Tasks that failed for good.
    pub failed: u32,
    /// Tasks waiting for a person.
    pub needs_person: u32,
    /// Tasks the person dropped (or stopped at the budget).
    #[serde(default)]
    pub dropped: u32,
    /// Open questions to the person.
    #[serde(default)]
    pub asking: u32,
    /// What the project has spent (micro-dollars).
    #[serde(default)]
    pub spent_usd_micros: i64,
    /// The project's budget (micro-dollars).
    #[serde(default)]
    pub budget_usd_micros: i64,
}

/// The `SELECT … FROM tasks` of a [`TaskRow`], followed by the given clause.
macro_rules! select_tasks {
    ($clause:literal) => {
        concat!(
            "SELECT id, key, title, body, depends_on, status::text AS status, attempts, failures FROM tasks ",
            $clause
        )
    };
}
pub(crate) use select_tasks;

/// A task row as this step reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskRow {
    /// `tasks.id`.
    pub id: Uuid,
    /// The plan's key.
    pub key: String,
    /// Its title.
    pub title: String,
    /// What the worker is told (grows with retries, reviews and guidance).
    pub body: String,
    /// Keys of the tasks it needs merged first.
    pub depends_on: Vec<String>,
    /// `task_status`.
    pub status: String,
    /// Workers it had.
    pub attempts: i32,
    /// Consecutive failed workers.
    pub failures: i32,
}

impl Deps {
    /// Starts what is ready, then waits for a worker result (or reports and ends when nothing runs).
    pub(crate) async fn develop(
        &self,
        state: &Conversation,
        ctx: &Ctx,
    ) -> Result<ConversationUpdate, NodeError> {
        let Some(factory) = &self.factory else {
            return Ok(ConversationUpdate::goto(Next::Done));
        };
        let repo = state
            .repository
            .clone()
            .ok_or_else(|| NodeError::msg("develop ran before the repository was set up"))?;
        let settings = factory.workers.clone();
        let (owned, owned_repo) = (state.clone(), repo.clone());
        let thread = ctx.thread().thread_id().to_owned();
        let progress: Progress =
            effects::once_in_tx(self.store.pool(), &ctx.effect_key("start"), move |conn| {
                Box::pin(async move {
                    start_ready(conn, &owned, &thread, &owned_repo, &settings)
                        .await
                        .map_err(Into::into)
                })
            })
            .await?;
        self.wake.notify();
        if progress.running + progress.in_review + progress.asking == 0 {
            let text = texts::build_settled(&progress);
            self.send_once(ctx, "settled", state, vec![texts::send(text)])
                .await?;
            return Ok(ConversationUpdate::goto(Next::Done));
        }
        let answer: Answer = ctx.interrupt(Waiting::Workers {
            running: progress.running,
            reviewing: progress.in_review,
            asking: progress.asking,
        })?;
        let event_id = match answer {
            Answer::WorkerFinished {
                task_key,
                result,
                event_id,
            } => {
                self.worker_finished(state, ctx, &repo, &task_key, &result)
                    .await?;
                event_id
            }
            Answer::ReviewFinished {
                task_key,
                result,
                event_id,
            } => {
                self.review_finished(state, ctx, &task_key, &result).await?;
                event_id
            }
            Answer::Decision {
                escalation,
                approve,
                callback_query_id,
                event_id,
            } => {
                self.decided(state, ctx, escalation, approve, &callback_query_id)
                    .await?;
                event_id
            }
            Answer::Text { text, event_id } if progress.asking > 0 => {
                self.written(state, ctx, &text).await?;
                event_id
            }
            Answer::Text { event_id, .. }
            | Answer::Approve { event_id, .. }
            | Answer::Change { event_id, .. } => {
                let text = texts::building(progress.running, progress.in_review);
                self.send_once(ctx, "busy", state, vec![texts::send(text)])
                    .await?;
                event_id
            }
        };
        Ok(ConversationUpdate {
            next: Some(Next::Develop),
            applied: Some(event_id),
            ..ConversationUpdate::default()
        })
    }

    /// Opens the pull request of a pushed task, or schedules the retry of a failed one; tells the person.
    async fn worker_finished(
        &self,
        state: &Conversation,
        ctx: &Ctx,
        repo: &RepositoryRef,
        task_key: &str,
        result: &WorkerResult,
    ) -> Result<(), NodeError> {
        let task = self.task(state, task_key).await?;
        let pull = if pushed(result) {
            Some(self.open_pull(ctx, repo, &task, result).await?)
        } else {
            None
        };
        let (owned, result, repo) = (state.clone(), result.clone(), repo.clone());
        let thread = ctx.thread().thread_id().to_owned();
        self.write_once(ctx, "finished", state, move |conn| {
            Box::pin(async move {
                record_usage(conn, &owned, &task, &result).await?;
                match &pull {
                    Some(PullOutcome::Refused(why)) => {
                        Ok(pull_refused(conn, &owned, &thread, &task, why).await?)
                    }
                    Some(PullOutcome::Opened(pull)) => {
                        let updated = to_review(conn, &owned, &task, pull).await?;
                        request_review(conn, &owned, &repo, &task, pull).await?;
                        let url = pull.html_url.as_deref();
                        let text = if updated {
                            texts::task_updated(&task.title, pull.number, url)
                        } else {
                            texts::task_pushed(&task.title, pull.number, url)
                        };
                        Ok(vec![texts::send(text)])
                    }
                    None => Ok(fail_or_ask(conn, &owned, &thread, &task, &result).await?),
                }
            })
        })
        .await?;
        self.warn_about_budget(state, ctx).await?;
        Ok(())
    }

    /// Records what the review decided; a merge unblocks the tasks that depend on this one.
    async fn review_finished(
        &self,
        state: &Conversation,
        ctx: &Ctx,
        task_key: &str,
        result: &ReviewResult,
    ) -> Result<(), NodeError> {
        let task = self.task(state, task_key).await?;
        let max_rounds = self
            .factory
            .as_ref()
            .map_or(3, |f| f.workers.max_review_iterations.max(1));
        let (owned, result) = (state.clone(), result.clone());
        let thread = ctx.thread().thread_id().to_owned();
        self.write_once(ctx, "reviewed", state, move |conn| {
            Box::pin(async move {
                Ok(
                    rework::record_review(conn, &owned, &thread, &task, &result, max_rounds)
                        .await?,
                )
            })
        })
        .await?;
        Ok(())
    }

    async fn task(&self, state: &Conversation, key: &str) -> Result<TaskRow, NodeError> {
        let row = sqlx::query_as::<_, TaskRow>(select_tasks!("WHERE run_id = $1 AND key = $2"))
            .bind(state.run_id.0)
            .bind(key)
            .fetch_optional(self.store.pool())
            .await
            .map_err(db("reading a task"))?;
        row.ok_or_else(|| NodeError::msg(format!("a worker reported on unknown task `{key}`")))
    }

    /// Opens the task's pull request once (a retry finds the open one). A transient GitHub failure fails the
    /// step, and the watcher hands the result in again on its next pass; a refusal is the outcome, recorded.
    async fn open_pull(
        &self,
        ctx: &Ctx,
        repo: &RepositoryRef,
        task: &TaskRow,
        result: &WorkerResult,
    ) -> Result<PullOutcome, NodeError> {
        let factory = self
            .factory
            .as_ref()
            .ok_or_else(|| NodeError::msg("no factory configured"))?;
        let (owner, name) = repo
            .full_name
            .split_once('/')
            .ok_or_else(|| NodeError::msg("the repository name has no owner"))?;
        let new = NewPullRequest {
            title: task.title.clone(),
            head: result.branch.clone(),
            base: BASE.to_owned(),
            body: format!(
                "{}\n\n---\nTask `{}`, built by a coding worker: {}",
                task.body, task.key, result.summary
            ),
        };
        ctx.once("pull-request", |_| async {
            let github = factory.github().await?;
            match github.open_pull_request(owner, name, &new).await {
                Ok(pull) => Ok(PullOutcome::Opened(PullSummary::from(pull))),
                Err(e) if e.is_transient() => Err::<_, NodeError>(e.into()),
                Err(e) => Ok(PullOutcome::Refused(e.to_string())),
            }
        })
        .await
    }
}

/// What opening a task's pull request came to (the effect's recorded result).
#[derive(Debug, Clone, Serialize, Deserialize)]
enum PullOutcome {
    /// Open (now or before).
    Opened(PullSummary),
    /// GitHub refused for good (not found, forbidden, unprocessable …); why.
    Refused(String),
}

/// What is kept of an opened pull request.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PullSummary {
    number: u64,
    head_sha: String,
    head_branch: String,
    html_url: Option<String>,
}

impl From<PullRequest> for PullSummary {
    fn from(p: PullRequest) -> Self {
        Self {
            number: p.number,
            head_sha: p.head.sha,
            head_branch: p.head.branch,
            html_url: p.html_url,
        }
    }
}

/// True when the worker pushed and the spawner verified the commit on the remote branch.
fn pushed(result: &WorkerResult) -> bool {
    result.status == WorkerStatus::Succeeded && result.verified && result.commit_sha.is_some()
}

/// Marks ready tasks running and queues their spawns; returns where the build stands.
async fn start_ready(
    conn: &mut PgConnection,
    state: &Conversation,
    thread: &str,
    repo: &RepositoryRef,
    settings: &WorkerSettings,
) -> Result<Progress, StoreError> {
    // Ids are UUIDv7, inserted in plan order: ordering by id keeps the plan's order.
    let tasks =
        sqlx::query_as::<_, TaskRow>(select_tasks!("WHERE run_id = $1 ORDER BY id FOR UPDATE"))
            .bind(state.run_id.0)
            .fetch_all(&mut *conn)
            .await
            .map_err(db("reading the tasks"))?;
    let limit: i32 = sqlx::query_scalar("SELECT max_parallel_workers FROM projects WHERE id = $1")
        .bind(state.project_id.0)
        .fetch_one(&mut *conn)
        .await
        .map_err(db("reading the project's worker limit"))?;
    let count = |status: &str| tasks.iter().filter(|t| t.status == status).count() as u32;
    let merged: Vec<&str> = tasks
        .iter()
        .filter(|t| t.status == "merged")
        .map(|t| t.key.as_str())
        .collect();
    let ready = |t: &&TaskRow| {
        t.status == "pending" && t.depends_on.iter().all(|d| merged.contains(&d.as_str()))
    };
    let free = u32::try_from(limit)
        .unwrap_or(1)
        .saturating_sub(count("running"));
    let mut to_start: Vec<&TaskRow> = tasks.iter().filter(ready).take(free as usize).collect();
    let (spent, budget) = spend_and_budget(conn, state.project_id).await?;
    if !to_start.is_empty() && spent >= budget {
        ask_for_budget(conn, state, thread, to_start.len(), spent, budget).await?;
        to_start.clear();
    }
    for task in &to_start {
        spawn(conn, state, repo, settings, task).await?;
    }
    let started: Vec<String> = to_start.iter().map(|t| t.key.clone()).collect();
    if !started.is_empty() {
        sqlx::query(
            "UPDATE projects SET status = 'building' WHERE id = $1 AND status = 'spec_approved'",
        )
        .bind(state.project_id.0)
        .execute(&mut *conn)
        .await
        .map_err(db("marking the project building"))?;
        announce(conn, state, &to_start).await?;
    }
    let started_count = started.len() as u32;
    Ok(Progress {
        running: count("running") + started_count,
        blocked: count("pending") - started_count,
        in_review: count("in_review"),
        merged: count("merged"),
        failed: count("failed"),
        needs_person: count("changes_requested") + count("escalated"),
        dropped: count("cancelled"),
        asking: escalation::open_count(conn, state.run_id).await?,
        spent_usd_micros: spent,
        budget_usd_micros: budget,
        started,
    })
}

/// Tells the person which workers started, in a message the watcher edits with their progress.
async fn announce(
    conn: &mut PgConnection,
    state: &Conversation,
    started: &[&TaskRow],
) -> Result<(), StoreError> {
    let key = progress::batch_ref();
    let ids: Vec<Uuid> = started.iter().map(|t| t.id).collect();
    sqlx::query("UPDATE tasks SET progress_ref = $2 WHERE id = ANY($1)")
        .bind(&ids)
        .bind(&key)
        .execute(&mut *conn)
        .await
        .map_err(db("recording the progress message"))?;
    // `attempts` is the count before this start: the worker starting now is run attempts + 1.
    let titles: Vec<String> = started
        .iter()
        .map(|t| texts::run_title(&t.title, t.attempts + 1))
        .collect();
    let message = ChatAction::Send {
        text: texts::workers_started(&titles),
        format: orch_contracts::messages::chat::TextFormat::Plain,
        buttons: Vec::new(),
        ref_key: Some(key),
    };
    relay::enqueue(conn, state.chat_id, Some(state.run_id), vec![message]).await
}

/// What the project has spent, and its budget (micro-dollars).
async fn spend_and_budget(
    conn: &mut PgConnection,
    project: ProjectId,
) -> Result<(i64, i64), StoreError> {
    let spent = usage::project_spend(conn, project).await?;
    let budget: i64 = sqlx::query_scalar("SELECT budget_usd_micros FROM projects WHERE id = $1")
        .bind(project.0)
        .fetch_one(&mut *conn)
        .await
        .map_err(db("reading the project's budget"))?;
    Ok((spent, budget))
}

/// Before spawning, with the budget spent: asks the person (once per budget); nothing starts until they answer.
async fn ask_for_budget(
    conn: &mut PgConnection,
    state: &Conversation,
    thread: &str,
    waiting: usize,
    spent: i64,
    budget: i64,
) -> Result<(), StoreError> {
    let question = Question {
        kind: Kind::Budget,
        task_id: None,
        subject: &format!("budget:{budget}"),
        text: texts::budget_question(spent, budget, waiting),
        yes: "💰 Double it",
        no: "🛑 Stop here",
    };
    let asked = escalation::ask(conn, state, thread, &question).await?;
    relay::enqueue(conn, state.chat_id, Some(state.run_id), asked).await
}

/// Marks one task running (its next attempt) and queues its `worker:spawn`.
async fn spawn(
    conn: &mut PgConnection,
    state: &Conversation,
    repo: &RepositoryRef,
    settings: &WorkerSettings,
    task: &TaskRow,
) -> Result<(), StoreError> {
    let attempt = task.attempts + 1;
    sqlx::query(
        "UPDATE tasks SET status = 'running', attempts = $2, updated_at = now() WHERE id = $1",
    )
    .bind(task.id)
    .bind(attempt)
    .execute(&mut *conn)
    .await
    .map_err(db("marking a task running"))?;
    let (owner, name) = repo
        .full_name
        .split_once('/')
        .unwrap_or(("", &repo.full_name));
    let spawn = WorkerSpawn {
        worker_id: worker_id(state.project_id, &task.key, attempt),
        project_id: state.project_id,
        idempotency_key: format!("{}:{}:{attempt}", state.project_id, task.key),
        repo: RepoRef {
            owner: owner.to_owned(),
            name: name.to_owned(),
            clone_url: repo.clone_url.clone(),
        },
        base_branch: BASE.to_owned(),
        branch: format!("task/{}", task.key),
        task: TaskSpec {
            title: task.title.clone(),
            body: task.body.clone(),
        },
        agent: settings.agent,
        secrets: repo
            .git_token_handle
            .as_ref()
            .or(settings.git_token_handle.as_ref())
            .into_iter()
            .map(|handle| SecretInjection {
                env: "GIT_TOKEN".to_owned(),
                handle: SecretHandle(handle.clone()),
            })
            .collect(),
        limits: WorkerLimits {
            memory_mib: settings.memory_mib,
            cpu_millis: settings.cpu_millis,
            pids: settings.pids,
        },
        timeout_secs: settings.timeout_secs,
    };
    let envelope = Envelope::new(spawn).with_run(state.run_id);
    outbox::enqueue_message(conn, &StreamKey::from(streams::WORKER_SPAWN), &envelope).await?;
    Ok(())
}

/// The task has a pull request: `in_review`, and the pull request recorded; returns true when it was
/// recorded before (a rework updated it).
async fn to_review(
    conn: &mut PgConnection,
    state: &Conversation,
    task: &TaskRow,
    pull: &PullSummary,
) -> Result<bool, StoreError> {
    let existed: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pull_requests WHERE project_id = $1 AND number = $2)",
    )
    .bind(state.project_id.0)
    .bind(i64::try_from(pull.number).unwrap_or(i64::MAX))
    .fetch_one(&mut *conn)
    .await
    .map_err(db("looking up a pull request"))?;
    sqlx::query(
        "UPDATE tasks SET status = 'in_review', failures = 0, updated_at = now() WHERE id = $1",
    )
    .bind(task.id)
    .execute(&mut *conn)
    .await
    .map_err(db("marking a task in review"))?;
    sqlx::query(
        "INSERT INTO pull_requests (project_id, number, task_id, head_branch, head_sha, state)
         VALUES ($1, $2, $3, $4, $5, 'open')
         ON CONFLICT (project_id, number) DO UPDATE SET task_id = EXCLUDED.task_id,
             head_sha = EXCLUDED.head_sha, state = 'open', updated_at = now()",
    )
    .bind(state.project_id.0)
    .bind(i64::try_from(pull.number).unwrap_or(i64::MAX))
    .bind(task.id)
    .bind(&pull.head_branch)
    .bind(&pull.head_sha)
    .execute(&mut *conn)
    .await
    .map_err(db("recording a pull request"))?;
    Ok(existed)
}

/// Asks the reviewer to review the pull request's next round and merge it when approved.
async fn request_review(
    conn: &mut PgConnection,
    state: &Conversation,
    repo: &RepositoryRef,
    task: &TaskRow,
    pull: &PullSummary,
) -> Result<(), StoreError> {
    let done: i32 = sqlx::query_scalar(
        "SELECT review_iterations FROM pull_requests WHERE project_id = $1 AND number = $2 FOR UPDATE",
    )
    .bind(state.project_id.0)
    .bind(i64::try_from(pull.number).unwrap_or(i64::MAX))
    .fetch_one(&mut *conn)
    .await
    .map_err(db("reading a pull request's review rounds"))?;
    let iteration = u32::try_from(done).unwrap_or(0) + 1;
    let (owner, name) = repo
        .full_name
        .split_once('/')
        .unwrap_or(("", &repo.full_name));
    let spec_summary = state
        .spec
        .as_ref()
        .map(|s| s.summary.clone())
        .unwrap_or_default();
    let request = ReviewRequest {
        review_id: review_id(state.project_id, pull.number, iteration),
        project_id: state.project_id,
        repo: RepoRef {
            owner: owner.to_owned(),
            name: name.to_owned(),
            clone_url: repo.clone_url.clone(),
        },
        pr_number: pull.number,
        head_sha: pull.head_sha.clone(),
        task: TaskSpec {
            title: task.title.clone(),
            body: task.body.clone(),
        },
        spec_summary,
        iteration,
        merge_when_approved: true,
        merge_method: MergeMethod::Squash,
        idempotency_key: format!("review:{}:{}:{iteration}", state.project_id, pull.number),
    };
    sqlx::query(
        "UPDATE pull_requests SET review_iterations = $3, updated_at = now()
         WHERE project_id = $1 AND number = $2",
    )
    .bind(state.project_id.0)
    .bind(i64::try_from(pull.number).unwrap_or(i64::MAX))
    .bind(i32::try_from(iteration).unwrap_or(1))
    .execute(&mut *conn)
    .await
    .map_err(db("recording a review request"))?;
    let envelope = Envelope::new(request).with_run(state.run_id);
    outbox::enqueue_message(conn, &StreamKey::from(streams::REVIEW_REQUEST), &envelope).await?;
    Ok(())
}

/// GitHub refused the pull request of a pushed task: the person decides (try again on the branch, or skip).
async fn pull_refused(
    conn: &mut PgConnection,
    state: &Conversation,
    thread: &str,
    task: &TaskRow,
    why: &str,
) -> Result<Vec<ChatAction>, StoreError> {
    rework::set_status(conn, task, "escalated").await?;
    let question = Question {
        kind: Kind::TaskFailed,
        task_id: Some(task.id),
        subject: &format!("pull:{}:{}", task.key, task.attempts),
        text: texts::pull_refused_question(&task.title, why),
        yes: "🔁 Try again",
        no: "⏭ Skip it",
    };
    escalation::ask(conn, state, thread, &question).await
}

/// A failed worker: back to `pending` with the error for one retry, or a question to the person.
async fn fail_or_ask(
    conn: &mut PgConnection,
    state: &Conversation,
    thread: &str,
    task: &TaskRow,
    result: &WorkerResult,
) -> Result<Vec<ChatAction>, StoreError> {
    let why = texts::clip(&result.summary, 300);
    let failures = task.failures + 1;
    if failures < MAX_FAILURES {
        let body = format!(
            "{}\n\nThe previous attempt failed ({:?}): {why}\nFix that this time.",
            task.body, result.status
        );
        sqlx::query(
            "UPDATE tasks SET status = 'pending', body = $2, failures = $3, updated_at = now() WHERE id = $1",
        )
        .bind(task.id)
        .bind(body)
        .bind(failures)
        .execute(&mut *conn)
        .await
        .map_err(db("scheduling a retry"))?;
        return Ok(vec![texts::send(texts::task_retrying(
            &task.title,
            result.status,
            &why,
        ))]);
    }
    sqlx::query(
        "UPDATE tasks SET status = 'escalated', failures = $2, updated_at = now() WHERE id = $1",
    )
    .bind(task.id)
    .bind(failures)
    .execute(&mut *conn)
    .await
    .map_err(db("marking a task escalated"))?;
    let question = Question {
        kind: Kind::TaskFailed,
        task_id: Some(task.id),
        subject: &format!("failed:{}:{}", task.key, task.attempts),
        text: texts::task_failed_question(&task.title, result.status, &why),
        yes: "🔁 Try again",
        no: "⏭ Skip it",
    };
    escalation::ask(conn, state, thread, &question).await
}

/// The worker's reported usage, charged to the project once (keyed by the worker).
async fn record_usage(
    conn: &mut PgConnection,
    state: &Conversation,
    task: &TaskRow,
    result: &WorkerResult,
) -> Result<(), StoreError> {
    let Some(used) = result.usage else {
        return Ok(());
    };
    let key = format!("worker:{}", result.worker_id);
    let record = UsageRecord {
        source: UsageSource::Worker,
        user_id: Some(state.owner_user_id),
        project_id: Some(state.project_id),
        run_id: Some(state.run_id),
        worker_id: Some(result.worker_id),
        role: "developer",
        provider: "worker",
        model: &task.key,
        prompt_tokens: i64::try_from(used.input_tokens).unwrap_or(i64::MAX),
        completion_tokens: i64::try_from(used.output_tokens).unwrap_or(i64::MAX),
        cost_usd_micros: i64::try_from(used.cost_usd_micros).unwrap_or(i64::MAX),
        idempotency_key: &key,
    };
    usage::record(conn, &record).await?;
    Ok(())
}
