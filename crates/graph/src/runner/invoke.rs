//! The body of an invocation: open the thread for the input, run super-steps, checkpoint each one.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::Runner;
use super::cursor::{Cursor, Head, PendingInput, record_tasks};
use super::lease::HeldLease;
use super::resume::{match_answers, pending_interrupts, resume_writes};
use super::step::{Applied, StepEnd, StepEnv};
use crate::checkpoint::{CheckpointRecord, Commit, Fence, StateBody};
use crate::command::{Input, Interrupt, Outcome, ResumeWith, ThreadState};
use crate::error::{CheckpointError, GraphError, InputRefused};
use crate::graph::RouteFailure;
use crate::state::State;
use crate::thread::ThreadKey;

impl<S: State> Runner<S> {
    pub(super) async fn run_leased(
        &self,
        thread: &ThreadKey,
        input: Input<S>,
        mut lease: Option<HeldLease>,
    ) -> Result<Outcome<S>, GraphError> {
        let result = self.drive(thread, input, lease.as_mut()).await;
        if let Some(lease) = lease {
            let fenced = result.as_ref().err().is_some_and(GraphError::is_fenced);
            lease.finish(fenced).await;
        }
        result
    }

    async fn drive(
        &self,
        thread: &ThreadKey,
        input: Input<S>,
        mut lease: Option<&mut HeldLease>,
    ) -> Result<Outcome<S>, GraphError> {
        let fence = lease.as_ref().map(|l| l.fence.clone());
        let mut cursor = self.open(thread, input, fence.as_ref()).await?;
        let mut steps = 0;
        loop {
            if cursor.tasks.is_empty() {
                let released = self
                    .flush_input(thread, &mut cursor, fence.as_ref())
                    .await?;
                if let (true, Some(lease)) = (released, lease.as_deref_mut()) {
                    lease.released = true;
                }
                return Ok(done(cursor));
            }
            if lease.as_ref().is_some_and(|l| l.is_lost()) {
                return Err(GraphError::LeaseLost {
                    thread: thread.to_string(),
                });
            }
            if steps == self.config.max_steps {
                return Err(GraphError::MaxSteps {
                    thread: thread.to_string(),
                    limit: self.config.max_steps,
                    next: cursor.next_names(&self.graph),
                });
            }
            let end = self
                .run_step(thread, &mut cursor, fence.as_ref(), lease.is_some())
                .await?;
            match end {
                StepEnd::Interrupted {
                    interrupts,
                    released,
                } => {
                    if let Some(lease) = lease.as_deref_mut() {
                        lease.released |= released;
                    }
                    return Ok(interrupted(cursor, interrupts));
                }
                StepEnd::Completed(applied) => {
                    let released = self
                        .advance(thread, &mut cursor, applied, fence.as_ref())
                        .await?;
                    if let (true, Some(lease)) = (released, lease.as_deref_mut()) {
                        lease.released = true;
                    }
                    steps += 1;
                }
            }
        }
    }

    /// Runs one super-step; an input checkpoint still pending rides along with the step's first write.
    async fn run_step(
        &self,
        thread: &ThreadKey,
        cursor: &mut Cursor<S>,
        fence: Option<&Fence>,
        leased: bool,
    ) -> Result<StepEnd<S>, GraphError> {
        let pending = cursor.pending_input.take();
        let input_event = pending
            .as_ref()
            .map(|p| (p.record.checkpoint_id, p.next.clone()));
        let (end, leftover) = {
            let env = StepEnv {
                runner: self,
                thread,
                cursor,
                fence,
                release_on_interrupt: leased,
                pending_input: std::sync::Mutex::new(pending),
            };
            let end = env.run().await;
            (end, env.into_pending_input())
        };
        if let (Some((id, next)), None, Some(observer)) = (input_event, &leftover, &self.observer) {
            observer.on_checkpoint(thread, id, &[], &next);
        }
        cursor.pending_input = leftover;
        end
    }

