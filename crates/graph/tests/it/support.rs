//! Shared test state, nodes and helpers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use orch_graph::state::reducers::{add, append, merge, replace};
use orch_graph::{Ctx, MemoryCheckpointer, NodeError, State};
use serde::{Deserialize, Serialize};

/// A state that records which nodes ran, a counter, named results and an answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trail {
    pub visited: Vec<String>,
    pub count: i64,
    pub results: BTreeMap<String, i64>,
    pub answer: Option<String>,
}

/// An update of [`Trail`].
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TrailUpdate {
    pub visited: Vec<String>,
    pub count: Option<i64>,
    pub results: BTreeMap<String, i64>,
    pub answer: Option<String>,
}

impl State for Trail {
    type Update = TrailUpdate;

    fn apply(&mut self, u: TrailUpdate) {
        append(&mut self.visited, u.visited);
        add(&mut self.count, u.count);
        merge(&mut self.results, u.results);
        replace(&mut self.answer, u.answer.map(Some));
    }
}

impl TrailUpdate {
    pub fn visit(name: &str) -> Self {
        Self {
            visited: vec![name.to_owned()],
            count: Some(1),
            ..Self::default()
        }
    }
}

/// Counts node executions per node name.
#[derive(Default, Clone)]
pub struct Counters(Arc<std::sync::Mutex<BTreeMap<String, Arc<AtomicUsize>>>>);

impl Counters {
    pub fn bump(&self, node: &str) -> usize {
        let counter = self
            .0
            .lock()
            .expect("lock")
            .entry(node.to_owned())
            .or_default()
            .clone();
        counter.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub fn get(&self, node: &str) -> usize {
        self.0
            .lock()
            .expect("lock")
            .get(node)
            .map_or(0, |c| c.load(Ordering::SeqCst))
    }
}

/// A node that appends its name, bumps the counter and counts its executions.
pub fn visit(
    name: &'static str,
    counters: &Counters,
) -> impl Fn(Arc<Trail>, Ctx) -> futures::future::BoxFuture<'static, Result<TrailUpdate, NodeError>>
+ Send
+ Sync
+ 'static {
    let counters = counters.clone();
    move |_state, _ctx| {
        counters.bump(name);
        Box::pin(async move { Ok(TrailUpdate::visit(name)) })
    }
}

pub fn memory() -> Arc<MemoryCheckpointer> {
    Arc::new(MemoryCheckpointer::new())
}

pub fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}
