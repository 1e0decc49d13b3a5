//! Prometheus counters of the bus.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Labels of [`BusMetrics::handled`].
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandledLabels {
    /// The stream.
    pub stream: String,
    /// `ok`, `retry`, `rejected`, `invalid` or `dead_lettered`.
    pub outcome: &'static str,
}

/// Labels carrying only a stream.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabels {
    /// The stream.
    pub stream: String,
}

/// Counters every consumer updates.
#[derive(Debug, Clone, Default)]
pub struct BusMetrics {
    handled: Family<HandledLabels, Counter>,
    dead_lettered: Family<StreamLabels, Counter>,
    reclaimed: Family<StreamLabels, Counter>,
}

impl BusMetrics {
    /// Adds the counters to a registry, under the `bus_` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let bus = registry.sub_registry_with_prefix("bus");
        bus.register(
            "messages_handled",
            "Messages handled, by stream and outcome",
            self.handled.clone(),
        );
        bus.register(
            "dead_lettered",
            "Entries moved to a dead-letter stream",
            self.dead_lettered.clone(),
        );
        bus.register(
            "reclaimed",
            "Abandoned entries reclaimed from another consumer",
            self.reclaimed.clone(),
        );
    }

    pub(crate) fn handled(&self, stream: &str, outcome: &'static str) {
        self.handled
            .get_or_create(&HandledLabels {
                stream: stream.to_owned(),
                outcome,
            })
            .inc();
    }

    pub(crate) fn dead_lettered(&self, stream: &str) {
        self.dead_lettered
            .get_or_create(&StreamLabels {
                stream: stream.to_owned(),
            })
            .inc();
    }

    pub(crate) fn reclaimed(&self, stream: &str, n: u64) {
        self.reclaimed
            .get_or_create(&StreamLabels {
                stream: stream.to_owned(),
            })
            .inc_by(n);
    }

    /// Returns how many messages of `stream` ended with `outcome` (for tests and the dashboard).
    pub fn handled_count(&self, stream: &str, outcome: &'static str) -> u64 {
        self.handled
            .get_or_create(&HandledLabels {
                stream: stream.to_owned(),
                outcome,
            })
            .get()
    }
}
