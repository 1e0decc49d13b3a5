//! Thread identity: which conversation a run belongs to.

use std::fmt;
use std::sync::Arc;

use orch_contracts::ProjectId;

/// Names one durable thread: a Telegram chat, or a chat's project when a chat has several, plus a checkpoint
/// namespace (empty for the top-level graph; subgraphs use their own so their checkpoints never mix).
///
/// Cloning is cheap (shared strings).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadKey {
    thread_id: Arc<str>,
    namespace: Arc<str>,
}

impl ThreadKey {
    /// Creates a key for `thread_id` in the top-level namespace.
    pub fn new(thread_id: impl Into<Arc<str>>) -> Self {
        Self {
            thread_id: thread_id.into(),
            namespace: Arc::from(""),
        }
    }

    /// Returns the thread of a Telegram chat: `chat:<id>`.
    pub fn chat(telegram_chat_id: i64) -> Self {
        Self::new(format!("chat:{telegram_chat_id}"))
    }

    /// Returns the thread of one project of a chat that has several: `chat:<id>:project:<uuid>`.
    pub fn chat_project(telegram_chat_id: i64, project: ProjectId) -> Self {
        Self::new(format!("chat:{telegram_chat_id}:project:{project}"))
    }

    /// Returns the same thread in checkpoint namespace `namespace`.
    pub fn with_namespace(&self, namespace: impl Into<Arc<str>>) -> Self {
        Self {
            thread_id: self.thread_id.clone(),
            namespace: namespace.into(),
        }
    }

    /// Returns the thread id (the lease is per thread id, across namespaces).
    pub fn thread_id(&self) -> &str {
        &self.thread_id
    }

    /// Returns the checkpoint namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

impl fmt::Display for ThreadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.thread_id)
        } else {
            write!(f, "{}#{}", self.thread_id, self.namespace)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_threads_are_named_after_the_chat_and_project() {
        assert_eq!(ThreadKey::chat(42).thread_id(), "chat:42");
        let project = ProjectId::new();
        let key = ThreadKey::chat_project(42, project);
        assert_eq!(key.thread_id(), format!("chat:42:project:{project}"));
        assert_eq!(key.namespace(), "");
    }

    #[test]
    fn namespaces_share_the_thread_id_and_show_in_display() {
        let key = ThreadKey::chat(7).with_namespace("review");
        assert_eq!(key.thread_id(), "chat:7");
        assert_eq!(key.to_string(), "chat:7#review");
        assert_eq!(ThreadKey::chat(7).to_string(), "chat:7");
    }
}
