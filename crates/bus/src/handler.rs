//! What a consumer runs for each message.

use std::fmt;
use std::future::Future;

use orch_contracts::Envelope;

/// One delivery of a message to a handler.
#[derive(Debug, Clone)]
pub struct Delivery<M> {
    /// The decoded, validated message.
    pub envelope: Envelope<M>,
    /// The Redis entry id.
    pub entry_id: String,
    /// How many times the group delivered this entry, this delivery included (1 on the first).
    pub deliveries: u64,
}

/// Why a handler did not finish its work.
#[derive(Debug)]
pub enum HandlerError {
    /// Something that may pass later (a dependency is down): the entry stays pending and is redelivered after
    /// the claim timeout, until the delivery limit moves it to the dead-letter stream.
    Retry(String),
    /// The message can never be handled (it refers to something that does not exist): it moves to the
    /// dead-letter stream at once.
    Reject(String),
}

impl HandlerError {
    /// A failure worth retrying; the error's full cause chain becomes the reason.
    pub fn retry(error: impl fmt::Display) -> Self {
        Self::Retry(format!("{error:#}"))
    }

    /// A failure not worth retrying.
    pub fn reject(error: impl fmt::Display) -> Self {
        Self::Reject(format!("{error:#}"))
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Retry(reason) => write!(f, "handler failed (will retry): {reason}"),
            Self::Reject(reason) => write!(f, "handler rejected the message: {reason}"),
        }
    }
}

impl std::error::Error for HandlerError {}

/// Handles messages of type `M`. Must be idempotent: a message may be delivered more than once (use the event id).
pub trait Handler<M>: Send + Sync + 'static {
    /// Does the work of one message; `Ok` means the effect is durable and the entry may be acknowledged.
    fn handle(
        &self,
        delivery: Delivery<M>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

impl<M, F, Fut> Handler<M> for F
where
    M: Send + 'static,
    F: Fn(Delivery<M>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    fn handle(
        &self,
        delivery: Delivery<M>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        self(delivery)
    }
}
