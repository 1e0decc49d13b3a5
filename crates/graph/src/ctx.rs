//! What a running node can ask of the engine: its identity, its `Send` argument, interrupts, once-only effects.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::checkpoint::Checkpointer;
use crate::clock::Clock;
use crate::node::{InterruptSignal, NodeError};
use crate::thread::ThreadKey;

/// The context of one task (one node run within one super-step).
///
/// Everything that identifies the task is deterministic — the same after a crash and re-run, or after a
/// resume — so effect keys derived from it ([`Ctx::effect_key`]) are stable idempotency keys.
#[derive(Clone)]
pub struct Ctx {
    scope: Arc<TaskScope>,
}

pub(crate) struct TaskScope {
    pub(crate) thread: ThreadKey,
    pub(crate) node: Arc<str>,
    pub(crate) task_id: String,
    pub(crate) step: i64,
    pub(crate) arg: Option<Value>,
    pub(crate) resume: Vec<Value>,
    pub(crate) store: Option<Arc<dyn Checkpointer>>,
    pub(crate) clock: Arc<dyn Clock>,
    next_interrupt: AtomicUsize,
    raised: Mutex<Option<InterruptSignal>>,
}

/// The parts of a task scope the runner fills in.
pub(crate) struct ScopeParts {
    pub(crate) thread: ThreadKey,
    pub(crate) node: Arc<str>,
    pub(crate) task_id: String,
    pub(crate) step: i64,
    pub(crate) arg: Option<Value>,
    pub(crate) resume: Vec<Value>,
    pub(crate) store: Option<Arc<dyn Checkpointer>>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Ctx {
    pub(crate) fn new(parts: ScopeParts) -> Self {
        let scope = TaskScope {
            thread: parts.thread,
            node: parts.node,
            task_id: parts.task_id,
            step: parts.step,
            arg: parts.arg,
            resume: parts.resume,
            store: parts.store,
            clock: parts.clock,
            next_interrupt: AtomicUsize::new(0),
            raised: Mutex::new(None),
        };
        Self {
            scope: Arc::new(scope),
        }
    }

    /// Returns the thread.
    pub fn thread(&self) -> &ThreadKey {
        &self.scope.thread
    }

    /// Returns the node's name.
    pub fn node(&self) -> &str {
        &self.scope.node
    }

    /// Returns the task id: `<checkpoint id>:<node>:<task index>`.
    pub fn task_id(&self) -> &str {
        &self.scope.task_id
    }

    /// Returns the super-step this task belongs to.
    pub fn step(&self) -> i64 {
        self.scope.step
    }

    /// Returns the engine clock's time.
    pub fn now(&self) -> DateTime<Utc> {
        self.scope.clock.now()
    }

    /// Returns the argument of the `Send` that created this task.
    pub fn arg<T: DeserializeOwned>(&self) -> Result<T, NodeError> {
        let arg = self.scope.arg.as_ref().ok_or_else(|| {
            NodeError::msg(format!("node {} was not started by a Send", self.node()))
        })?;
        Ok(T::deserialize(arg)?)
    }

    /// Pauses the run for a human: the first time, returns an interrupt error carrying `payload` (propagate
    /// it with `?`); the run stops with [`crate::Outcome::Interrupted`] and is persisted. When the run is
    /// resumed with [`crate::Command::resume`], the node runs again from its start and this call returns the
    /// answer. The n-th call of a task gets the n-th answer.
    pub fn interrupt<T: DeserializeOwned>(&self, payload: impl Serialize) -> Result<T, NodeError> {
        let index = self.scope.next_interrupt.fetch_add(1, Ordering::SeqCst);
        if let Some(answer) = self.scope.resume.get(index) {
            return T::deserialize(answer).map_err(|e| {
                NodeError::msg(format!("the answer to interrupt {index} does not fit: {e}"))
            });
        }
        let signal = InterruptSignal {
            index,
            payload: serde_json::to_value(payload)?,
        };
        *self.raised_slot() = Some(signal.clone());
        Err(NodeError::interrupt(signal))
    }

    /// Returns the interrupt this task raised, even if the node swallowed the error.
    pub(crate) fn raised(&self) -> Option<InterruptSignal> {
        self.raised_slot().clone()
    }

    fn raised_slot(&self) -> std::sync::MutexGuard<'_, Option<InterruptSignal>> {
        self.scope
            .raised
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns the idempotency key of effect `name` of this task: `<thread>/<namespace>/<task id>/<name>`.
    ///
    /// Stable across re-runs of the task; different in a later iteration of a loop (a new task id).
    pub fn effect_key(&self, name: &str) -> String {
        let thread = &self.scope.thread;
        format!(
            "{}/{}/{}/{name}",
            thread.thread_id(),
            thread.namespace(),
            self.scope.task_id
        )
    }

    /// Performs effect `name` once per task: if it already completed (recorded in the checkpointer's
    /// effects), returns the recorded result without calling `f`; otherwise calls `f` with the idempotency
    /// key and records its result.
    ///
    /// A crash after `f` and before the record means `f` runs again with the same key, so `f` must pass the
    /// key to the external system (which deduplicates on it) — at-least-once calls, exactly-once effect.
    /// For effects in PostgreSQL itself, [`crate::effects::once_in_tx`] is exactly-once without that help.
    /// Without a checkpointer `f` simply runs.
    pub async fn once<T, F, Fut, E>(&self, name: &str, f: F) -> Result<T, NodeError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<NodeError>,
    {
        self.once_with_key(self.effect_key(name), f).await
    }

    /// Like [`Ctx::once`] with a caller-chosen idempotency key (e.g. `deploy:<project>:<sha>`, to dedupe
    /// across tasks and threads).
    pub async fn once_with_key<T, F, Fut, E>(&self, key: String, f: F) -> Result<T, NodeError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<NodeError>,
    {
        let Some(store) = self.scope.store.clone() else {
            return f(key).await.map_err(Into::into);
        };
        if let Some(recorded) = store.effect(&key).await? {
            return Ok(T::deserialize(recorded)?);
        }
        let result = f(key.clone()).await.map_err(Into::into)?;
        let value = serde_json::to_value(&result)?;
        let recorded = store.record_effect(&key, value.clone()).await?;
        if recorded == value {
            return Ok(result);
        }
        Ok(T::deserialize(recorded)?)
    }
}
