//! Where a thread stands: its state, its last checkpoint, the tasks of the next super-step.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::checkpoint::{CheckpointRecord, Loaded, PendingWrite, StateBody};
use crate::graph::{Graph, JoinProgress, TaskSpec};
use crate::state::State;

/// The last checkpoint of a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) checkpoint_id: i64,
    pub(crate) step: i64,
}

/// An input checkpoint not written yet: it is committed together with the first step's checkpoint (or
/// the first pending write), which saves a transaction per invocation.
pub(crate) struct PendingInput {
    pub(crate) record: CheckpointRecord,
    pub(crate) next: Vec<String>,
}

/// A thread in memory, between super-steps.
pub(crate) struct Cursor<S: State> {
    pub(crate) state: Arc<S>,
    pub(crate) head: Option<Head>,
    pub(crate) tasks: Vec<TaskSpec>,
    pub(crate) joins: JoinProgress,
    pub(crate) writes: Vec<PendingWrite>,
    pub(crate) since_snapshot: u32,
    pub(crate) pending_input: Option<PendingInput>,
}

/// What a checkpoint's `meta` column holds: `Send` tasks and partial join progress.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Meta {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sends: Vec<SendMeta>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    joins: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SendMeta {
    node: String,
    arg: Value,
}

impl<S: State> Cursor<S> {
    /// A thread that has no checkpoint yet.
    pub(crate) fn fresh(state: S) -> Self {
        Self {
            state: Arc::new(state),
            head: None,
            tasks: Vec::new(),
            joins: JoinProgress::new(),
            writes: Vec::new(),
            since_snapshot: 0,
            pending_input: None,
        }
    }

    /// Rebuilds the thread from the latest snapshot and the deltas after it.
    pub(crate) fn from_loaded(graph: &Graph<S>, loaded: Loaded) -> Result<Self, String> {
        let mut chain = loaded.chain.into_iter();
        let first = chain.next().ok_or("the checkpoint chain is empty")?;
        let StateBody::Snapshot(snapshot) = &first.body else {
            return Err(format!(
                "checkpoint {} is a delta without a snapshot before it",
                first.checkpoint_id
            ));
        };
        let mut state: S = S::deserialize(snapshot).map_err(|e| format!("snapshot: {e}"))?;
        let mut head = first;
        let mut since_snapshot = 0;
        for record in chain {
            replay(&mut state, &record)?;
            since_snapshot += 1;
            head = record;
        }
        let (tasks, joins) = restore_tasks(graph, &head)?;
        Ok(Self {
            state: Arc::new(state),
            head: Some(Head {
                checkpoint_id: head.checkpoint_id,
                step: head.step,
            }),
            tasks,
            joins,
            writes: loaded.writes,
            since_snapshot,
            pending_input: None,
        })
    }

    /// Returns the id the next checkpoint gets, and its step.
    pub(crate) fn next_position(&self) -> Head {
        self.head.map_or(
            Head {
                checkpoint_id: 1,
                step: 0,
            },
            |h| Head {
                checkpoint_id: h.checkpoint_id + 1,
                step: h.step + 1,
            },
        )
    }

    /// Returns the id of task `index` of the next super-step.
    pub(crate) fn task_id(&self, graph: &Graph<S>, index: usize) -> String {
        let checkpoint = self.head.map_or(0, |h| h.checkpoint_id);
        let node = self.tasks.get(index).map_or("?", |t| graph.name(t.node));
        format!("{checkpoint}:{node}:{index}")
    }

    /// Returns the names of the next super-step's tasks.
    pub(crate) fn next_names(&self, graph: &Graph<S>) -> Vec<String> {
        self.tasks
            .iter()
            .map(|t| graph.name(t.node).to_owned())
            .collect()
    }
}

fn replay<S: State>(state: &mut S, record: &CheckpointRecord) -> Result<(), String> {
    match &record.body {
        StateBody::Snapshot(snapshot) => {
            *state = S::deserialize(snapshot).map_err(|e| format!("snapshot: {e}"))?;
        }
        StateBody::Delta(updates) => {
            for update in updates {
                let update = S::Update::deserialize(update)
                    .map_err(|e| format!("update in checkpoint {}: {e}", record.checkpoint_id))?;
                state.apply(update);
            }
        }
    }
    Ok(())
}

fn restore_tasks<S: State>(
    graph: &Graph<S>,
    head: &CheckpointRecord,
) -> Result<(Vec<TaskSpec>, JoinProgress), String> {
    let mut tasks = head
        .next_nodes
        .iter()
        .map(|name| {
            let node = graph.node_id(name).ok_or_else(|| {
                format!("the checkpoint names node {name}, which the graph lacks")
            })?;
            Ok(TaskSpec { node, arg: None })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let meta: Meta = match &head.meta {
        Some(meta) => Meta::deserialize(meta).map_err(|e| format!("checkpoint meta: {e}"))?,
        None => Meta::default(),
    };
    for send in meta.sends {
        let node = graph
            .node_id(&send.node)
            .ok_or_else(|| format!("a Send names node {}, which the graph lacks", send.node))?;
        tasks.push(TaskSpec {
            node,
            arg: Some(send.arg),
        });
    }
    Ok((tasks, graph.joins_from_names(&meta.joins)))
}

/// Splits tasks into the checkpoint's `next_nodes` (plain tasks) and `meta` (sends, join progress).
pub(crate) fn record_tasks<S: State>(
    graph: &Graph<S>,
    tasks: &[TaskSpec],
    joins: &JoinProgress,
) -> (Vec<String>, Option<Value>) {
    let mut next = Vec::new();
    let mut meta = Meta {
        joins: graph.joins_to_names(joins),
        ..Meta::default()
    };
    for task in tasks {
        let name = graph.name(task.node).to_owned();
        match &task.arg {
            None => next.push(name),
            Some(arg) => meta.sends.push(SendMeta {
                node: name,
                arg: arg.clone(),
            }),
        }
    }
    let empty = meta.sends.is_empty() && meta.joins.is_empty();
    let meta = if empty {
        None
    } else {
        serde_json::to_value(&meta).ok()
    };
    (next, meta)
}
