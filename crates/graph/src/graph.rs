//! The graph: a builder, validation, and the routing that turns one super-step's nodes into the next tasks.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;

use crate::error::BuildError;
use crate::node::{Node, RetryPolicy};
use crate::route::{END, IntoRoutes, Route, RouteKind, START};
use crate::state::State;

type Router<S> = Arc<dyn Fn(&S) -> Vec<Route> + Send + Sync>;

/// Collects nodes and edges; [`GraphBuilder::compile`] validates them into a [`Graph`].
pub struct GraphBuilder<S: State> {
    nodes: Vec<(String, Arc<dyn Node<S>>, RetryPolicy)>,
    edges: Vec<(String, String)>,
    routers: Vec<(String, Router<S>)>,
    joins: Vec<(Vec<String>, String)>,
}

impl<S: State> Default for GraphBuilder<S> {
    fn default() -> Self {
        Self {
            nodes: Vec::new(),
            edges: Vec::new(),
            routers: Vec::new(),
            joins: Vec::new(),
        }
    }
}

impl<S: State> GraphBuilder<S> {
    /// Adds a node that does not retry its failures.
    pub fn add_node(self, name: &str, node: impl Node<S>) -> Self {
        self.add_node_with(name, node, RetryPolicy::NONE)
    }

    /// Adds a node that retries its failures as `retry` says.
    pub fn add_node_with(mut self, name: &str, node: impl Node<S>, retry: RetryPolicy) -> Self {
        self.nodes.push((name.to_owned(), Arc::new(node), retry));
        self
    }

    /// Runs `to` after `from` (from may be [`START`], to may be [`END`]).
    pub fn add_edge(mut self, from: &str, to: &str) -> Self {
        self.edges.push((from.to_owned(), to.to_owned()));
        self
    }

    /// After `from`, asks `router` (with the state after the super-step's updates are merged) where to go:
    /// one or more nodes, [`Route::send`] tasks for parallel fan-out, or [`END`].
    pub fn add_conditional_edges<F, R>(mut self, from: &str, router: F) -> Self
    where
        F: Fn(&S) -> R + Send + Sync + 'static,
        R: IntoRoutes,
    {
        let router: Router<S> = Arc::new(move |state: &S| router(state).into_routes());
        self.routers.push((from.to_owned(), router));
        self
    }

    /// Runs `to` once every node of `sources` has completed (a barrier; plain edges fire per branch).
    pub fn add_join(mut self, sources: &[&str], to: &str) -> Self {
        let sources = sources.iter().map(|s| (*s).to_owned()).collect();
        self.joins.push((sources, to.to_owned()));
        self
    }

    /// Validates the graph: unique, non-reserved node names; edges between known nodes; an entry.
    pub fn compile(self) -> Result<Graph<S>, BuildError> {
        let index = node_index(&self.nodes)?;
        let start = index.len();
        let mut outgoing: Vec<Outgoing<S>> = (0..=start).map(|_| Outgoing::default()).collect();
        for (from, to) in &self.edges {
            let source = source_id(&index, start, from, to)?;
            if to != END {
                outgoing[source].edges.insert(target_id(&index, from, to)?);
            }
        }
        for (from, router) in self.routers {
            let source = source_id(&index, start, &from, "<router>")?;
            outgoing[source].routers.push(router);
        }
        if outgoing[start].edges.is_empty() && outgoing[start].routers.is_empty() {
            return Err(BuildError::NoEntry);
        }
        let joins = compile_joins(&index, self.joins)?;
        let nodes = self
            .nodes
            .into_iter()
            .map(|(name, node, retry)| NodeEntry {
                name: Arc::from(name),
                node,
                retry,
            })
            .collect();
        Ok(Graph {
            nodes,
            outgoing,
            index,
            joins,
        })
    }
}

fn node_index<N>(nodes: &[(String, N, RetryPolicy)]) -> Result<HashMap<String, usize>, BuildError> {
    let mut index = HashMap::new();
    for (id, (name, _, _)) in nodes.iter().enumerate() {
        if name.is_empty() || name == START || name == END {
            return Err(BuildError::ReservedName(name.clone()));
        }
        if index.insert(name.clone(), id).is_some() {
            return Err(BuildError::DuplicateNode(name.clone()));
        }
    }
    Ok(index)
}

fn source_id(
    index: &HashMap<String, usize>,
    start: usize,
    from: &str,
    to: &str,
) -> Result<usize, BuildError> {
    if from == START {
        return Ok(start);
    }
    index.get(from).copied().ok_or_else(|| unknown(from, to))
}

fn target_id(index: &HashMap<String, usize>, from: &str, to: &str) -> Result<usize, BuildError> {
    index.get(to).copied().ok_or_else(|| unknown(from, to))
}

fn unknown(from: &str, to: &str) -> BuildError {
    BuildError::UnknownNode {
        from: from.to_owned(),
        to: to.to_owned(),
    }
}

fn compile_joins(
    index: &HashMap<String, usize>,
    joins: Vec<(Vec<String>, String)>,
) -> Result<Vec<Join>, BuildError> {
    joins
        .into_iter()
        .map(|(sources, to)| {
            if sources.is_empty() {
                return Err(BuildError::EmptyJoin(to));
            }
            let target = *index.get(&to).ok_or_else(|| unknown(&sources[0], &to))?;
            let ids = sources
                .iter()
                .map(|s| index.get(s).copied().ok_or_else(|| unknown(s, &to)))
                .collect::<Result<BTreeSet<_>, _>>()?;
            let label = format!("{}->{to}", sources.join(","));
            Ok(Join {
                sources: ids,
                target,
                label,
            })
        })
        .collect()
}

