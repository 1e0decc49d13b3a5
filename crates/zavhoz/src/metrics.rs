//! Prometheus counters (served on `/metrics`): allocations and resolutions by outcome, expired leases,
//! and `zavhoz_secret_replays_total` — the alert source for a single-use handle redeemed twice.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// Zavhoz's counters; cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    allocations: Family<Labels, Counter>,
    resolves: Family<Labels, Counter>,
    replays: Counter,
    expired: Counter,
}

impl Metrics {
    /// Registers the counters.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "zavhoz_allocations",
            "Allocate calls by kind and outcome",
            self.allocations.clone(),
        );
        registry.register(
            "zavhoz_resolves",
            "Resolve calls by outcome",
            self.resolves.clone(),
        );
        registry.register(
            "zavhoz_secret_replays",
            "Second redemptions of single-use handles (alert)",
            self.replays.clone(),
        );
        registry.register(
            "zavhoz_leases_expired",
            "Resources released by the reaper",
            self.expired.clone(),
        );
    }

    /// Counts an Allocate outcome.
    pub fn allocation(&self, kind: &str, outcome: &str) {
        self.allocations
            .get_or_create(&vec![
                ("kind".into(), kind.into()),
                ("outcome".into(), outcome.into()),
            ])
            .inc();
    }

    /// Counts a Resolve outcome.
    pub fn resolve(&self, outcome: &str) {
        self.resolves
            .get_or_create(&vec![("outcome".into(), outcome.into())])
            .inc();
    }

    /// Counts a replayed single-use handle.
    pub fn replay(&self) {
        self.replays.inc();
    }

    /// Counts reaped leases.
    pub fn expired(&self, n: u64) {
        self.expired.inc_by(n);
    }
}
