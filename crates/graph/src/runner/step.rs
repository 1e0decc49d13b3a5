//! One super-step: run the tasks that have no result yet, in parallel; record each result as it lands.
//!
//! Results of finished tasks are stored as pending writes of the step's checkpoint when the step has several
//! tasks (so a crash or a sibling's failure does not make them run again); a single-task step needs none —
//! its checkpoint follows immediately. Interrupts and failures are always written.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, PoisonError};

use futures::FutureExt;
use futures::stream::{FuturesUnordered, StreamExt};
use serde::Deserialize;
use serde_json::Value;

use super::Runner;
use super::cursor::{Cursor, PendingInput};
use super::invoke::commit_error;
use crate::checkpoint::{Commit, Fence, PendingWrite, channels};
use crate::command::Interrupt;
use crate::ctx::{Ctx, ScopeParts};
use crate::error::GraphError;
use crate::node::{InterruptSignal, NodeError, NodeErrorKind};
use crate::state::State;
use crate::thread::ThreadKey;

/// How a super-step ended.
pub(crate) enum StepEnd<S: State> {
    /// Every task produced an update (in task order).
    Completed(Vec<Applied<S>>),
    /// At least one task waits for a human.
    Interrupted {
        interrupts: Vec<Interrupt>,
        /// The lease was released with the interrupt write.
        released: bool,
    },
}

/// A task's update: typed when the task ran now, serialized when it was stored (or both).
pub(crate) struct Applied<S: State> {
    pub(crate) update: Option<S::Update>,
    pub(crate) value: Option<Value>,
}

/// What a step runs against.
pub(crate) struct StepEnv<'a, S: State> {
    pub(crate) runner: &'a Runner<S>,
    pub(crate) thread: &'a ThreadKey,
    pub(crate) cursor: &'a Cursor<S>,
    pub(crate) fence: Option<&'a Fence>,
    pub(crate) release_on_interrupt: bool,
    /// The run's input checkpoint, if not written yet: the step's first write carries it.
    pub(crate) pending_input: Mutex<Option<PendingInput>>,
}

/// The stored writes of one task.
#[derive(Clone, Copy, Default)]
struct TaskWrites<'a> {
    update: Option<&'a Value>,
    interrupt: Option<&'a Value>,
    resume: Option<&'a Value>,
}

enum Prior {
    Done(Value),
    Waiting(Interrupt),
    Run(Vec<Value>),
}

enum TaskResult<S: State> {
    Updated(Applied<S>),
    Interrupted(Interrupt, bool),
    Failed(GraphError),
}

enum Output<S: State> {
    Update(S::Update),
    Interrupt(InterruptSignal),
    Failed(GraphError),
}

