//! What goes into a run (inputs, resume commands) and what comes out (outcomes, interrupts).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::State;

/// How an invocation starts or continues a thread.
pub enum Input<S: State> {
    /// Starts a new thread with this state (refused if the thread has checkpoints).
    Start(S),
    /// Applies an update to a finished thread (e.g. a new chat message) and runs it again from START.
    Update(S::Update),
    /// Answers pending interrupts and continues.
    Resume(Command),
    /// Continues from the last checkpoint (after a crash, or for a claimed thread); a finished thread
    /// returns its final state, a waiting one its interrupts.
    Continue,
}

/// The answer(s) to pending interrupts.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub(crate) resume: ResumeWith,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ResumeWith {
    One(Value),
    ByTask(BTreeMap<String, Value>),
}

impl Command {
    /// Answers the single pending interrupt (refused when several are pending).
    pub fn resume(value: Value) -> Self {
        Self {
            resume: ResumeWith::One(value),
        }
    }

    /// Answers the interrupts of the named tasks ([`Interrupt::task_id`]).
    pub fn resume_tasks(answers: BTreeMap<String, Value>) -> Self {
        Self {
            resume: ResumeWith::ByTask(answers),
        }
    }
}

/// A question a node asked a human, waiting for [`Command::resume`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interrupt {
    /// The task that asked.
    pub task_id: String,
    /// The node that asked.
    pub node: String,
    /// Which of the task's interrupts this is (0 first).
    pub index: usize,
    /// What the node asked (e.g. a spec to approve and the buttons to offer).
    pub payload: Value,
    /// When it was asked (engine clock), for reminders and expiry.
    pub asked_at: DateTime<Utc>,
}

/// How an invocation ended (errors aside).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<S> {
    /// No task is left: the run is finished.
    Done {
        /// The final state.
        state: S,
        /// The last checkpoint (0 without a checkpointer's first write).
        checkpoint_id: i64,
    },
    /// Tasks wait for a human.
    Interrupted {
        /// The state at the last checkpoint.
        state: S,
        /// The checkpoint the interrupted super-step started from.
        checkpoint_id: i64,
        /// The questions, in task order.
        interrupts: Vec<Interrupt>,
    },
}

impl<S> Outcome<S> {
    /// Returns the state.
    pub fn state(&self) -> &S {
        match self {
            Outcome::Done { state, .. } | Outcome::Interrupted { state, .. } => state,
        }
    }

    /// Returns the pending interrupts (empty when done).
    pub fn interrupts(&self) -> &[Interrupt] {
        match self {
            Outcome::Done { .. } => &[],
            Outcome::Interrupted { interrupts, .. } => interrupts,
        }
    }

    /// Returns true when the run finished.
    pub fn is_done(&self) -> bool {
        matches!(self, Outcome::Done { .. })
    }
}

/// A thread's state as stored, for status pages and the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadState<S> {
    /// The state at the last checkpoint.
    pub state: S,
    /// The last checkpoint.
    pub checkpoint_id: i64,
    /// Its super-step.
    pub step: i64,
    /// Nodes of the next super-step (with `Send` tasks); empty when the run is done.
    pub next: Vec<String>,
    /// Pending interrupts.
    pub interrupts: Vec<Interrupt>,
}