    /// Commits an input checkpoint that is still pending (a run with nothing to do); returns whether that
    /// released the lease.
    async fn flush_input(
        &self,
        thread: &ThreadKey,
        cursor: &mut Cursor<S>,
        fence: Option<&Fence>,
    ) -> Result<bool, GraphError> {
        let (Some(store), Some(input)) = (&self.store, cursor.pending_input.take()) else {
            return Ok(false);
        };
        let commit = Commit {
            writes_for: input.record.checkpoint_id,
            checkpoints: vec![input.record],
            fence: fence.cloned(),
            release: fence.is_some(),
            ..Commit::default()
        };
        store
            .commit(thread, commit)
            .await
            .map_err(|e| commit_error(thread, e))?;
        Ok(fence.is_some())
    }

    /// Prepares the cursor the input asks for, writing what must be durable before the first step.
    async fn open(
        &self,
        thread: &ThreadKey,
        input: Input<S>,
        fence: Option<&Fence>,
    ) -> Result<Cursor<S>, GraphError> {
        match input {
            Input::Start(state) => self.open_start(thread, state, fence).await,
            Input::Continue => self
                .load(thread)
                .await?
                .ok_or_else(|| refused(thread, InputRefused::NotStarted)),
            Input::Update(update) => self.open_update(thread, update, fence).await,
            Input::Resume(command) => self.open_resume(thread, command.resume, fence).await,
        }
    }

    async fn open_start(
        &self,
        thread: &ThreadKey,
        state: S,
        fence: Option<&Fence>,
    ) -> Result<Cursor<S>, GraphError> {
        if self.load(thread).await?.is_some() {
            return Err(refused(thread, InputRefused::AlreadyStarted));
        }
        let mut cursor = Cursor::fresh(state);
        cursor.tasks = self
            .graph
            .entry(&cursor.state)
            .map_err(|f| route_error(thread, f))?;
        self.defer_input(thread, &mut cursor, Vec::new(), fence)?;
        Ok(cursor)
    }

    /// Builds the input checkpoint and moves the cursor onto it; it is committed with the next write.
    fn defer_input(
        &self,
        thread: &ThreadKey,
        cursor: &mut Cursor<S>,
        values: Vec<Value>,
        fence: Option<&Fence>,
    ) -> Result<(), GraphError> {
        let position = cursor.next_position();
        if let Some(record) = self.checkpoint(thread, cursor, values, fence)? {
            let snapshot = matches!(record.body, StateBody::Snapshot(_));
            cursor.since_snapshot = if snapshot {
                0
            } else {
                cursor.since_snapshot + 1
            };
            let next = cursor.next_names(&self.graph);
            cursor.pending_input = Some(PendingInput { record, next });
        }
        cursor.head = Some(position);
        cursor.writes.clear();
        Ok(())
    }

    async fn open_update(
        &self,
        thread: &ThreadKey,
        update: S::Update,
        fence: Option<&Fence>,
    ) -> Result<Cursor<S>, GraphError> {
        let mut cursor = self
            .load(thread)
            .await?
            .ok_or_else(|| refused(thread, InputRefused::NotStarted))?;
        if !cursor.tasks.is_empty() {
            return Err(refused(thread, InputRefused::RunInProgress));
        }
        let value = serde_json::to_value(&update)
            .map_err(|e| state_error(thread, format!("input: {e}")))?;
        Arc::make_mut(&mut cursor.state).apply(update);
        cursor.tasks = self
            .graph
            .entry(&cursor.state)
            .map_err(|f| route_error(thread, f))?;
        self.defer_input(thread, &mut cursor, vec![value], fence)?;
        Ok(cursor)
    }

    async fn open_resume(
        &self,
        thread: &ThreadKey,
        resume: ResumeWith,
        fence: Option<&Fence>,
    ) -> Result<Cursor<S>, GraphError> {
        let store = self
            .store
            .clone()
            .ok_or_else(|| refused(thread, InputRefused::NoCheckpointer))?;
        let mut cursor = self
            .load(thread)
            .await?
            .ok_or_else(|| refused(thread, InputRefused::NotStarted))?;
        let pending = pending_interrupts(&cursor.writes, thread)?;
        let answers = match_answers(thread, &pending, resume)?;
        let writes = resume_writes(&cursor.writes, answers, thread)?;
        let commit = Commit {
            writes_for: cursor.head.map_or(0, |h| h.checkpoint_id),
            writes: writes.clone(),
            fence: fence.cloned(),
            ..Commit::default()
        };
        store
            .commit(thread, commit)
            .await
            .map_err(|source| store_error(thread, source))?;
        cursor.writes.retain(|w| {
            !writes
                .iter()
                .any(|n| n.task_id == w.task_id && n.idx == w.idx)
        });
        cursor.writes.extend(writes);
        Ok(cursor)
    }

