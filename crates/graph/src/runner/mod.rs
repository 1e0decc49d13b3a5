//! The runner: drives a thread through super-steps, checkpointing after each one.
//!
//! # One invocation
//! 1. Take the thread's lease (when configured) and keep renewing it.
//! 2. Open the thread for the [`Input`]: a new thread writes its first checkpoint, an update writes a delta
//!    checkpoint, a resume writes the answers as pending writes, a continue loads the last checkpoint.
//! 3. Super-steps until no task is left (done), a task waits for a human (interrupted), a node fails, or
//!    `max_steps` is reached. After every completed step one checkpoint is committed, fenced by the lease
//!    epoch; the last one also releases the lease.

mod cursor;
mod invoke;
mod lease;
mod resume;
mod step;

use std::sync::Arc;

use crate::checkpoint::{Checkpointer, Claimed, Leases};
use crate::clock::{Clock, SystemClock};
use crate::command::{Input, Outcome, ThreadState};
use crate::error::GraphError;
use crate::graph::Graph;
use crate::state::State;
use crate::thread::ThreadKey;

pub use lease::LeaseConfig;
use lease::LeaseSetup;

/// Limits and checkpoint shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunnerConfig {
    /// Super-steps one invocation may take before stopping with [`GraphError::MaxSteps`].
    pub max_steps: usize,
    /// A full snapshot every this many checkpoints (deltas in between).
    pub snapshot_every: u32,
    /// Largest serialized state a snapshot may have ([`GraphError::State`] beyond).
    pub max_state_bytes: usize,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            max_steps: 100,
            snapshot_every: 16,
            max_state_bytes: 1 << 20,
        }
    }
}

/// Watches a runner's progress (progress messages, metrics, crash-test fixtures). Called inline: keep it fast.
pub trait Observer: Send + Sync + 'static {
    /// A checkpoint was committed: `ran` are the nodes of the step it concludes (empty for an input
    /// checkpoint), `next` the tasks of the following step.
    fn on_checkpoint(
        &self,
        thread: &ThreadKey,
        checkpoint_id: i64,
        ran: &[String],
        next: &[String],
    );
}

/// Runs a [`Graph`] on threads, with an optional checkpointer, leases, clock and observer. Cheap to clone.
pub struct Runner<S: State> {
    pub(crate) graph: Arc<Graph<S>>,
    pub(crate) store: Option<Arc<dyn Checkpointer>>,
    pub(crate) leases: Option<LeaseSetup>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) observer: Option<Arc<dyn Observer>>,
    pub(crate) config: RunnerConfig,
}

impl<S: State> Clone for Runner<S> {
    fn clone(&self) -> Self {
        Self {
            graph: self.graph.clone(),
            store: self.store.clone(),
            leases: self.leases.clone(),
            clock: self.clock.clone(),
            observer: self.observer.clone(),
            config: self.config,
        }
    }
}

impl<S: State> Runner<S> {
    /// Creates a runner without persistence (no checkpoints, no resume), on the system clock.
    pub fn new(graph: Graph<S>) -> Self {
        Self {
            graph: Arc::new(graph),
            store: None,
            leases: None,
            clock: Arc::new(SystemClock),
            observer: None,
            config: RunnerConfig::default(),
        }
    }

    /// Checkpoints every step in `store`.
    pub fn with_checkpointer(mut self, store: Arc<dyn Checkpointer>) -> Self {
        self.store = Some(store);
        self
    }

    /// Leases each thread while running it, and fences every commit with the lease epoch. `leases` must be
    /// the same backend as the checkpointer.
    pub fn with_leases(mut self, leases: Arc<dyn Leases>, config: LeaseConfig) -> Self {
        self.leases = Some(LeaseSetup { leases, config });
        self
    }

    /// Uses `clock` for leases, interrupt times and [`crate::Ctx::now`].
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Reports checkpoints to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Sets limits and the snapshot policy.
    pub fn with_config(mut self, config: RunnerConfig) -> Self {
        self.config = config;
        self
    }

    /// Returns the graph.
    pub fn graph(&self) -> &Graph<S> {
        &self.graph
    }

    /// Runs `thread` with `input` until it is done, interrupted or fails (see the module docs).
    pub async fn invoke(
        &self,
        thread: &ThreadKey,
        input: Input<S>,
    ) -> Result<Outcome<S>, GraphError> {
        let lease = match &self.leases {
            Some(setup) => Some(setup.acquire(thread, &self.clock).await?),
            None => None,
        };
        self.run_leased(thread, input, lease).await
    }

    /// Continues a thread claimed with [`Runner::claim`] (its lease is already ours).
    pub async fn invoke_claimed(&self, claimed: &Claimed) -> Result<Outcome<S>, GraphError> {
        let thread = ThreadKey::new(claimed.thread_id.as_str());
        let lease = self
            .leases
            .as_ref()
            .map(|setup| setup.hold(&claimed.thread_id, claimed.epoch, self.clock.clone()));
        self.run_leased(&thread, Input::Continue, lease).await
    }

    /// Claims up to `limit` runnable threads whose lease is free or expired (e.g. their runner died).
    pub async fn claim(&self, limit: i64) -> Result<Vec<Claimed>, GraphError> {
        let Some(setup) = &self.leases else {
            return Ok(Vec::new());
        };
        let config = &setup.config;
        setup
            .leases
            .claim(&config.owner, limit, self.clock.now(), config.ttl)
            .await
            .map_err(|source| GraphError::Checkpoint {
                thread: "*".to_owned(),
                source,
            })
    }

    /// Returns the stored state of `thread` (`None` without a checkpointer or checkpoints).
    pub async fn get_state(
        &self,
        thread: &ThreadKey,
    ) -> Result<Option<ThreadState<S>>, GraphError> {
        self.thread_state(thread).await
    }
}
