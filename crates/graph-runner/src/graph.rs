//! Wires the nodes into the brainstorm graph; one router reads [`Conversation::next`] after every step.

use std::sync::Arc;

use orch_graph::{BuildError, END, Graph, START};

use crate::nodes::{Deps, Step, StepKind};
use crate::state::{Conversation, Next};

/// Node names (they appear in checkpoints and task ids: never rename one that may be stored).
pub mod names {
    /// Asks the model.
    pub const THINK: &str = "think";
    /// Sends a question and waits.
    pub const ASK: &str = "ask";
    /// Shows the spec and waits for a decision.
    pub const REVIEW: &str = "review";
    /// Stores the approval.
    pub const APPROVE: &str = "approve";
    /// Asks what to change and waits.
    pub const CHANGE: &str = "change";
    /// Plans the repository and the tasks and creates the repository.
    pub const ARCHITECT: &str = "architect";
    /// Runs the tasks on coding workers.
    pub const DEVELOP: &str = "develop";
}

/// Builds the graph.
pub fn brainstorm(deps: Arc<Deps>) -> Result<Graph<Conversation>, BuildError> {
    use names::*;
    let step = |kind| Step::new(deps.clone(), kind);
    let mut builder = Graph::builder()
        .add_node(THINK, step(StepKind::Think))
        .add_node(ASK, step(StepKind::Ask))
        .add_node(REVIEW, step(StepKind::Review))
        .add_node(APPROVE, step(StepKind::Approve))
        .add_node(CHANGE, step(StepKind::Change))
        .add_node(ARCHITECT, step(StepKind::Architect))
        .add_node(DEVELOP, step(StepKind::Develop));
    for from in [
        START, THINK, ASK, REVIEW, APPROVE, CHANGE, ARCHITECT, DEVELOP,
    ] {
        builder = builder.add_conditional_edges(from, route);
    }
    builder.compile()
}

/// Where the conversation goes next.
pub fn route(state: &Conversation) -> &'static str {
    match state.next {
        Next::Think => names::THINK,
        Next::Ask { .. } => names::ASK,
        Next::Review => names::REVIEW,
        Next::Approve { .. } => names::APPROVE,
        Next::Change { .. } => names::CHANGE,
        Next::Architect => names::ARCHITECT,
        Next::Develop => names::DEVELOP,
        Next::Done => END,
    }
}
