//! The shared state of the spawner and the small operations every path uses: publishing results, cleaning up
//! a worker's Docker objects, and the in-process guard against handling one key twice at once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use orch_bus::{Bus, BusError};
use orch_contracts::messages::worker::{WorkerResult, WorkerStatus};
use orch_contracts::{Envelope, RunId, StreamKey, WorkerId, streams};
use sqlx::PgPool;
use tracing::warn;

use crate::config::WorkerSpawnerConfig;
use crate::container::Containers;
use crate::egress::Egress;
use crate::metrics::Metrics;
use crate::names::WorkerNames;
use crate::secrets::SecretResolver;
use crate::verify::Verifier;
use crate::workers::{RowState, WorkerRow};

/// Everything a spawn handler needs; cheap to clone.
#[derive(Clone)]
pub struct Spawner {
    /// The settings.
    pub config: Arc<WorkerSpawnerConfig>,
    /// The Docker client.
    pub docker: Docker,
    /// Worker container operations.
    pub containers: Containers,
    /// Networks and the proxy.
    pub egress: Egress,
    /// The database.
    pub pool: PgPool,
    /// The bus (with this service's stream prefix).
    pub bus: Bus,
    /// Resolves secret handles.
    pub secrets: Arc<dyn SecretResolver>,
    /// Checks claimed pushes.
    pub verifier: Verifier,
    /// Counters.
    pub metrics: Metrics,
    /// Idempotency keys being handled in this process.
    pub active: Arc<Mutex<HashSet<String>>>,
    /// Launches at once: each holds a PostgreSQL connection (its idempotency lock) for the whole launch, so
    /// fewer launches than pooled connections run together and the rest wait here instead of timing out on
    /// the pool.
    pub launches: Arc<tokio::sync::Semaphore>,
}

/// Removes a key from the active set when dropped.
pub struct ActiveGuard {
    key: String,
    active: Arc<Mutex<HashSet<String>>>,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if let Ok(mut set) = self.active.lock() {
            set.remove(&self.key);
        }
    }
}

impl Spawner {
    /// The stream spawns arrive on.
    pub fn spawn_stream() -> StreamKey {
        StreamKey::from(streams::WORKER_SPAWN)
    }

    /// Marks `key` as handled here, waiting while another delivery of the same key is in progress (a duplicate
    /// entry must not start a second supervision of the same container).
    pub async fn claim_active(&self, key: &str) -> ActiveGuard {
        loop {
            let inserted = self
                .active
                .lock()
                .map(|mut set| set.insert(key.to_owned()))
                .unwrap_or(false);
            if inserted {
                return ActiveGuard {
                    key: key.to_owned(),
                    active: Arc::clone(&self.active),
                };
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Returns true when `key` is being handled in this process.
    pub fn is_active(&self, key: &str) -> bool {
        self.active
            .lock()
            .map(|set| set.contains(key))
            .unwrap_or(true)
    }

    /// Publishes a worker's result on `worker:result:<id>`.
    pub async fn publish_result(
        &self,
        result: WorkerResult,
        run_id: Option<RunId>,
    ) -> Result<(), BusError> {
        let stream = streams::worker_result(result.worker_id);
        let status = result.status;
        let mut envelope = Envelope::new(result);
        envelope.run_id = run_id;
        self.bus.publish_result(&stream, &envelope).await?;
        self.metrics.finished(status);
        Ok(())
    }

    /// Publishes the stored outcome of a finished worker unless its result stream already holds one (a
    /// redelivery after the result went out, or a reaped orphan).
    pub async fn republish_if_missing(
        &self,
        row: &WorkerRow,
        run_id: Option<RunId>,
    ) -> Result<(), BusError> {
        let RowState::Done(status) = row.state else {
            return Ok(());
        };
        if self.bus.len(&streams::worker_result(row.id)).await? > 0 {
            return Ok(());
        }
        let result = stored_result(row, status);
        self.publish_result(result, run_id).await
    }

    /// Removes a worker's container, volumes and network; failures are logged (the reaper retries).
    pub async fn cleanup(&self, names: &WorkerNames) {
        if let Err(e) = self.containers.remove(names).await {
            warn!(container = %names.container, error = %e, "cleanup failed; the reaper will retry");
            return;
        }
        if let Err(e) = self.egress.release(names.network()).await {
            warn!(network = %names.network(), error = %e, "network cleanup failed; the reaper will retry");
        }
    }
}

/// Rebuilds a result from a stored row (log tail and usage are not stored).
pub fn stored_result(row: &WorkerRow, status: WorkerStatus) -> WorkerResult {
    WorkerResult {
        worker_id: row.id,
        status,
        branch: row.branch.clone(),
        commit_sha: row.commit_sha.clone(),
        verified: status == WorkerStatus::Succeeded,
        summary: row
            .summary
            .clone()
            .unwrap_or_else(|| "finished earlier".into()),
        usage: None,
        exit_code: row.exit_code,
        log_tail: String::new(),
        duration_ms: 0,
    }
}

/// A result for a spawn that never ran a container.
pub fn refusal(
    worker_id: WorkerId,
    branch: &str,
    status: WorkerStatus,
    summary: String,
) -> WorkerResult {
    WorkerResult {
        worker_id,
        status,
        branch: branch.to_owned(),
        commit_sha: None,
        verified: false,
        summary,
        usage: None,
        exit_code: None,
        log_tail: String::new(),
        duration_ms: 0,
    }
}
