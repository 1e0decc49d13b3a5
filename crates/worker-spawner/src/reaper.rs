//! The reaper: finds the fleet's worker containers, networks and volumes by label and removes those nobody
//! will finish.
//!
//! A worker's lease is its pending `worker:spawn` entry: while a spawner supervises it, the consumer keeps the
//! entry alive; when that spawner dies, the entry is reclaimed by a live one, which resumes the container. So
//! the reaper leaves unfinished workers alone until their deadline plus a grace period has passed — then no
//! spawner is coming back for them: it kills them, records `infra_error` and publishes that result if none was
//! published. Objects of finished workers (a crash between publishing and cleanup) are removed at once. Workers
//! this process is handling right now are never touched.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::query_parameters::{ListContainersOptionsBuilder, ListNetworksOptionsBuilder};
use orch_contracts::messages::worker::WorkerStatus;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::docker::DockerError;
use crate::names::{
    self, DEADLINE, IDEMPOTENCY_KEY, ROLE_WORKER, ROLE_WORKER_NETWORK, ROLE_WORKER_VOLUME,
    WorkerNames,
};
use crate::spawner::Spawner;
use crate::workers::{self, Finish, RowState};

impl Spawner {
    /// Runs [`Spawner::reap_once`] now and then every `reaper_interval_secs` until `shutdown`.
    pub async fn reaper_loop(self, shutdown: CancellationToken) {
        let interval = Duration::from_secs(self.config.reaper_interval_secs.max(1));
        loop {
            match self.reap_once().await {
                Ok(0) => {}
                Ok(n) => info!(reaped = n, "reaped orphaned workers"),
                Err(e) => warn!(error = %e, "reaping failed; will try again"),
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Removes every orphan it finds; returns how many workers it reaped.
    pub async fn reap_once(&self) -> Result<usize, DockerError> {
        let mut reaped = 0;
        for (key, deadline_ms) in self.labelled_workers().await? {
            if self.is_active(&key) {
                continue;
            }
            let row = match workers::by_key(&self.pool, &key).await {
                Ok(row) => row,
                Err(e) => {
                    warn!(key, error = %e, "cannot read the worker row; skipping");
                    continue;
                }
            };
            let finished = matches!(row.as_ref().map(|r| r.state), Some(RowState::Done(_)));
            let grace = i64::try_from(self.config.reap_grace_secs).unwrap_or(i64::MAX / 2) * 1000;
            let abandoned =
                chrono::Utc::now().timestamp_millis() > deadline_ms.saturating_add(grace);
            if !finished && !abandoned {
                continue;
            }
            let names = WorkerNames::for_key(&key);
            if let Some(row) = row.filter(|_| !finished) {
                self.containers.kill(&names.container).await?;
                self.conclude_abandoned(&row, &key).await;
            }
            self.cleanup(&names).await;
            self.metrics.reaped();
            reaped += 1;
        }
        Ok(reaped)
    }

    async fn conclude_abandoned(&self, row: &workers::WorkerRow, key: &str) {
        let summary = "abandoned: no spawner finished this worker before its deadline";
        let outcome = Finish {
            status: WorkerStatus::InfraError,
            commit_sha: None,
            exit_code: None,
            summary,
        };
        if let Err(e) = workers::finish(&self.pool, row.id, &outcome).await {
            warn!(key, error = %e, "cannot record the abandoned worker");
            return;
        }
        match workers::by_key(&self.pool, key).await {
            Ok(Some(row)) => {
                if let Err(e) = self.republish_if_missing(&row, None).await {
                    warn!(key, error = %e, "cannot publish the abandoned worker's result");
                }
            }
            Ok(None) => {}
            Err(e) => warn!(key, error = %e, "cannot re-read the abandoned worker"),
        }
    }

    /// Returns idempotency key → deadline of every labelled worker object of the fleet.
    async fn labelled_workers(&self) -> Result<BTreeMap<String, i64>, DockerError> {
        let id = &self.config.spawner_id;
        let mut found = BTreeMap::new();
        let containers = self
            .docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&names::role_filter(id, ROLE_WORKER))
                    .build(),
            ))
            .await
            .map_err(DockerError::api("list containers"))?;
        for labels in containers.into_iter().filter_map(|c| c.labels) {
            note(&mut found, &labels);
        }
        let networks = self
            .docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&names::role_filter(id, ROLE_WORKER_NETWORK))
                    .build(),
            ))
            .await
            .map_err(DockerError::api("list networks"))?;
        for labels in networks.into_iter().filter_map(|n| n.labels) {
            note(&mut found, &labels);
        }
        let volumes = self
            .docker
            .list_volumes(Some(
                bollard::query_parameters::ListVolumesOptionsBuilder::default()
                    .filters(&names::role_filter(id, ROLE_WORKER_VOLUME))
                    .build(),
            ))
            .await
            .map_err(DockerError::api("list volumes"))?;
        for volume in volumes.volumes.unwrap_or_default() {
            note(&mut found, &volume.labels);
        }
        Ok(found)
    }

    /// Removes the proxy and egress network when no worker of the fleet is left (graceful shutdown).
    pub async fn shutdown_fleet_if_idle(&self) -> Result<(), DockerError> {
        if !self.labelled_workers().await?.is_empty() {
            info!("workers are still running; the egress proxy stays");
            return Ok(());
        }
        self.egress.shutdown_fleet().await
    }
}

fn note(found: &mut BTreeMap<String, i64>, labels: &HashMap<String, String>) {
    if let Some(key) = labels.get(IDEMPOTENCY_KEY) {
        let deadline = labels
            .get(DEADLINE)
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        found.entry(key.clone()).or_insert(deadline);
    }
}