pub(crate) struct NodeEntry<S: State> {
    pub(crate) name: Arc<str>,
    pub(crate) node: Arc<dyn Node<S>>,
    pub(crate) retry: RetryPolicy,
}

struct Outgoing<S> {
    edges: BTreeSet<usize>,
    routers: Vec<Router<S>>,
}

impl<S> Default for Outgoing<S> {
    fn default() -> Self {
        Self {
            edges: BTreeSet::new(),
            routers: Vec::new(),
        }
    }
}

struct Join {
    sources: BTreeSet<usize>,
    target: usize,
    label: String,
}

/// A validated graph, ready for a [`crate::Runner`].
pub struct Graph<S: State> {
    pub(crate) nodes: Vec<NodeEntry<S>>,
    outgoing: Vec<Outgoing<S>>,
    index: HashMap<String, usize>,
    joins: Vec<Join>,
}

/// One task of a super-step: a node, with the argument of a `Send` fan-out if it came from one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TaskSpec {
    pub(crate) node: usize,
    pub(crate) arg: Option<Value>,
}

/// Which sources of each join have completed (by join index).
pub(crate) type JoinProgress = BTreeMap<usize, BTreeSet<usize>>;

/// A router named a node that does not exist or produced an invalid route.
#[derive(Debug)]
pub(crate) struct RouteFailure {
    pub(crate) node: String,
    pub(crate) message: String,
}

impl<S: State> Graph<S> {
    /// Starts a builder.
    pub fn builder() -> GraphBuilder<S> {
        GraphBuilder::default()
    }

    /// Returns the node names, in declaration order.
    pub fn node_names(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|n| &*n.name)
    }

    pub(crate) fn node_id(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub(crate) fn name(&self, node: usize) -> &str {
        self.nodes.get(node).map_or(START, |n| &n.name)
    }

    /// Returns the first tasks of a run.
    pub(crate) fn entry(&self, state: &S) -> Result<Vec<TaskSpec>, RouteFailure> {
        self.next(&[self.nodes.len()], state, &mut JoinProgress::new())
    }

    /// Returns the next super-step's tasks after `ran` (node ids, in task order) completed: static targets
    /// (deduplicated, in declaration order), then completed joins, then `Send` tasks in router order.
    pub(crate) fn next(
        &self,
        ran: &[usize],
        state: &S,
        joins: &mut JoinProgress,
    ) -> Result<Vec<TaskSpec>, RouteFailure> {
        let mut plain = BTreeSet::new();
        let mut sends = Vec::new();
        let mut seen = BTreeSet::new();
        for &source in ran.iter().filter(|n| seen.insert(**n)) {
            let out = &self.outgoing[source];
            plain.extend(out.edges.iter().copied());
            for router in &out.routers {
                self.route(source, router(state), &mut plain, &mut sends)?;
            }
            self.mark_joins(source, joins);
        }
        self.fire_joins(joins, &mut plain);
        let plain = plain.into_iter().map(|node| TaskSpec { node, arg: None });
        Ok(plain.chain(sends).collect())
    }

    fn route(
        &self,
        source: usize,
        routes: Vec<Route>,
        plain: &mut BTreeSet<usize>,
        sends: &mut Vec<TaskSpec>,
    ) -> Result<(), RouteFailure> {
        for route in routes {
            match route.0 {
                RouteKind::To(name) => {
                    plain.insert(self.lookup(source, &name)?);
                }
                RouteKind::Send { node, arg } => sends.push(TaskSpec {
                    node: self.lookup(source, &node)?,
                    arg: Some(arg),
                }),
                RouteKind::End => {}
                RouteKind::Invalid(message) => return Err(self.failure(source, message)),
            }
        }
        Ok(())
    }

    fn lookup(&self, source: usize, name: &str) -> Result<usize, RouteFailure> {
        self.node_id(name)
            .ok_or_else(|| self.failure(source, format!("the router returned unknown node {name}")))
    }

    fn failure(&self, source: usize, message: String) -> RouteFailure {
        RouteFailure {
            node: self.name(source).to_owned(),
            message,
        }
    }

    fn mark_joins(&self, source: usize, joins: &mut JoinProgress) {
        for (id, join) in self.joins.iter().enumerate() {
            if join.sources.contains(&source) {
                joins.entry(id).or_default().insert(source);
            }
        }
    }

    fn fire_joins(&self, joins: &mut JoinProgress, plain: &mut BTreeSet<usize>) {
        joins.retain(|id, done| match self.joins.get(*id) {
            Some(join) if join.sources.is_subset(done) => {
                plain.insert(join.target);
                false
            }
            Some(_) => true,
            None => false,
        });
    }

    /// Converts join progress to names (for checkpoint meta), and back.
    pub(crate) fn joins_to_names(&self, joins: &JoinProgress) -> BTreeMap<String, Vec<String>> {
        joins
            .iter()
            .filter_map(|(id, done)| {
                let join = self.joins.get(*id)?;
                let names = done.iter().map(|n| self.name(*n).to_owned()).collect();
                Some((join.label.clone(), names))
            })
            .collect()
    }

    pub(crate) fn joins_from_names(&self, names: &BTreeMap<String, Vec<String>>) -> JoinProgress {
        self.joins
            .iter()
            .enumerate()
            .filter_map(|(id, join)| {
                let done = names.get(&join.label)?;
                Some((id, done.iter().filter_map(|n| self.node_id(n)).collect()))
            })
            .collect()
    }
}
