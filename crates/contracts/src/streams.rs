//! Stream keys: the design card's names, in one place.
//!
//! Work streams are read through consumer groups; per-id result streams (`worker:result:<id>`) are read by the one
//! party waiting for that result and expire on their own.

use std::fmt;

use crate::ids::{DeploymentId, ReviewId, WorkerId};

/// Messages from people to the graph: texts, commands and button presses.
pub const CHAT_IN: &str = "chat:in";
/// Messages from the graph to people: texts, buttons, edits of progress messages.
pub const CHAT_OUT: &str = "chat:out";
/// Requests to run one coding worker.
pub const WORKER_SPAWN: &str = "worker:spawn";
/// Requests to review (and possibly merge) one pull request.
pub const REVIEW_REQUEST: &str = "review:request";
/// Requests to deploy one project.
pub const DEPLOY_REQUEST: &str = "deploy:request";
/// Every work stream read through a consumer group (each has a dead-letter stream).
pub const WORK_STREAMS: [&str; 5] = [
    CHAT_IN,
    CHAT_OUT,
    WORKER_SPAWN,
    REVIEW_REQUEST,
    DEPLOY_REQUEST,
];
/// Suffix of every dead-letter stream.
pub const DLQ_SUFFIX: &str = ":dlq";

/// A Redis stream key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey(String);

impl StreamKey {
    /// Wraps a key; keys are plain strings on the wire.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// Returns the key as Redis sees it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the dead-letter stream of this stream: `<stream>:dlq`.
    pub fn dlq(&self) -> StreamKey {
        StreamKey(format!("{}{DLQ_SUFFIX}", self.0))
    }

    /// Returns true for a dead-letter stream.
    pub fn is_dlq(&self) -> bool {
        self.0.ends_with(DLQ_SUFFIX)
    }

    /// Returns this key under a namespace prefix (`<prefix>:<key>`), used to isolate tests and tenants.
    pub fn prefixed(&self, prefix: &str) -> StreamKey {
        if prefix.is_empty() {
            self.clone()
        } else {
            StreamKey(format!("{prefix}:{}", self.0))
        }
    }
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for StreamKey {
    fn from(key: &str) -> Self {
        Self::new(key)
    }
}

/// Returns `worker:result:<id>`, where the spawner publishes one worker's result.
pub fn worker_result(id: WorkerId) -> StreamKey {
    StreamKey(format!("worker:result:{id}"))
}

/// Returns `worker:progress:<id>`, where the spawner streams one worker's log tail.
pub fn worker_progress(id: WorkerId) -> StreamKey {
    StreamKey(format!("worker:progress:{id}"))
}

/// Returns `review:result:<id>`, where the reviewer publishes one review's outcome.
pub fn review_result(id: ReviewId) -> StreamKey {
    StreamKey(format!("review:result:{id}"))
}

/// Returns `deploy:result:<id>`, where the devops-runner publishes one deployment's outcome.
pub fn deploy_result(id: DeploymentId) -> StreamKey {
    StreamKey(format!("deploy:result:{id}"))
}

/// Pub/sub channel (disposable signal, never work): a model configuration changed.
pub const MODEL_CONFIG_CHANGED: &str = "signal:model-config-changed";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dlq_and_prefix_compose() {
        let key = StreamKey::from(WORKER_SPAWN).prefixed("t1");
        assert_eq!(key.as_str(), "t1:worker:spawn");
        assert_eq!(key.dlq().as_str(), "t1:worker:spawn:dlq");
        assert!(key.dlq().is_dlq());
        assert!(!key.is_dlq());
    }

    #[test]
    fn per_id_streams_embed_the_id() {
        let id = WorkerId::new();
        assert_eq!(worker_result(id).as_str(), format!("worker:result:{id}"));
    }
}
