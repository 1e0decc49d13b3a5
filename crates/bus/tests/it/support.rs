//! Helpers: a bus under a unique prefix with fast timings, and test messages.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use orch_bus::{Bus, BusConfig, Consumer, Delivery, HandlerError};
use orch_contracts::messages::worker::WorkerProgress;
use orch_contracts::{Envelope, StreamKey, WorkerId};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn fast_config() -> BusConfig {
    BusConfig {
        prefix: format!("test-{}", uuid::Uuid::new_v4().simple()),
        claim_min_idle: Duration::from_millis(500),
        reclaim_interval: Duration::from_millis(200),
        block: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(5),
        ..BusConfig::default()
    }
}

pub fn bus() -> Bus {
    Bus::connect(&redis_url(), fast_config()).expect("bus")
}

pub fn stream() -> StreamKey {
    StreamKey::new("work")
}

pub fn message(seq: u64) -> Envelope<WorkerProgress> {
    Envelope::new(WorkerProgress {
        worker_id: WorkerId::new(),
        seq,
        lines: vec![format!("line {seq}")],
    })
}

/// Counts handled messages; fails (or panics) as told.
#[derive(Clone, Default)]
pub struct Counter(pub Arc<AtomicUsize>);

impl Counter {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    pub async fn wait_for(&self, n: usize, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while self.get() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {n} handled in {within:?}",
                self.get()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub fn spawn_consumer<H>(bus: &Bus, name: &str, handler: H) -> (CancellationToken, JoinHandle<()>)
where
    H: orch_bus::Handler<WorkerProgress>,
{
    let token = CancellationToken::new();
    let consumer = Consumer::new(bus, &stream(), "testers", name, handler);
    let t = token.clone();
    let handle = tokio::spawn(async move { consumer.run(t).await.expect("consumer runs") });
    (token, handle)
}

pub fn counting(counter: &Counter) -> impl orch_bus::Handler<WorkerProgress> + use<> {
    let counter = counter.clone();
    move |_d: Delivery<WorkerProgress>| {
        let counter = counter.clone();
        async move {
            counter.0.fetch_add(1, Ordering::SeqCst);
            Ok::<(), HandlerError>(())
        }
    }
}

pub async fn pending(bus: &Bus) -> u64 {
    orch_bus::Group::new(bus, &stream(), "testers", "inspector")
        .pending()
        .await
        .expect("pending")
}
