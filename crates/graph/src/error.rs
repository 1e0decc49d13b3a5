//! Errors at the engine's three boundaries: building a graph, storing checkpoints, running a thread.
//!
//! Every run-time error names the thread, and the node where one is involved, so a log line alone says where
//! a run stopped.

use std::sync::Arc;

use chrono::{DateTime, Utc};

/// Why a graph does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// Two nodes share a name.
    #[error("node {0} is defined twice")]
    DuplicateNode(String),
    /// A node uses a reserved name (`__start__`, `__end__`) or an empty one.
    #[error("node name {0:?} is reserved or empty")]
    ReservedName(String),
    /// An edge or join names a node that does not exist.
    #[error("edge {from} -> {to} names an unknown node")]
    UnknownNode {
        /// The edge's source.
        from: String,
        /// The edge's target.
        to: String,
    },
    /// Nothing leaves START.
    #[error("the graph has no entry: add an edge or conditional edges from START")]
    NoEntry,
    /// A join has no sources.
    #[error("the join into {0} has no sources")]
    EmptyJoin(String),
}

/// Why a checkpoint store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CheckpointError {
    /// The writer's lease epoch is no longer current: another runner took the thread over.
    #[error("thread {thread}: lease epoch {epoch} of {owner} is no longer current; write rejected")]
    Fenced {
        /// The thread.
        thread: String,
        /// The stale owner.
        owner: String,
        /// The stale epoch.
        epoch: i64,
    },
    /// The checkpoint id is taken: another runner wrote this step.
    #[error("thread {thread}: checkpoint {checkpoint_id} already exists; another runner wrote it")]
    Conflict {
        /// The thread.
        thread: String,
        /// The checkpoint id that was taken.
        checkpoint_id: i64,
    },
    /// The database failed or refused a statement.
    #[error("database error while {action}: {source}")]
    Database {
        /// What was being done.
        action: &'static str,
        /// The underlying error (shared by every write of a failed batch).
        #[source]
        source: Arc<sqlx::Error>,
    },
    /// The group-commit writer has shut down.
    #[error("the checkpoint writer has stopped")]
    WriterStopped,
}

impl CheckpointError {
    pub(crate) fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |source| Self::Database {
            action,
            source: Arc::new(source),
        }
    }
}

/// Why running a thread stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// A node returned an error.
    #[error("thread {thread}: node {node} failed: {source}")]
    Node {
        /// The thread.
        thread: String,
        /// The node.
        node: String,
        /// The task (checkpoint:node:index), for matching log lines and pending writes.
        task_id: String,
        /// What the node returned.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A node panicked.
    #[error("thread {thread}: node {node} panicked: {message}")]
    NodePanicked {
        /// The thread.
        thread: String,
        /// The node.
        node: String,
        /// The panic message.
        message: String,
    },
    /// The run took more super-steps than allowed: most likely a loop.
    #[error(
        "thread {thread}: stopped after max_steps = {limit} super-steps (next: {next:?}); is there a loop?"
    )]
    MaxSteps {
        /// The thread.
        thread: String,
        /// The limit.
        limit: usize,
        /// The nodes that would have run next.
        next: Vec<String>,
    },
    /// A router returned a node that does not exist, or a Send argument that does not serialize.
    #[error("thread {thread}: routing after node {node} failed: {message}")]
    Route {
        /// The thread.
        thread: String,
        /// The node whose router failed.
        node: String,
        /// What was wrong.
        message: String,
    },
    /// The checkpoint store failed (a lease fence rejection is [`CheckpointError::Fenced`]).
    #[error("thread {thread}: checkpoint store: {source}")]
    Checkpoint {
        /// The thread.
        thread: String,
        /// The store's error.
        #[source]
        source: CheckpointError,
    },
    /// Another runner holds the thread's lease.
    #[error("thread {thread}: lease held by {owner} until {expires_at}")]
    LeaseHeld {
        /// The thread.
        thread: String,
        /// The holder.
        owner: String,
        /// When the holder's lease expires unless renewed.
        expires_at: DateTime<Utc>,
    },
    /// The lease could not be renewed: another runner took the thread over.
    #[error("thread {thread}: lease lost to another runner")]
    LeaseLost {
        /// The thread.
        thread: String,
    },
    /// Stored state, an update or an argument did not (de)serialize, or the state is too large.
    #[error("thread {thread}: state: {message}")]
    State {
        /// The thread.
        thread: String,
        /// What was wrong.
        message: String,
    },
    /// The input does not fit the thread's current status.
    #[error("thread {thread}: {reason}")]
    Input {
        /// The thread.
        thread: String,
        /// Why the input was refused.
        reason: InputRefused,
    },
}

/// Why an input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputRefused {
    /// `Input::Start` on a thread that already has checkpoints.
    #[error("already started")]
    AlreadyStarted,
    /// `Input::Continue`, `Update` or `Resume` on a thread without checkpoints.
    #[error("not started")]
    NotStarted,
    /// `Input::Update` while a run is unfinished (resume or continue it first).
    #[error("a run is in progress")]
    RunInProgress,
    /// `Input::Resume` without a pending interrupt (e.g. a duplicate approval).
    #[error("no interrupt is waiting for an answer")]
    NotInterrupted,
    /// `Command::resume` with several pending interrupts: answer them by task id.
    #[error("several interrupts are pending ({0:?}); resume them by task id")]
    AmbiguousResume(Vec<String>),
    /// A resume names a task that has no pending interrupt.
    #[error("task {0} has no pending interrupt")]
    UnknownInterrupt(String),
    /// Resuming needs a checkpointer to hold the interrupt.
    #[error("resuming needs a checkpointer")]
    NoCheckpointer,
}

impl GraphError {
    /// Returns true when a lease fence rejected a write or the lease was lost: this runner must let go.
    pub fn is_fenced(&self) -> bool {
        matches!(
            self,
            GraphError::LeaseLost { .. }
                | GraphError::Checkpoint {
                    source: CheckpointError::Fenced { .. },
                    ..
                }
        )
    }

    /// Returns the node involved, if any.
    pub fn node(&self) -> Option<&str> {
        match self {
            GraphError::Node { node, .. }
            | GraphError::NodePanicked { node, .. }
            | GraphError::Route { node, .. } => Some(node),
            _ => None,
        }
    }
}