    pub(super) async fn load(&self, thread: &ThreadKey) -> Result<Option<Cursor<S>>, GraphError> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        let Some(loaded) = store
            .load(thread)
            .await
            .map_err(|source| store_error(thread, source))?
        else {
            return Ok(None);
        };
        Cursor::from_loaded(&self.graph, loaded)
            .map(Some)
            .map_err(|m| state_error(thread, m))
    }

    /// Merges a completed step's updates, routes to the next tasks and commits the checkpoint; returns
    /// whether that commit released the lease (the run is done).
    async fn advance(
        &self,
        thread: &ThreadKey,
        cursor: &mut Cursor<S>,
        applied: Vec<Applied<S>>,
        fence: Option<&Fence>,
    ) -> Result<bool, GraphError> {
        let ran: Vec<usize> = cursor.tasks.iter().map(|t| t.node).collect();
        let mut values = Vec::with_capacity(applied.len());
        let state = Arc::make_mut(&mut cursor.state);
        for Applied { update, value } in applied {
            let update = match (update, &value) {
                (Some(update), _) => update,
                (None, Some(value)) => S::Update::deserialize(value)
                    .map_err(|e| state_error(thread, format!("stored update: {e}")))?,
                (None, None) => continue,
            };
            state.apply(update);
            values.extend(value);
        }
        cursor.tasks = self
            .graph
            .next(&ran, &cursor.state, &mut cursor.joins)
            .map_err(|f| route_error(thread, f))?;
        let names: Vec<String> = ran.iter().map(|n| self.graph.name(*n).to_owned()).collect();
        let checkpoint = self.checkpoint(thread, cursor, values, fence)?;
        self.commit_checkpoint(thread, cursor, checkpoint, fence, &names)
            .await
    }

    /// Builds the next checkpoint record (`None` without a checkpointer): a delta of `values`, or a snapshot
    /// when it is the first or the policy says so.
    fn checkpoint(
        &self,
        thread: &ThreadKey,
        cursor: &Cursor<S>,
        values: Vec<Value>,
        fence: Option<&Fence>,
    ) -> Result<Option<CheckpointRecord>, GraphError> {
        if self.store.is_none() {
            return Ok(None);
        }
        let position = cursor.next_position();
        let snapshot =
            cursor.head.is_none() || cursor.since_snapshot + 1 >= self.config.snapshot_every;
        let body = if snapshot {
            StateBody::Snapshot(self.snapshot(thread, &cursor.state)?)
        } else {
            StateBody::Delta(values)
        };
        let (next_nodes, meta) = record_tasks(&self.graph, &cursor.tasks, &cursor.joins);
        Ok(Some(CheckpointRecord {
            checkpoint_id: position.checkpoint_id,
            parent_id: cursor.head.map(|h| h.checkpoint_id),
            step: position.step,
            body,
            next_nodes,
            meta,
            lease_epoch: fence.map_or(0, |f| f.epoch),
        }))
    }

    fn snapshot(&self, thread: &ThreadKey, state: &S) -> Result<Value, GraphError> {
        let bytes =
            serde_json::to_vec(state).map_err(|e| state_error(thread, format!("snapshot: {e}")))?;
        if bytes.len() > self.config.max_state_bytes {
            return Err(state_error(
                thread,
                format!(
                    "the state is {} bytes, over max_state_bytes = {}; keep large artefacts out of the state",
                    bytes.len(),
                    self.config.max_state_bytes
                ),
            ));
        }
        serde_json::from_slice(&bytes).map_err(|e| state_error(thread, format!("snapshot: {e}")))
    }

    /// Commits the checkpoint (with a pending input checkpoint before it; releasing the lease when no task is
    /// left) and moves the cursor onto it.
    async fn commit_checkpoint(
        &self,
        thread: &ThreadKey,
        cursor: &mut Cursor<S>,
        checkpoint: Option<CheckpointRecord>,
        fence: Option<&Fence>,
        ran: &[String],
    ) -> Result<bool, GraphError> {
        let position = cursor.next_position();
        let release = fence.is_some() && cursor.tasks.is_empty();
        let drop_parent_writes = !cursor.writes.is_empty() || ran.len() > 1;
        let input = cursor.pending_input.take();
        if let (Some(store), Some(record)) = (&self.store, checkpoint) {
            let snapshot = matches!(record.body, StateBody::Snapshot(_));
            let mut checkpoints: Vec<CheckpointRecord> = input
                .as_ref()
                .map(|i| i.record.clone())
                .into_iter()
                .collect();
            checkpoints.push(record);
            let commit = Commit {
                writes_for: position.checkpoint_id,
                checkpoints,
                drop_parent_writes,
                writes: Vec::new(),
                fence: fence.cloned(),
                release,
            };
            store
                .commit(thread, commit)
                .await
                .map_err(|e| commit_error(thread, e))?;
            cursor.since_snapshot = if snapshot {
                0
            } else {
                cursor.since_snapshot + 1
            };
        }
        cursor.head = Some(position);
        cursor.writes.clear();
        if let Some(observer) = &self.observer {
            if let Some(input) = &input {
                observer.on_checkpoint(thread, input.record.checkpoint_id, &[], &input.next);
            }
            let next = cursor.next_names(&self.graph);
            observer.on_checkpoint(thread, position.checkpoint_id, ran, &next);
        }
        Ok(release)
    }

    pub(super) async fn thread_state(
        &self,
        thread: &ThreadKey,
    ) -> Result<Option<ThreadState<S>>, GraphError> {
        let Some(cursor) = self.load(thread).await? else {
            return Ok(None);
        };
        let interrupts = pending_interrupts(&cursor.writes, thread)?;
        let head = cursor.head.unwrap_or(Head {
            checkpoint_id: 0,
            step: 0,
        });
        Ok(Some(ThreadState {
            next: cursor.next_names(&self.graph),
            state: Arc::unwrap_or_clone(cursor.state),
            checkpoint_id: head.checkpoint_id,
            step: head.step,
            interrupts,
        }))
    }
}

