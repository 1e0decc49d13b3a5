//! Durable state-graph engine: nodes, edges, fan-out/join, interrupts, checkpoints in PostgreSQL, leases.
//!
//! In the spirit of LangGraph's core, for the graph-runner: one thread per Telegram chat (per project when a
//! chat has several) moves through a graph of plain Rust nodes, and every step is durable.
//!
//! # Overview
//! - [`Graph::builder`] collects nodes ([`Node`]: async fns from `Arc<S>` and a [`Ctx`] to an update), edges,
//!   conditional edges (routers returning [`Route`]s, including [`Route::send`] fan-out) and joins, and
//!   validates them. The state `S` is a [`State`]: its `apply` is the reducer that merges updates, also the
//!   updates of parallel tasks at the join.
//! - [`Runner`] executes super-steps (all tasks of a step run concurrently). After each step it commits one
//!   checkpoint through a [`Checkpointer`] — [`PgCheckpointer`] (group commit: concurrent threads share a
//!   transaction) or [`MemoryCheckpointer`]. Checkpoints are deltas with a periodic snapshot, so they stay
//!   small. Results of finished tasks of an unfinished step are pending writes, so they never run twice.
//! - A node pauses for a human with [`Ctx::interrupt`]; [`Input::Resume`] with [`Command::resume`] re-runs it
//!   and the call returns the answer.
//! - [`Ctx::once`] and [`effects::once_in_tx`] make side effects of re-run nodes happen once.
//! - With [`Runner::with_leases`] a thread is driven by one runner at a time: a lease with an epoch that every
//!   commit is fenced with, so a runner paused past its lease cannot write after a peer took over. Leases
//!   double as the run queue ([`Runner::claim`]) through which a dead runner's threads are recovered.
//! - `max_steps` stops loops; every error names the thread and node ([`GraphError`]). Time comes from an
//!   injectable [`Clock`].
//!
//! # Layout
//! `graph` (builder, routing), `runner` (invocation, super-step, leases), `checkpoint` (trait, memory,
//! postgres, group commit), `ctx`, `effects`, `command` (inputs and outcomes), `clock`, `state`, `error`.

pub mod checkpoint;
pub mod clock;
mod command;
mod ctx;
pub mod effects;
mod error;
mod graph;
mod node;
mod route;
mod runner;
pub mod state;
mod thread;

pub use checkpoint::{Checkpointer, Leases, MemoryCheckpointer, PgCheckpointer, PgConfig};
pub use clock::{Clock, ManualClock, OffsetClock, SystemClock, TokioClock};
pub use command::{Command, Input, Interrupt, Outcome, ThreadState};
pub use ctx::Ctx;
pub use error::{BuildError, CheckpointError, GraphError, InputRefused};
pub use graph::{Graph, GraphBuilder};
pub use node::{InterruptSignal, Node, NodeError, RetryPolicy};
pub use route::{END, IntoRoutes, Route, START};
pub use runner::{LeaseConfig, Observer, Runner, RunnerConfig};
pub use state::State;
pub use thread::ThreadKey;
