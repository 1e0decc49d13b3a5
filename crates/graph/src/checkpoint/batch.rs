//! Group commit: commits of many threads waiting at the same time are written in one statement and one
//! transaction, so they share one WAL flush.
//!
//! A dispatcher takes a writer permit, then the first queued commit, then whatever else is queued (up to
//! `max_batch`), and hands the batch to a writer task. While every writer is busy, commits accumulate, so the
//! batch size follows the load: one commit per statement when a single thread runs, hundreds under load.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::debug;

use super::sql::{self, BatchColumns, OpOutcome};
use super::{Commit, StateBody};
use crate::error::CheckpointError;
use crate::thread::ThreadKey;

/// One commit waiting for the writer.
pub(super) struct Job {
    pub thread: ThreadKey,
    pub commit: Commit,
    pub reply: oneshot::Sender<Result<(), CheckpointError>>,
}

/// Takes batches off the queue while a writer permit is free; returns when every sender is gone.
pub(super) async fn dispatch(
    mut jobs: mpsc::Receiver<Job>,
    pool: PgPool,
    writers: usize,
    max_batch: usize,
) {
    let permits = Arc::new(Semaphore::new(writers.max(1)));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = jobs.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            write_rounds(&pool, batch).await;
            drop(permit);
        });
    }
}

/// Writes a batch; jobs that touch a key already in the batch go to a later round (ON CONFLICT DO UPDATE
/// may not touch one row twice in a statement).
async fn write_rounds(pool: &PgPool, mut batch: Vec<Job>) {
    while !batch.is_empty() {
        let (round, rest) = split_round(batch);
        write_round(pool, round).await;
        batch = rest;
    }
}

fn split_round(batch: Vec<Job>) -> (Vec<Job>, Vec<Job>) {
    let mut keys = HashSet::new();
    let (mut round, mut rest) = (Vec::new(), Vec::new());
    for job in batch {
        let job_keys = keys_of(&job);
        if job_keys.iter().any(|k| keys.contains(k)) {
            rest.push(job);
        } else {
            keys.extend(job_keys);
            round.push(job);
        }
    }
    (round, rest)
}

fn keys_of(job: &Job) -> Vec<String> {
    let thread = &job.thread;
    let mut keys: Vec<String> = job
        .commit
        .writes
        .iter()
        .map(|w| {
            format!(
                "w|{thread}|{}|{}|{}",
                job.commit.writes_for, w.task_id, w.idx
            )
        })
        .collect();
    if let Some(cp) = &job.commit.checkpoint {
        keys.push(format!("c|{thread}|{}", cp.checkpoint_id));
    }
    keys
}

async fn write_round(pool: &PgPool, round: Vec<Job>) {
    let columns = columns(&round);
    debug!(commits = round.len(), "writing a checkpoint batch");
    let result = match pool.acquire().await {
        Ok(mut conn) => sql::write_batch(&mut conn, &columns).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(outcomes) => reply_outcomes(round, &outcomes),
        Err(e) => {
            let shared = Arc::new(e);
            for job in round {
                let _ = job.reply.send(Err(CheckpointError::Database {
                    action: "writing a checkpoint batch",
                    source: shared.clone(),
                }));
            }
        }
    }
}

fn reply_outcomes(round: Vec<Job>, outcomes: &[OpOutcome]) {
    let mut by_op = vec![None; round.len()];
    for outcome in outcomes {
        if let Some(slot) = usize::try_from(outcome.op)
            .ok()
            .and_then(|i| by_op.get_mut(i))
        {
            *slot = Some(*outcome);
        }
    }
    for (job, outcome) in round.into_iter().zip(by_op) {
        let _ = job.reply.send(verdict(&job.thread, &job.commit, outcome));
    }
}

fn verdict(
    thread: &ThreadKey,
    commit: &Commit,
    outcome: Option<OpOutcome>,
) -> Result<(), CheckpointError> {
    let outcome = outcome.unwrap_or(OpOutcome {
        op: -1,
        fence_ok: false,
        inserted: false,
    });
    if let (false, Some(fence)) = (outcome.fence_ok, &commit.fence) {
        return Err(CheckpointError::Fenced {
            thread: thread.to_string(),
            owner: fence.owner.to_string(),
            epoch: fence.epoch,
        });
    }
    match (&commit.checkpoint, outcome.inserted) {
        (Some(cp), false) => Err(CheckpointError::Conflict {
            thread: thread.to_string(),
            checkpoint_id: cp.checkpoint_id,
        }),
        _ => Ok(()),
    }
}

fn columns(round: &[Job]) -> BatchColumns {
    let mut c = BatchColumns::default();
    for (op, job) in round.iter().enumerate() {
        let op = i32::try_from(op).unwrap_or(i32::MAX);
        let fence = job.commit.fence.as_ref();
        c.op.push(op);
        c.thread_id.push(job.thread.thread_id().to_owned());
        c.epoch.push(fence.map(|f| f.epoch));
        c.owner.push(fence.map(|f| f.owner.to_string()));
        c.release.push(job.commit.release);
        push_checkpoint(&mut c, op, job);
        push_writes(&mut c, op, job);
    }
    c
}

fn push_checkpoint(c: &mut BatchColumns, op: i32, job: &Job) {
    let Some(cp) = &job.commit.checkpoint else {
        return;
    };
    let (state, delta) = match &cp.body {
        StateBody::Snapshot(state) => (state.clone(), false),
        StateBody::Delta(updates) => (Value::Array(updates.clone()), true),
    };
    c.cp_op.push(op);
    c.cp_namespace.push(job.thread.namespace().to_owned());
    c.cp_id.push(cp.checkpoint_id);
    c.cp_parent.push(cp.parent_id);
    c.cp_step.push(cp.step);
    c.cp_state.push(state);
    c.cp_next.push(Value::from(cp.next_nodes.clone()));
    c.cp_meta.push(cp.meta.clone());
    c.cp_delta.push(delta);
}

fn push_writes(c: &mut BatchColumns, op: i32, job: &Job) {
    for w in &job.commit.writes {
        c.w_op.push(op);
        c.w_namespace.push(job.thread.namespace().to_owned());
        c.w_checkpoint.push(job.commit.writes_for);
        c.w_task.push(w.task_id.clone());
        c.w_idx.push(w.idx);
        c.w_channel.push(w.channel.clone());
        c.w_value.push(w.value.clone());
    }
}