fn done<S: State>(cursor: Cursor<S>) -> Outcome<S> {
    Outcome::Done {
        checkpoint_id: cursor.head.map_or(0, |h| h.checkpoint_id),
        state: Arc::unwrap_or_clone(cursor.state),
    }
}

fn interrupted<S: State>(cursor: Cursor<S>, interrupts: Vec<Interrupt>) -> Outcome<S> {
    Outcome::Interrupted {
        checkpoint_id: cursor.head.map_or(0, |h| h.checkpoint_id),
        state: Arc::unwrap_or_clone(cursor.state),
        interrupts,
    }
}

pub(super) fn refused(thread: &ThreadKey, reason: InputRefused) -> GraphError {
    GraphError::Input {
        thread: thread.to_string(),
        reason,
    }
}

/// Maps a store error; a conflict on checkpoint 1 means another `Input::Start` created the thread first.
pub(super) fn commit_error(thread: &ThreadKey, source: CheckpointError) -> GraphError {
    match source {
        CheckpointError::Conflict {
            checkpoint_id: 1, ..
        } => refused(thread, InputRefused::AlreadyStarted),
        source => store_error(thread, source),
    }
}

pub(super) fn state_error(thread: &ThreadKey, message: String) -> GraphError {
    GraphError::State {
        thread: thread.to_string(),
        message,
    }
}

fn store_error(thread: &ThreadKey, source: CheckpointError) -> GraphError {
    GraphError::Checkpoint {
        thread: thread.to_string(),
        source,
    }
}

fn route_error(thread: &ThreadKey, failure: RouteFailure) -> GraphError {
    GraphError::Route {
        thread: thread.to_string(),
        node: failure.node,
        message: failure.message,
    }
}
