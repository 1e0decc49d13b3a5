//! Nodes: async functions (or trait objects) from state to an update.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::ctx::Ctx;
use crate::state::State;

/// One step of work: reads the state (shared, read-only) and returns an update for the reducer.
///
/// Implemented for every `Fn(Arc<S>, Ctx) -> impl Future<Output = Result<S::Update, NodeError>>`, so plain
/// async closures and functions are nodes; implement it by hand for nodes that carry clients or config.
///
/// A node may run more than once for the same step (after a crash before the step's checkpoint, or when it
/// is resumed after an interrupt, it runs again from its start): do side effects through [`Ctx::once`] or
/// [`crate::effects::once_in_tx`] so they happen once.
pub trait Node<S: State>: Send + Sync + 'static {
    /// Runs the node.
    fn call(&self, state: Arc<S>, ctx: Ctx) -> BoxFuture<'static, Result<S::Update, NodeError>>;
}

impl<S, F, Fut> Node<S> for F
where
    S: State,
    F: Fn(Arc<S>, Ctx) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<S::Update, NodeError>> + Send + 'static,
{
    fn call(&self, state: Arc<S>, ctx: Ctx) -> BoxFuture<'static, Result<S::Update, NodeError>> {
        Box::pin(self(state, ctx))
    }
}

/// How a node retries its own failures before the run stops with [`crate::GraphError::Node`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total (1 = no retry).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles after each failure.
    pub initial_backoff: Duration,
    /// Upper bound on the wait.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// Never retries.
    pub const NONE: RetryPolicy = RetryPolicy {
        max_attempts: 1,
        initial_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
    };

    /// Returns the wait before attempt `attempt` (1-based; attempt 1 has none).
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        let factor = 2u32.saturating_pow(attempt.saturating_sub(2).min(16));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::NONE
    }
}

/// What stopped a node: a failure, or an interrupt raised by [`Ctx::interrupt`] (propagate it with `?`).
///
/// Like `anyhow::Error` it converts from any error with `?`, which is why it does not implement
/// `std::error::Error` itself.
pub struct NodeError {
    pub(crate) kind: NodeErrorKind,
}

pub(crate) enum NodeErrorKind {
    Failed(Box<dyn Error + Send + Sync>),
    Interrupt(InterruptSignal),
}

/// An interrupt raised by a node: the `index`-th [`Ctx::interrupt`] call of the task, with its payload.
#[derive(Debug, Clone, PartialEq)]
pub struct InterruptSignal {
    /// 0 for the node's first interrupt, 1 for its second, …
    pub index: usize,
    /// What the node asks the human.
    pub payload: Value,
}

impl NodeError {
    /// Creates a failure from a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self::boxed(Box::new(Message(message.to_string())))
    }

    /// Creates a failure from a boxed error (`anyhow::Error` converts with `.into()`).
    pub fn boxed(source: Box<dyn Error + Send + Sync>) -> Self {
        Self {
            kind: NodeErrorKind::Failed(source),
        }
    }

    pub(crate) fn interrupt(signal: InterruptSignal) -> Self {
        Self {
            kind: NodeErrorKind::Interrupt(signal),
        }
    }

    /// Returns true when this is an interrupt, not a failure.
    pub fn is_interrupt(&self) -> bool {
        matches!(self.kind, NodeErrorKind::Interrupt(_))
    }
}

impl<E: Error + Send + Sync + 'static> From<E> for NodeError {
    fn from(source: E) -> Self {
        Self::boxed(Box::new(source))
    }
}

impl fmt::Debug for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            NodeErrorKind::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
            NodeErrorKind::Interrupt(s) => f.debug_tuple("Interrupt").field(s).finish(),
        }
    }
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            NodeErrorKind::Failed(e) => e.fmt(f),
            NodeErrorKind::Interrupt(s) => write!(f, "interrupt {}: {}", s.index, s.payload),
        }
    }
}

#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for Message {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
        };
        assert_eq!(policy.backoff(1), Duration::ZERO);
        assert_eq!(policy.backoff(2), Duration::from_millis(100));
        assert_eq!(policy.backoff(3), Duration::from_millis(200));
        assert_eq!(policy.backoff(4), Duration::from_millis(350));
    }

    #[test]
    fn node_errors_convert_from_any_error_and_keep_the_message() {
        fn parse() -> Result<i32, NodeError> {
            Ok("x".parse::<i32>()?)
        }
        let err = parse().expect_err("not a number");
        assert!(!err.is_interrupt());
        assert!(err.to_string().contains("invalid digit"));
        assert_eq!(NodeError::msg("boom").to_string(), "boom");
    }
}
