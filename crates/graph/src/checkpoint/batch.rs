//! Group commit: commits (and lease acquisitions) of many threads waiting at the same time are written in one
//! statement and one transaction, so they share one WAL flush.
//!
//! `writers` long-lived writer tasks, each with its own connection, take turns at the queue: the one whose
//! turn it is takes the first queued job and whatever else is queued (up to `max_batch`), releases the queue
//! and writes. While the writers are busy, jobs accumulate, so the batch size follows the load: one commit
//! per statement when a single thread runs, hundreds under load.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use tokio::sync::{Mutex, mpsc, oneshot};
use tracing::{debug, warn};

use super::columns::{
    acquire_columns, commit_columns, fence_columns, grants, missing_fenced, plain_outcomes,
    reply_commits,
};
use super::sql;
use super::{Commit, Grant};
use crate::error::CheckpointError;
use crate::thread::ThreadKey;

/// A commit waiting for a writer.
pub(super) struct CommitJob {
    pub thread: ThreadKey,
    pub commit: Commit,
    pub reply: oneshot::Sender<Result<(), CheckpointError>>,
}

/// A lease acquisition waiting for a writer.
pub(super) struct AcquireJob {
    pub thread_id: String,
    pub owner: String,
    pub now: DateTime<Utc>,
    pub ttl: Duration,
    pub reply: oneshot::Sender<Result<Grant, CheckpointError>>,
}

/// Work for the writers.
pub(super) enum Job {
    Commit(CommitJob),
    Acquire(AcquireJob),
}

/// Starts the writers on the current runtime; they stop when every sender is gone.
pub(super) fn start(jobs: mpsc::Receiver<Job>, pool: PgPool, writers: usize, max_batch: usize) {
    let queue = Arc::new(Mutex::new(jobs));
    for _ in 0..writers.max(1) {
        tokio::spawn(writer(queue.clone(), pool.clone(), max_batch.max(1)));
    }
}

/// Writes batches until the queue closes or the pool starts closing (then the connection is given back, so
/// `PgPool::close` does not wait for the writers).
async fn writer(queue: Arc<Mutex<mpsc::Receiver<Job>>>, pool: PgPool, max_batch: usize) {
    let mut conn: Option<PoolConnection<Postgres>> = None;
    let closing = pool.close_event();
    tokio::pin!(closing);
    loop {
        let batch = tokio::select! {
            _ = &mut closing => return,
            batch = next_batch(&queue, max_batch) => batch,
        };
        let Some(mut batch) = batch else {
            // The connection has a writer-only session setting: close it rather than give it back.
            if let Some(c) = conn.take() {
                let _ = c.close().await;
            }
            return;
        };
        while !batch.is_empty() {
            let (round, rest) = split_round(batch);
            write_round(&pool, &mut conn, round).await;
            batch = rest;
        }
    }
}

