//! The spawner's Prometheus counters.

use orch_contracts::messages::worker::WorkerStatus;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::workers::status_name;

/// Counters of started, finished, requeued and reaped workers.
#[derive(Clone, Default)]
pub struct Metrics {
    started: Counter,
    finished: Family<Vec<(String, String)>, Counter>,
    requeued: Counter,
    reaped: Counter,
    running: Gauge,
}

impl Metrics {
    /// Registers the counters.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "worker_spawner_started",
            "Worker containers started",
            self.started.clone(),
        );
        registry.register(
            "worker_spawner_finished",
            "Worker results published, by status",
            self.finished.clone(),
        );
        registry.register(
            "worker_spawner_requeued",
            "Spawns put back because their project was at its limit",
            self.requeued.clone(),
        );
        registry.register(
            "worker_spawner_reaped",
            "Orphaned worker containers removed by the reaper",
            self.reaped.clone(),
        );
        registry.register(
            "worker_spawner_running",
            "Workers supervised by this process now",
            self.running.clone(),
        );
    }

    /// Counts a started container.
    pub fn started(&self) {
        self.started.inc();
    }

    /// Counts a published result.
    pub fn finished(&self, status: WorkerStatus) {
        self.finished
            .get_or_create(&vec![("status".to_owned(), status_name(status))])
            .inc();
    }

    /// Counts a requeued spawn.
    pub fn requeued(&self) {
        self.requeued.inc();
    }

    /// Counts a reaped orphan.
    pub fn reaped(&self) {
        self.reaped.inc();
    }

    /// Tracks supervised workers (+1 / -1).
    pub fn running(&self, delta: i64) {
        self.running.inc_by(delta);
    }
}
