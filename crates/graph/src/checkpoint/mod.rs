//! Durable storage of a thread's progress: checkpoints, pending writes, effect results and leases.
//!
//! # Model
//! - A **checkpoint** is written after every super-step. Its `body` is either a full [`StateBody::Snapshot`]
//!   or a [`StateBody::Delta`] — the updates the step applied, in task order; loading reads the latest
//!   snapshot and replays the deltas after it. `next_nodes` (+ `meta` for `Send` arguments and join
//!   progress) say what runs next; empty means the run is done. Ids grow by one per checkpoint, so two runners
//!   writing the same step collide on the primary key.
//! - **Pending writes** hold results of tasks of a super-step that has not completed yet (an update of a task
//!   whose siblings are still running or failed, an interrupt, a resume value), keyed by
//!   `(checkpoint, task_id, idx)`, so a resumed step does not re-run finished tasks. They are dropped when the
//!   next checkpoint lands.
//! - A **fence** (lease owner + epoch) makes a commit conditional on the lease still being held: a runner that
//!   lost its lease (paused past the TTL, taken over with epoch + 1) cannot write.
//!
//! Implementations: [`MemoryCheckpointer`] (tests) and [`PgCheckpointer`] (group commit in PostgreSQL).

mod batch;
mod columns;
mod memory;
mod postgres;
mod sql;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::Value;

pub use memory::MemoryCheckpointer;
pub use postgres::{PgCheckpointer, PgConfig};

use crate::error::CheckpointError;
use crate::thread::ThreadKey;

/// Well-known channels of pending writes and their fixed `idx`.
///
/// Task updates use `idx >= 0` and are first-writer-wins; the special channels use negative indexes and are
/// replaced on rewrite (the latest interrupt of a task, its growing list of resume values).
pub mod channels {
    /// A task's update (idx 0).
    pub const UPDATE: &str = "__update__";
    /// A task's failure, for inspection (idx -1).
    pub const ERROR: &str = "__error__";
    /// A task's pending interrupt (idx -3).
    pub const INTERRUPT: &str = "__interrupt__";
    /// The answers given to a task's interrupts, in order (idx -4).
    pub const RESUME: &str = "__resume__";
    /// The idx of [`UPDATE`].
    pub const UPDATE_IDX: i32 = 0;
    /// The idx of [`ERROR`].
    pub const ERROR_IDX: i32 = -1;
    /// The idx of [`INTERRUPT`].
    pub const INTERRUPT_IDX: i32 = -3;
    /// The idx of [`RESUME`].
    pub const RESUME_IDX: i32 = -4;
}

/// The proof of lease ownership a commit carries: it lands only while the lease has this owner and epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lease owner (unique per runner process).
    pub owner: Arc<str>,
    /// The lease epoch (grows by one on every acquisition).
    pub epoch: i64,
}

/// The state part of a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum StateBody {
    /// The whole state.
    Snapshot(Value),
    /// The updates this step applied to the previous checkpoint's state, in task order.
    Delta(Vec<Value>),
}

/// One stored checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointRecord {
    /// Position in the thread: the parent's id + 1.
    pub checkpoint_id: i64,
    /// The previous checkpoint, if any.
    pub parent_id: Option<i64>,
    /// Super-steps since the thread began.
    pub step: i64,
    /// The state, whole or as a delta.
    pub body: StateBody,
    /// Nodes to run next (without `Send` tasks); empty with no `meta` means the run is done.
    pub next_nodes: Vec<String>,
    /// `Send` tasks and partial join progress, when there are any.
    pub meta: Option<Value>,
    /// The lease epoch it was written under (0 without a lease).
    pub lease_epoch: i64,
}

/// One pending write of a task of the super-step after a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingWrite {
    /// The task (`checkpoint:node:index`).
    pub task_id: String,
    /// Position within the task's writes; negative for the special [`channels`].
    pub idx: i32,
    /// The channel.
    pub channel: String,
    /// The value.
    pub value: Value,
}

/// A checkpoint chain as loaded: the latest snapshot, the deltas after it, and the head's pending writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// Snapshot first, head last (never empty).
    pub chain: Vec<CheckpointRecord>,
    /// Pending writes of the head.
    pub writes: Vec<PendingWrite>,
}

impl Loaded {
    /// Returns the newest checkpoint.
    pub fn head(&self) -> Option<&CheckpointRecord> {
        self.chain.last()
    }
}

/// What one call to [`Checkpointer::commit`] stores, atomically.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Commit {
    /// New checkpoints, in id order: usually one; two when a run's input checkpoint is written together
    /// with its first step's. Either all of them land or none.
    pub checkpoints: Vec<CheckpointRecord>,
    /// Drops the pending writes of the new checkpoint's parent when it lands (they are no longer needed).
    /// The runner sets it only when the parent has writes, so the common commit stays a single insert.
    pub drop_parent_writes: bool,
    /// The checkpoint the `writes` belong to.
    pub writes_for: i64,
    /// Pending writes.
    pub writes: Vec<PendingWrite>,
    /// When set, nothing is stored unless the lease still has this owner and epoch.
    pub fence: Option<Fence>,
    /// Releases the fenced lease (not runnable) in the same transaction: the run is done or waits.
    pub release: bool,
}

