//! Brings coding workers' and reviews' results into their threads.
//!
//! A node must not block for the minutes a worker runs (the chat's other messages would wait behind it), so the
//! `develop` step waits in an interrupt and this loop resumes it: every `poll` it lists the running and
//! in-review tasks of active threads (from PostgreSQL, so a restarted runner picks up where the last one
//! stopped), reads each one's `worker:result:<id>` or `review:result:<id>` stream without blocking, and hands a
//! result to its thread. The resume is idempotent — the event id derives from the worker or review id and the
//! thread records the events it applied — so two runners, or a crash right after a resume, never apply a
//! result twice. An unreadable worker result is turned into a failure the thread can act on (a worker that lies
//! about its result is a failed worker); an unreadable review result into an escalation.
//!
//! The same loop edits each batch's announcement with the workers' latest log lines ([`crate::progress`]) and
//! reminds the person of questions left unanswered for [`Timing::remind`]: the reminder and
//! the row's `reminded_at` commit together, so each period reminds once, across restarts and runners.

use std::sync::Arc;
use std::time::Duration;

use orch_bus::Bus;
use orch_contracts::messages::review::{ReviewResult, Verdict};
use orch_contracts::messages::worker::{WorkerResult, WorkerStatus};
use orch_contracts::{Contract, EventId, ProjectId, ReviewId, StreamKey, streams};
use tokio_util::sync::CancellationToken;
use tracing::warn;
use uuid::Uuid;

use crate::conversations::Conversations;
use crate::develop::{review_id, worker_id};
use crate::escalation;
use crate::progress::ProgressBoard;
use crate::state::Answer;
use crate::{relay, texts};

/// A running task of an active thread.
#[derive(Debug, sqlx::FromRow)]
struct Running {
    project_id: Uuid,
    key: String,
    attempts: i32,
    branch: String,
    telegram_chat_id: i64,
}

/// How often the watcher looks, and when it reminds.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Between passes.
    pub poll: Duration,
    /// An open question is reminded after this long without an answer (and again after each period).
    pub remind: Duration,
    /// The shortest time between two progress edits of one message.
    pub progress: Duration,
}

/// Polls until `stop`.
pub async fn run(
    conversations: Arc<Conversations>,
    bus: Bus,
    timing: Timing,
    stop: CancellationToken,
) {
    let mut board = ProgressBoard::new(timing.progress);
    while !stop.is_cancelled() {
        if let Err(e) = pass(&conversations, &bus).await {
            warn!(error.cause_chain = ?e, "checking running workers failed; retrying");
        }
        if let Err(e) = board.pass(&conversations, &bus).await {
            warn!(error.cause_chain = ?e, "showing workers' progress failed; retrying");
        }
        if let Err(e) = remind(&conversations, timing.remind).await {
            warn!(error.cause_chain = ?e, "reminding of open questions failed; retrying");
        }
        tokio::select! {
            () = tokio::time::sleep(timing.poll) => {}
            () = stop.cancelled() => {}
        }
    }
}

/// A task in review of an active thread.
#[derive(Debug, sqlx::FromRow)]
struct Reviewing {
    project_id: Uuid,
    key: String,
    number: i64,
    review_iterations: i32,
    telegram_chat_id: i64,
}

/// One pass over the running and reviewed tasks; returns how many results were handed to threads.
pub async fn pass(conversations: &Conversations, bus: &Bus) -> anyhow::Result<usize> {
    Ok(workers(conversations, bus).await? + reviews(conversations, bus).await?)
}

async fn workers(conversations: &Conversations, bus: &Bus) -> anyhow::Result<usize> {
    let running = sqlx::query_as::<_, Running>(
        "SELECT t.project_id, t.key, t.attempts, t.branch, c.telegram_chat_id
         FROM tasks t
         JOIN threads th ON th.project_id = t.project_id AND th.is_active
         JOIN chats c ON c.id = th.chat_id
         WHERE t.status = 'running'",
    )
    .fetch_all(conversations.store.pool())
    .await?;
    let mut delivered = 0;
    for task in running {
        let worker = worker_id(ProjectId(task.project_id), &task.key, task.attempts);
        let Some(result) = peek::<WorkerResult>(bus, &streams::worker_result(worker)).await else {
            continue;
        };
        let event_id = EventId(worker.0);
        let answer = Answer::WorkerFinished {
            task_key: task.key,
            result: Box::new(result.unwrap_or_else(|why| unreadable(worker, &task.branch, &why))),
            event_id,
        };
        delivered += deliver(conversations, task.telegram_chat_id, event_id, answer).await?;
    }
    Ok(delivered)
}

