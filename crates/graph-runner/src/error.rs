//! Why handling a `chat:in` event failed (every variant leaves the event pending for a retry).

use orch_graph::GraphError;
use orch_graph::effects::EffectError;
use orch_store::StoreError;

use crate::nodes::ModelUnavailable;

/// Why an event could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Running the thread failed (a node, the checkpoint store, a lease).
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// An exactly-once effect failed.
    #[error(transparent)]
    Effect(#[from] EffectError),
    /// The stored thread does not match what the service expects.
    #[error("thread {thread}: {reason}")]
    Inconsistent {
        /// The thread.
        thread: String,
        /// What is wrong.
        reason: String,
    },
}

impl HandleError {
    /// Returns the model failure behind a failed `think` node, if that is what happened.
    pub fn model_unavailable(&self) -> Option<&ModelUnavailable> {
        match self {
            HandleError::Graph(GraphError::Node { source, .. }) => source.downcast_ref(),
            _ => None,
        }
    }
}
