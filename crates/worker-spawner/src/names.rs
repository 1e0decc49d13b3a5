//! Names and labels of everything the spawner creates in Docker.
//!
//! Names are derived from the spawn's idempotency key, so a redelivered spawn finds the container, network and
//! volumes of its first delivery instead of creating new ones (Docker refuses a second container with the same
//! name). Labels let a restarted spawner find and reap what a crashed one left behind.

use std::collections::HashMap;

use orch_contracts::messages::worker::WorkerSpawn;
use sha2::{Digest, Sha256};

/// Label: the spawner fleet that owns the object.
pub const SPAWNER: &str = "orch.spawner";
/// Label: what the object is (`worker`, `worker-network`, `worker-volume`, `egress-proxy`, `egress-network`).
pub const ROLE: &str = "orch.role";
/// Label: the worker id.
pub const WORKER_ID: &str = "orch.worker-id";
/// Label: the spawn's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "orch.idempotency-key";
/// Label: the project id.
pub const PROJECT_ID: &str = "orch.project-id";
/// Label: unix time in milliseconds after which the worker is killed as timed out.
pub const DEADLINE: &str = "orch.deadline";
/// Label: the hash of the egress proxy's configuration.
pub const PROXY_CONFIG: &str = "orch.proxy-config";

/// Role of a worker container.
pub const ROLE_WORKER: &str = "worker";
/// Role of a worker's private network.
pub const ROLE_WORKER_NETWORK: &str = "worker-network";
/// Role of a worker's volume.
pub const ROLE_WORKER_VOLUME: &str = "worker-volume";
/// Role of the egress proxy container.
pub const ROLE_PROXY: &str = "egress-proxy";
/// Role of the proxy's outside network.
pub const ROLE_EGRESS_NETWORK: &str = "egress-network";

/// The names of one worker's Docker objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerNames {
    /// The container (and the network: they share the name).
    pub container: String,
    /// The volume mounted at `/workspace`.
    pub workspace_volume: String,
    /// The volume mounted at `/out`.
    pub out_volume: String,
}

impl WorkerNames {
    /// Derives the names from an idempotency key.
    pub fn for_key(key: &str) -> Self {
        let digest = Sha256::digest(key.as_bytes());
        let hex: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
        let container = format!("orch-w-{hex}");
        Self {
            workspace_volume: format!("{container}-ws"),
            out_volume: format!("{container}-out"),
            container,
        }
    }

    /// The worker's private network.
    pub fn network(&self) -> &str {
        &self.container
    }
}

/// The name of a fleet's egress proxy container.
pub fn proxy_container(spawner_id: &str) -> String {
    format!("orch-egress-proxy-{}", sanitize(spawner_id))
}

/// The name of a fleet's egress network.
pub fn egress_network(spawner_id: &str) -> String {
    format!("orch-egress-{}", sanitize(spawner_id))
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The labels of every object belonging to one worker.
pub fn worker_labels(
    spawner_id: &str,
    role: &str,
    spawn: &WorkerSpawn,
    deadline_unix: i64,
) -> HashMap<String, String> {
    HashMap::from([
        (SPAWNER.to_owned(), spawner_id.to_owned()),
        (ROLE.to_owned(), role.to_owned()),
        (WORKER_ID.to_owned(), spawn.worker_id.to_string()),
        (IDEMPOTENCY_KEY.to_owned(), spawn.idempotency_key.clone()),
        (PROJECT_ID.to_owned(), spawn.project_id.to_string()),
        (DEADLINE.to_owned(), deadline_unix.to_string()),
    ])
}

/// The labels of a fleet-wide object (proxy, egress network).
pub fn fleet_labels(spawner_id: &str, role: &str) -> HashMap<String, String> {
    HashMap::from([
        (SPAWNER.to_owned(), spawner_id.to_owned()),
        (ROLE.to_owned(), role.to_owned()),
    ])
}

/// A Docker label filter selecting `role` objects of a fleet.
pub fn role_filter(spawner_id: &str, role: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_owned(),
        vec![format!("{SPAWNER}={spawner_id}"), format!("{ROLE}={role}")],
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_deterministic_per_key_and_valid_for_docker() {
        let a = WorkerNames::for_key("run-1/task-a:attempt-1");
        assert_eq!(a, WorkerNames::for_key("run-1/task-a:attempt-1"));
        assert_ne!(a, WorkerNames::for_key("run-1/task-a:attempt-2"));
        assert!(
            a.container
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        );
        assert_eq!(a.container.len(), "orch-w-".len() + 20);
    }

    #[test]
    fn fleet_names_are_sanitized() {
        assert_eq!(proxy_container("test/a b"), "orch-egress-proxy-test-a-b");
    }
}