async fn reviews(conversations: &Conversations, bus: &Bus) -> anyhow::Result<usize> {
    let reviewing = sqlx::query_as::<_, Reviewing>(
        "SELECT t.project_id, t.key, pr.number, pr.review_iterations, c.telegram_chat_id
         FROM tasks t
         JOIN pull_requests pr ON pr.task_id = t.id
         JOIN threads th ON th.project_id = t.project_id AND th.is_active
         JOIN chats c ON c.id = th.chat_id
         WHERE t.status = 'in_review'",
    )
    .fetch_all(conversations.store.pool())
    .await?;
    let mut delivered = 0;
    for task in reviewing {
        let number = u64::try_from(task.number).unwrap_or_default();
        let iteration = u32::try_from(task.review_iterations).unwrap_or_default();
        let review = review_id(ProjectId(task.project_id), number, iteration);
        let Some(result) = peek::<ReviewResult>(bus, &streams::review_result(review)).await else {
            continue;
        };
        let event_id = EventId(review.0);
        let answer = Answer::ReviewFinished {
            task_key: task.key,
            result: Box::new(result.unwrap_or_else(|why| unreadable_review(review, number, &why))),
            event_id,
        };
        delivered += deliver(conversations, task.telegram_chat_id, event_id, answer).await?;
    }
    Ok(delivered)
}

/// A result stream's entry, without waiting: `None` while nothing arrived, the reason when it cannot be read.
async fn peek<M: Contract>(bus: &Bus, stream: &StreamKey) -> Option<Result<M, String>> {
    match bus
        .wait_for_result::<M>(stream, Duration::from_millis(1))
        .await
    {
        Ok(Some(envelope)) => Some(Ok(envelope.body)),
        Ok(None) => None,
        Err(e) => Some(Err(e.to_string())),
    }
}

/// Hands a result to its chat's thread; returns 1 when it was applied now.
async fn deliver(
    conversations: &Conversations,
    telegram_chat_id: i64,
    event_id: EventId,
    answer: Answer,
) -> anyhow::Result<usize> {
    let applied = conversations
        .on_factory_result(telegram_chat_id, event_id, answer)
        .await?;
    Ok(usize::from(applied))
}

/// Queues a reminder for every question unanswered for `after`; returns how many.
pub async fn remind(conversations: &Conversations, after: Duration) -> anyhow::Result<usize> {
    let mut tx = conversations.store.begin().await?;
    let due = escalation::take_due(&mut tx, after).await?;
    for question in &due {
        let text = texts::reminder(&question.question, question.asked_at);
        let run = orch_contracts::RunId(question.run_id);
        relay::enqueue(
            &mut tx,
            question.telegram_chat_id,
            Some(run),
            vec![texts::send(text)],
        )
        .await?;
    }
    tx.commit().await?;
    if !due.is_empty() {
        conversations.wake.notify();
    }
    Ok(due.len())
}

/// A review result that cannot be read asks a person.
fn unreadable_review(review: ReviewId, number: u64, reason: &str) -> ReviewResult {
    ReviewResult {
        review_id: review,
        pr_number: number,
        verdict: Verdict::Escalate,
        summary: format!("the review's result could not be read: {reason}"),
        comments: Vec::new(),
        merged: false,
        merge_sha: None,
        conflict: false,
    }
}

/// A result that cannot be read counts as a failure, with the reason.
fn unreadable(worker: orch_contracts::WorkerId, branch: &str, reason: &str) -> WorkerResult {
    WorkerResult {
        worker_id: worker,
        status: WorkerStatus::Failed,
        branch: branch.to_owned(),
        commit_sha: None,
        verified: false,
        summary: format!("the worker's result could not be read: {reason}"),
        usage: None,
        exit_code: None,
        log_tail: String::new(),
        duration_ms: 0,
    }
}