/// Waits for the queue, then takes the first job and everything queued behind it.
async fn next_batch(queue: &Mutex<mpsc::Receiver<Job>>, max_batch: usize) -> Option<Vec<Job>> {
    let mut jobs = queue.lock().await;
    let mut batch = vec![jobs.recv().await?];
    while batch.len() < max_batch {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// Splits off the jobs that touch a key already in the batch (ON CONFLICT DO UPDATE may not touch one row
/// twice in a statement); they go to a later round.
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
    let job = match job {
        Job::Acquire(a) => return vec![format!("l|{}", a.thread_id)],
        Job::Commit(c) => c,
    };
    let (thread, commit) = (&job.thread, &job.commit);
    let mut keys: Vec<String> = commit
        .writes
        .iter()
        .map(|w| format!("w|{thread}|{}|{}|{}", commit.writes_for, w.task_id, w.idx))
        .collect();
    for cp in &commit.checkpoints {
        keys.push(format!("c|{thread}|{}", cp.checkpoint_id));
    }
    keys
}

/// Writes one round on the writer's connection (opened on first use, closed after an error).
async fn write_round(pool: &PgPool, conn: &mut Option<PoolConnection<Postgres>>, round: Vec<Job>) {
    let (mut commits, mut acquires) = (Vec::new(), Vec::new());
    for job in round {
        match job {
            Job::Commit(c) if !c.reply.is_closed() => commits.push(c),
            Job::Acquire(a) if !a.reply.is_closed() => acquires.push(a),
            _ => {} // the caller gave up before its turn: nothing is written for it
        }
    }
    debug!(
        commits = commits.len(),
        acquires = acquires.len(),
        "writing a batch"
    );
    let result = match conn {
        Some(c) => execute(c, &commits, &acquires).await,
        None => match open(pool).await {
            Ok(c) => execute(conn.insert(c), &commits, &acquires).await,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok((outcomes, granted)) => {
            reply_commits(commits, &outcomes);
            reply_grants(pool, acquires, granted).await;
        }
        Err(e) => fail_round(conn, commits, acquires, e).await,
    }
}

async fn open(pool: &PgPool) -> Result<PoolConnection<Postgres>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    sql::prepare_writer(&mut conn).await?;
    Ok(conn)
}

type Executed = (Vec<sql::OpOutcome>, Vec<(String, i64)>);

/// Runs the round's statements: one autocommitted statement when the round is all commits or all
/// acquisitions, both in one transaction otherwise.
async fn execute(
    conn: &mut PgConnection,
    commits: &[CommitJob],
    acquires: &[AcquireJob],
) -> Result<Executed, sqlx::Error> {
    match (commits.is_empty(), acquires.is_empty()) {
        (false, true) if commits.iter().all(is_plain) => {
            Ok((plain_commits(conn, commits).await?, Vec::new()))
        }
        (false, true) => Ok((
            sql::write_batch(conn, &commit_columns(commits)).await?,
            Vec::new(),
        )),
        (true, false) => Ok((
            Vec::new(),
            sql::acquire_batch(conn, &acquire_columns(acquires)).await?,
        )),
        (true, true) => Ok((Vec::new(), Vec::new())),
        (false, false) => {
            let mut tx = conn.begin().await?;
            let outcomes = sql::write_batch(&mut tx, &commit_columns(commits)).await?;
            let granted = sql::acquire_batch(&mut tx, &acquire_columns(acquires)).await?;
            tx.commit().await?;
            Ok((outcomes, granted))
        }
    }
}

/// Whether a commit is just one checkpoint (the common case, written by the simpler statement).
fn is_plain(job: &CommitJob) -> bool {
    let c = &job.commit;
    c.checkpoints.len() == 1 && c.writes.is_empty() && !c.release && !c.drop_parent_writes
}

/// Inserts plain checkpoints; asks the leases about the rows that were not inserted (fenced or conflict).
async fn plain_commits(
    conn: &mut PgConnection,
    commits: &[CommitJob],
) -> Result<Vec<sql::OpOutcome>, sqlx::Error> {
    let inserted = match commits {
        [one] => sql::insert_checkpoint(conn, one)
            .await?
            .into_iter()
            .collect(),
        many => sql::insert_checkpoints(conn, &commit_columns(many)).await?,
    };
    let missing = missing_fenced(commits, &inserted);
    let held = match missing.is_empty() {
        true => Vec::new(),
        false => {
            let (threads, epochs, owners) = fence_columns(commits, &missing);
            sql::fences_held(conn, &threads, &epochs, &owners).await?
        }
    };
    Ok(plain_outcomes(commits, &inserted, &missing, &held))
}

/// Answers acquisitions: granted ones with their epoch, the others with their holder.
async fn reply_grants(pool: &PgPool, acquires: Vec<AcquireJob>, granted: Vec<(String, i64)>) {
    let refused: Vec<String> = acquires
        .iter()
        .filter(|a| !granted.iter().any(|(t, _)| *t == a.thread_id))
        .map(|a| a.thread_id.clone())
        .collect();
    let holders = match refused.is_empty() {
        true => Ok(Vec::new()),
        false => sql::holders(pool, &refused).await,
    };
    match holders {
        Ok(holders) => {
            for (job, grant) in grants(acquires, &granted, &holders) {
                let _ = job.reply.send(Ok(grant));
            }
        }
        Err(e) => {
            for job in acquires {
                let _ = job.reply.send(Err(e.clone()));
            }
        }
    }
}

async fn fail_round(
    conn: &mut Option<PoolConnection<Postgres>>,
    commits: Vec<CommitJob>,
    acquires: Vec<AcquireJob>,
    error: sqlx::Error,
) {
    warn!(error = %error, "a checkpoint batch failed");
    if let Some(c) = conn.take() {
        let _ = c.close().await;
    }
    let error = CheckpointError::Database {
        action: "writing a checkpoint batch",
        source: Arc::new(error),
    };
    for job in commits {
        let _ = job.reply.send(Err(error.clone()));
    }
    for job in acquires {
        let _ = job.reply.send(Err(error.clone()));
    }
}
