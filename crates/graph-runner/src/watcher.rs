//! Brings coding workers' results into their threads.
//!
//! A node must not block for the minutes a worker runs (the chat's other messages would wait behind it), so the
//! `develop` step waits in an interrupt and this loop resumes it: every `poll` it lists the running tasks of
//! active threads (from PostgreSQL, so a restarted runner picks up where the last one stopped), reads each
//! task's `worker:result:<id>` stream without blocking, and hands a result to its thread. The resume is
//! idempotent — the event id derives from the worker id and the thread records the events it applied — so two
//! runners, or a crash right after a resume, never apply a result twice. An unreadable result is turned into a
//! failure the thread can act on (a worker that lies about its result is a failed worker).

use std::sync::Arc;
use std::time::Duration;

use orch_bus::Bus;
use orch_contracts::messages::worker::{WorkerResult, WorkerStatus};
use orch_contracts::{ProjectId, streams};
use tokio_util::sync::CancellationToken;
use tracing::warn;
use uuid::Uuid;

use crate::conversations::Conversations;
use crate::develop::worker_id;

/// A running task of an active thread.
#[derive(Debug, sqlx::FromRow)]
struct Running {
    project_id: Uuid,
    key: String,
    attempts: i32,
    branch: String,
    telegram_chat_id: i64,
}

/// Polls until `stop`.
pub async fn run(
    conversations: Arc<Conversations>,
    bus: Bus,
    poll: Duration,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        if let Err(e) = pass(&conversations, &bus).await {
            warn!(error.cause_chain = ?e, "checking running workers failed; retrying");
        }
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            () = stop.cancelled() => {}
        }
    }
}

/// One pass over the running tasks; returns how many results were handed to threads.
pub async fn pass(conversations: &Conversations, bus: &Bus) -> anyhow::Result<usize> {
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
        let stream = streams::worker_result(worker);
        let result = match bus
            .wait_for_result::<WorkerResult>(&stream, Duration::from_millis(1))
            .await
        {
            Ok(Some(envelope)) => envelope.body,
            Ok(None) => continue,
            Err(e) => unreadable(worker, &task.branch, &e.to_string()),
        };
        if conversations
            .on_worker_result(task.telegram_chat_id, &task.key, result)
            .await?
        {
            delivered += 1;
        }
    }
    Ok(delivered)
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