impl<S: State> StepEnv<'_, S> {
    /// Returns the input checkpoint if no write of the step carried it.
    pub(crate) fn into_pending_input(self) -> Option<PendingInput> {
        self.pending_input
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs the step.
    pub(crate) async fn run(&self) -> Result<StepEnd<S>, GraphError> {
        let priors = self.priors()?;
        let mut results: Vec<Option<TaskResult<S>>> = Vec::with_capacity(priors.len());
        let mut running = FuturesUnordered::new();
        for (index, prior) in priors.into_iter().enumerate() {
            results.push(match prior {
                Prior::Done(value) => Some(TaskResult::Updated(Applied {
                    update: None,
                    value: Some(value),
                })),
                Prior::Waiting(interrupt) => Some(TaskResult::Interrupted(interrupt, false)),
                Prior::Run(resume) => {
                    running.push(async move { (index, self.run_task(index, resume).await) });
                    None
                }
            });
        }
        let mut store_error = None;
        while let Some((index, result)) = running.next().await {
            match result {
                Ok(result) => results[index] = Some(result),
                Err(e) => store_error = Some(store_error.unwrap_or(e)),
            }
        }
        if let Some(e) = store_error {
            return Err(e);
        }
        conclude(results.into_iter().flatten().collect())
    }

    fn priors(&self) -> Result<Vec<Prior>, GraphError> {
        let mut by_task: HashMap<&str, TaskWrites<'_>> = HashMap::new();
        for write in &self.cursor.writes {
            let slot = by_task.entry(write.task_id.as_str()).or_default();
            match write.channel.as_str() {
                channels::UPDATE => slot.update = Some(&write.value),
                channels::INTERRUPT => slot.interrupt = Some(&write.value),
                channels::RESUME => slot.resume = Some(&write.value),
                _ => {}
            }
        }
        let graph = &self.runner.graph;
        (0..self.cursor.tasks.len())
            .map(|index| {
                let id = self.cursor.task_id(graph, index);
                let w = by_task.get(id.as_str()).copied().unwrap_or_default();
                self.prior(w.update, w.interrupt, w.resume)
            })
            .collect()
    }

    fn prior(
        &self,
        update: Option<&Value>,
        interrupt: Option<&Value>,
        resume: Option<&Value>,
    ) -> Result<Prior, GraphError> {
        if let Some(update) = update {
            return Ok(Prior::Done(update.clone()));
        }
        let resume: Vec<Value> = match resume {
            Some(list) => Vec::deserialize(list)
                .map_err(|e| self.state_error(format!("resume values: {e}")))?,
            None => Vec::new(),
        };
        if let Some(interrupt) = interrupt {
            let interrupt = Interrupt::deserialize(interrupt)
                .map_err(|e| self.state_error(format!("stored interrupt: {e}")))?;
            if interrupt.index >= resume.len() {
                return Ok(Prior::Waiting(interrupt));
            }
        }
        Ok(Prior::Run(resume))
    }

    async fn run_task(
        &self,
        index: usize,
        resume: Vec<Value>,
    ) -> Result<TaskResult<S>, GraphError> {
        let spec = &self.cursor.tasks[index];
        let entry = &self.runner.graph.nodes[spec.node];
        let task_id = self.cursor.task_id(&self.runner.graph, index);
        let mut attempt = 1;
        loop {
            let ctx = Ctx::new(ScopeParts {
                thread: self.thread.clone(),
                node: entry.name.clone(),
                task_id: task_id.clone(),
                step: self.cursor.next_position().step,
                arg: spec.arg.clone(),
                resume: resume.clone(),
                store: self.runner.store.clone(),
                clock: self.runner.clock.clone(),
            });
            let call = entry.node.call(self.cursor.state.clone(), ctx.clone());
            let output = AssertUnwindSafe(call).catch_unwind().await;
            match self.classify(output, &ctx) {
                Output::Update(update) => return self.record_update(&task_id, update).await,
                Output::Interrupt(signal) => return self.record_interrupt(&ctx, signal).await,
                Output::Failed(GraphError::Node { .. }) if attempt < entry.retry.max_attempts => {
                    attempt += 1;
                    tokio::time::sleep(entry.retry.backoff(attempt)).await;
                }
                Output::Failed(error) => return self.record_failure(&task_id, error).await,
            }
        }
    }

    fn classify(
        &self,
        output: std::thread::Result<Result<S::Update, NodeError>>,
        ctx: &Ctx,
    ) -> Output<S> {
        match output {
            Ok(Ok(update)) => match ctx.raised() {
                Some(signal) => Output::Interrupt(signal),
                None => Output::Update(update),
            },
            Ok(Err(NodeError {
                kind: NodeErrorKind::Interrupt(signal),
            })) => Output::Interrupt(signal),
            Ok(Err(NodeError {
                kind: NodeErrorKind::Failed(source),
            })) => Output::Failed(GraphError::Node {
                thread: self.thread.to_string(),
                node: ctx.node().to_owned(),
                task_id: ctx.task_id().to_owned(),
                source,
            }),
            Err(panic) => Output::Failed(GraphError::NodePanicked {
                thread: self.thread.to_string(),
                node: ctx.node().to_owned(),
                message: panic_message(panic.as_ref()),
            }),
        }
    }

    async fn record_update(
        &self,
        task_id: &str,
        update: S::Update,
    ) -> Result<TaskResult<S>, GraphError> {
        if self.runner.store.is_none() {
            return Ok(TaskResult::Updated(Applied {
                update: Some(update),
                value: None,
            }));
        }
        let value = serde_json::to_value(&update)
            .map_err(|e| self.state_error(format!("the update of task {task_id}: {e}")))?;
        if self.cursor.tasks.len() > 1 {
            self.write(
                task_id,
                channels::UPDATE,
                channels::UPDATE_IDX,
                value.clone(),
                false,
            )
            .await?;
        }
        Ok(TaskResult::Updated(Applied {
            update: Some(update),
            value: Some(value),
        }))
    }

    async fn record_interrupt(
        &self,
        ctx: &Ctx,
        signal: InterruptSignal,
    ) -> Result<TaskResult<S>, GraphError> {
        let interrupt = Interrupt {
            task_id: ctx.task_id().to_owned(),
            node: ctx.node().to_owned(),
            index: signal.index,
            payload: signal.payload,
            asked_at: self.runner.clock.now(),
        };
        let release = self.release_on_interrupt && self.cursor.tasks.len() == 1;
        if self.runner.store.is_some() {
            let value = serde_json::to_value(&interrupt)
                .map_err(|e| self.state_error(format!("interrupt: {e}")))?;
            self.write(
                &interrupt.task_id,
                channels::INTERRUPT,
                channels::INTERRUPT_IDX,
                value,
                release,
            )
            .await?;
        }
        Ok(TaskResult::Interrupted(interrupt, release))
    }

    async fn record_failure(
        &self,
        task_id: &str,
        error: GraphError,
    ) -> Result<TaskResult<S>, GraphError> {
        if self.runner.store.is_some() {
            let value = serde_json::json!({ "message": error.to_string() });
            self.write(task_id, channels::ERROR, channels::ERROR_IDX, value, false)
                .await?;
        }
        Ok(TaskResult::Failed(error))
    }

    async fn write(
        &self,
        task_id: &str,
        channel: &str,
        idx: i32,
        value: Value,
        release: bool,
    ) -> Result<(), GraphError> {
        let Some(store) = &self.runner.store else {
            return Ok(());
        };
        let input = self
            .pending_input
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let commit = Commit {
            checkpoints: input.map(|i| vec![i.record]).unwrap_or_default(),
            drop_parent_writes: false,
            writes_for: self.cursor.head.map_or(0, |h| h.checkpoint_id),
            writes: vec![PendingWrite {
                task_id: task_id.to_owned(),
                idx,
                channel: channel.to_owned(),
                value,
            }],
            fence: self.fence.cloned(),
            release: release && self.fence.is_some(),
        };
        store
            .commit(self.thread, commit)
            .await
            .map_err(|e| commit_error(self.thread, e))
    }

    fn state_error(&self, message: String) -> GraphError {
        GraphError::State {
            thread: self.thread.to_string(),
            message,
        }
    }
}

fn conclude<S: State>(results: Vec<TaskResult<S>>) -> Result<StepEnd<S>, GraphError> {
    let mut applied = Vec::with_capacity(results.len());
    let mut interrupts = Vec::new();
    let mut released = false;
    for result in results {
        match result {
            TaskResult::Failed(error) => return Err(error),
            TaskResult::Interrupted(interrupt, with_release) => {
                released |= with_release;
                interrupts.push(interrupt);
            }
            TaskResult::Updated(update) => applied.push(update),
        }
    }
    if interrupts.is_empty() {
        Ok(StepEnd::Completed(applied))
    } else {
        Ok(StepEnd::Interrupted {
            interrupts,
            released,
        })
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic".to_owned())
}