/// Stores checkpoints, pending writes and effect results. Both implementations pass the same conformance suite.
pub trait Checkpointer: Send + Sync + 'static {
    /// Loads the latest snapshot, the deltas after it and the head's pending writes; `None` for a new thread.
    fn load<'a>(
        &'a self,
        thread: &'a ThreadKey,
    ) -> BoxFuture<'a, Result<Option<Loaded>, CheckpointError>>;

    /// Stores `commit` atomically: all of it, or — when the fence fails — none of it
    /// ([`CheckpointError::Fenced`]). If any of its checkpoint ids is taken, none of its checkpoints is
    /// stored ([`CheckpointError::Conflict`]). Pending writes with an existing `(task_id, idx >= 0)` are kept
    /// as first written.
    fn commit<'a>(
        &'a self,
        thread: &'a ThreadKey,
        commit: Commit,
    ) -> BoxFuture<'a, Result<(), CheckpointError>>;

    /// Returns up to `limit` checkpoints, newest first.
    fn history<'a>(
        &'a self,
        thread: &'a ThreadKey,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<CheckpointRecord>, CheckpointError>>;

    /// Returns the pending writes of one checkpoint, ordered by task and idx.
    fn pending_writes<'a>(
        &'a self,
        thread: &'a ThreadKey,
        checkpoint_id: i64,
    ) -> BoxFuture<'a, Result<Vec<PendingWrite>, CheckpointError>>;

    /// Returns the recorded result of the effect with idempotency key `key`, if it ran.
    fn effect<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Value>, CheckpointError>>;

    /// Records an effect's result unless one is recorded already; returns the recorded one (first wins).
    fn record_effect<'a>(
        &'a self,
        key: &'a str,
        result: Value,
    ) -> BoxFuture<'a, Result<Value, CheckpointError>>;

    /// Stores one checkpoint and drops its parent's pending writes (see [`Checkpointer::commit`]).
    fn put<'a>(
        &'a self,
        thread: &'a ThreadKey,
        checkpoint: CheckpointRecord,
        fence: Option<Fence>,
    ) -> BoxFuture<'a, Result<(), CheckpointError>> {
        let commit = Commit {
            writes_for: checkpoint.checkpoint_id,
            checkpoints: vec![checkpoint],
            drop_parent_writes: true,
            fence,
            ..Commit::default()
        };
        self.commit(thread, commit)
    }

    /// Stores partial results of the super-step after checkpoint `checkpoint_id` (see [`Checkpointer::commit`]).
    fn put_writes<'a>(
        &'a self,
        thread: &'a ThreadKey,
        checkpoint_id: i64,
        writes: Vec<PendingWrite>,
        fence: Option<Fence>,
    ) -> BoxFuture<'a, Result<(), CheckpointError>> {
        let commit = Commit {
            writes_for: checkpoint_id,
            writes,
            fence,
            ..Commit::default()
        };
        self.commit(thread, commit)
    }
}

/// The outcome of trying to take a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Taken, with this epoch.
    Acquired {
        /// The new epoch (previous + 1).
        epoch: i64,
    },
    /// Another owner holds it.
    Held {
        /// The holder.
        owner: String,
        /// When it expires unless renewed.
        expires_at: DateTime<Utc>,
    },
}

/// A thread claimed from the run queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The thread id.
    pub thread_id: String,
    /// The epoch of the new lease.
    pub epoch: i64,
}

/// A lease row as stored (for inspection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    /// The owner; empty when released.
    pub owner: String,
    /// The current epoch.
    pub epoch: i64,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// Whether the thread waits in the run queue (or runs, and is recovered if its runner dies).
    pub runnable: bool,
}

/// Per-thread leases with epoch fencing, doubling as the run queue.
///
/// A lease row exists per thread. Acquiring it (free, released or expired) increments the epoch; commits
/// fenced with an older epoch are rejected. A `runnable` thread whose lease is free or expired can be claimed
/// by any runner ([`Leases::claim`], `FOR UPDATE SKIP LOCKED`): that is how a run whose runner died is resumed.
pub trait Leases: Send + Sync + 'static {
    /// Takes the lease of `thread_id` for `ttl` if it is free or expired at `now`, and marks it runnable.
    fn acquire<'a>(
        &'a self,
        thread_id: &'a str,
        owner: &'a str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Grant, CheckpointError>>;

    /// Extends the lease to `now + ttl`; false when it is no longer ours.
    fn renew<'a>(
        &'a self,
        thread_id: &'a str,
        fence: &'a Fence,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, CheckpointError>>;

    /// Gives the lease up, leaving the thread `runnable` or not; false when it was no longer ours.
    fn release<'a>(
        &'a self,
        thread_id: &'a str,
        fence: &'a Fence,
        runnable: bool,
    ) -> BoxFuture<'a, Result<bool, CheckpointError>>;

    /// Marks `thread_id` runnable (creating its lease row), to be claimed by a runner.
    fn enqueue<'a>(
        &'a self,
        thread_id: &'a str,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), CheckpointError>>;

    /// Claims up to `limit` runnable threads whose lease is free or expired, oldest first; each claim is
    /// exclusive (no two claimers get the same thread).
    fn claim<'a>(
        &'a self,
        owner: &'a str,
        limit: i64,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Vec<Claimed>, CheckpointError>>;

    /// Returns the lease row of `thread_id`, if any.
    fn lease<'a>(
        &'a self,
        thread_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<LeaseInfo>, CheckpointError>>;
}

/// Converts a TTL to a chrono delta (saturating).
pub(crate) fn ttl_delta(ttl: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(ttl).unwrap_or(chrono::TimeDelta::MAX)
}
