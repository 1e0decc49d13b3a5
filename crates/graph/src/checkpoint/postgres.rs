//! The PostgreSQL checkpointer: reads on the pool, writes through the group-commit [`batch`](super::batch).

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::batch::{self, AcquireJob, CommitJob, Job};
use super::{
    CheckpointRecord, Checkpointer, Claimed, Commit, Fence, Grant, LeaseInfo, Leases, Loaded,
    PendingWrite, sql, ttl_delta,
};
use crate::error::CheckpointError;
use crate::thread::ThreadKey;

/// Tuning of the group-commit writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgConfig {
    /// Batches in flight at once; each writer holds one connection of the pool for good.
    pub writers: usize,
    /// Most commits per statement.
    pub max_batch: usize,
    /// Commits that may wait for a writer before `commit` callers wait to enqueue.
    pub queue: usize,
}

impl Default for PgConfig {
    fn default() -> Self {
        Self {
            writers: 2,
            max_batch: 512,
            queue: 8192,
        }
    }
}

/// Checkpoints, pending writes, effects and leases in PostgreSQL (tables of
/// `migrations/20261125000002_graph.sql` and `20261126000001_graph_engine.sql`).
///
/// Every commit waits until its transaction is durable (synchronous commit); commits and lease acquisitions
/// of different threads that wait at the same time share a transaction. The writers hold `writers`
/// connections of the pool. Cloning shares the writers.
#[derive(Clone)]
pub struct PgCheckpointer {
    pool: PgPool,
    jobs: mpsc::Sender<Job>,
}

impl PgCheckpointer {
    /// Starts the writer on the current tokio runtime with the default [`PgConfig`].
    pub fn new(pool: PgPool) -> Self {
        Self::with_config(pool, PgConfig::default())
    }

    /// Starts the writer on the current tokio runtime.
    pub fn with_config(pool: PgPool, config: PgConfig) -> Self {
        let (jobs, queue) = mpsc::channel(config.queue.max(1));
        batch::start(queue, pool.clone(), config.writers, config.max_batch);
        Self { pool, jobs }
    }

    async fn submit<T>(
        &self,
        job: Job,
        answer: oneshot::Receiver<Result<T, CheckpointError>>,
    ) -> Result<T, CheckpointError> {
        self.jobs
            .send(job)
            .await
            .map_err(|_| CheckpointError::WriterStopped)?;
        answer.await.map_err(|_| CheckpointError::WriterStopped)?
    }

    /// Returns the pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl Checkpointer for PgCheckpointer {
    fn load<'a>(
        &'a self,
        thread: &'a ThreadKey,
    ) -> BoxFuture<'a, Result<Option<Loaded>, CheckpointError>> {
        Box::pin(async move {
            let chain = sql::load_chain(&self.pool, thread).await?;
            let Some(head) = chain.last() else {
                return Ok(None);
            };
            let writes = sql::pending_writes(&self.pool, thread, Some(head.checkpoint_id)).await?;
            Ok(Some(Loaded { chain, writes }))
        })
    }

    fn commit<'a>(
        &'a self,
        thread: &'a ThreadKey,
        commit: Commit,
    ) -> BoxFuture<'a, Result<(), CheckpointError>> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            let job = Job::Commit(CommitJob {
                thread: thread.clone(),
                commit,
                reply,
            });
            self.submit(job, answer).await
        })
    }

    fn history<'a>(
        &'a self,
        thread: &'a ThreadKey,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<CheckpointRecord>, CheckpointError>> {
        Box::pin(sql::history(&self.pool, thread, limit))
    }

    fn pending_writes<'a>(
        &'a self,
        thread: &'a ThreadKey,
        checkpoint_id: i64,
    ) -> BoxFuture<'a, Result<Vec<PendingWrite>, CheckpointError>> {
        Box::pin(sql::pending_writes(&self.pool, thread, Some(checkpoint_id)))
    }

    fn effect<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Value>, CheckpointError>> {
        Box::pin(sql::effect(&self.pool, key))
    }

    fn record_effect<'a>(
        &'a self,
        key: &'a str,
        result: Value,
    ) -> BoxFuture<'a, Result<Value, CheckpointError>> {
        Box::pin(sql::record_effect(&self.pool, key, result))
    }
}

impl Leases for PgCheckpointer {
    fn acquire<'a>(
        &'a self,
        thread_id: &'a str,
        owner: &'a str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Grant, CheckpointError>> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            let job = Job::Acquire(AcquireJob {
                thread_id: thread_id.to_owned(),
                owner: owner.to_owned(),
                now,
                ttl,
                reply,
            });
            self.submit(job, answer).await
        })
    }

    fn renew<'a>(
        &'a self,
        thread_id: &'a str,
        fence: &'a Fence,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, CheckpointError>> {
        let expires_at = now + ttl_delta(ttl);
        Box::pin(sql::renew(
            &self.pool,
            thread_id,
            &fence.owner,
            fence.epoch,
            expires_at,
        ))
    }

    fn release<'a>(
        &'a self,
        thread_id: &'a str,
        fence: &'a Fence,
        runnable: bool,
    ) -> BoxFuture<'a, Result<bool, CheckpointError>> {
        Box::pin(sql::release(
            &self.pool,
            thread_id,
            &fence.owner,
            fence.epoch,
            runnable,
        ))
    }

    fn enqueue<'a>(
        &'a self,
        thread_id: &'a str,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), CheckpointError>> {
        Box::pin(sql::enqueue(&self.pool, thread_id, now))
    }

    fn claim<'a>(
        &'a self,
        owner: &'a str,
        limit: i64,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Vec<Claimed>, CheckpointError>> {
        Box::pin(sql::claim(&self.pool, owner, limit, now, ttl))
    }

    fn lease<'a>(
        &'a self,
        thread_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<LeaseInfo>, CheckpointError>> {
        Box::pin(sql::lease(&self.pool, thread_id))
    }
}
