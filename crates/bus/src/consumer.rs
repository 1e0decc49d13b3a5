//! The consumer loop: read, reclaim, dispatch with bounded concurrency, acknowledge, drain on shutdown.
//!
//! Delivery guarantee: at-least-once. An entry is acknowledged only after its handler returned `Ok`; the event
//! id is the idempotency key handlers use. On shutdown the consumer stops reading, lets in-flight handlers finish
//! within [`BusConfig::shutdown_grace`](crate::BusConfig::shutdown_grace), flushes their acks and returns; what
//! did not finish stays pending and a peer reclaims it.

use std::collections::HashSet;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orch_contracts::{Contract, StreamKey};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, instrument, warn};

use crate::client::Bus;
use crate::config::BusConfig;
use crate::dispatch::Dispatcher;
use crate::error::BusError;
use crate::group::Group;
use crate::handler::Handler;
use crate::janitor;
use crate::ordering::{Chains, KeyFn};

/// Drives a [`Handler`] over one stream as one named consumer of a group.
pub struct Consumer<M, H> {
    group: Group,
    handler: H,
    config: BusConfig,
    order: Option<KeyFn<M>>,
    _message: PhantomData<fn() -> M>,
}

impl<M, H> Consumer<M, H>
where
    M: Contract + Send + 'static,
    H: Handler<M>,
{
    /// Creates a consumer named `consumer` in `group` on `stream`, with the bus's configuration.
    pub fn new(bus: &Bus, stream: &StreamKey, group: &str, consumer: &str, handler: H) -> Self {
        Self {
            group: Group::new(bus, stream, group, consumer),
            handler,
            config: bus.config().clone(),
            order: None,
            _message: PhantomData,
        }
    }

    /// Handles messages with the same key (e.g. a chat id) one at a time, in stream order; different keys still
    /// run in parallel. Redelivered entries (after a crash) rejoin their key's order when reclaimed.
    pub fn with_ordering_key(mut self, key: impl Fn(&M) -> u64 + Send + Sync + 'static) -> Self {
        self.order = Some(Arc::new(key));
        self
    }

    /// Overrides the configuration (e.g. a shorter claim timeout for one stream).
    pub fn with_config(mut self, config: BusConfig) -> Self {
        self.config = config;
        self
    }

    /// Runs until `shutdown` is cancelled, then drains. Returns an error only if the group can never be created
    /// before shutdown; Redis outages while running are retried with backoff.
    #[instrument(skip_all, fields(stream = %self.group.stream(), group = self.group.name(), consumer = self.group.consumer()))]
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), BusError> {
        let Self {
            group,
            handler,
            config,
            order,
            ..
        } = self;
        ensure_group(&group, &shutdown).await?;
        let (ack_tx, ack_rx) = mpsc::unbounded_channel();
        let dispatcher = Arc::new(Dispatcher {
            group: group.clone(),
            handler: Arc::new(handler),
            in_flight: Arc::new(Mutex::new(HashSet::new())),
            acks: ack_tx,
            tracker: TaskTracker::new(),
            max_deliveries: u64::from(config.max_deliveries),
            order,
            chains: Chains::default(),
            _message: PhantomData,
        });
        let permits = Arc::new(Semaphore::new(config.max_in_flight.max(1)));
        let background = CancellationToken::new();
        let acker = tokio::spawn(ack_loop(group.clone(), ack_rx, background.clone()));
        let keepalive = tokio::spawn(keepalive_loop(
            Arc::clone(&dispatcher),
            config.clone(),
            background.clone(),
        ));
        info!("consumer started");
        intake_loop(&dispatcher, &permits, &config, &shutdown).await;
        drain(&dispatcher, &config).await;
        background.cancel();
        let _ = keepalive.await;
        let _ = acker.await;
        info!("consumer stopped");
        Ok(())
    }
}

async fn ensure_group(group: &Group, shutdown: &CancellationToken) -> Result<(), BusError> {
    let mut backoff = Backoff::default();
    loop {
        match group.ensure().await {
            Ok(()) => return Ok(()),
            Err(e) if shutdown.is_cancelled() => return Err(e),
            Err(e) => {
                warn!(error = %e, "cannot create the consumer group yet; retrying");
                backoff.wait(shutdown).await;
            }
        }
    }
}

/// Reads new entries and reclaims abandoned ones until shutdown.
async fn intake_loop<M, H>(
    dispatcher: &Arc<Dispatcher<M, H>>,
    permits: &Arc<Semaphore>,
    config: &BusConfig,
    shutdown: &CancellationToken,
) where
    M: Contract + Send + 'static,
    H: Handler<M>,
{
    let group = &dispatcher.group;
    let mut cursor = String::from("0-0");
    let mut next_reclaim = Instant::now();
    let mut next_trim = Instant::now() + config.trim_interval;
    let mut backoff = Backoff::default();
    while !shutdown.is_cancelled() {
        let Some(batch) = take_permits(permits, config.batch, shutdown).await else {
            break;
        };
        let now = Instant::now();
        let step = if now >= next_reclaim {
            next_reclaim = now + config.reclaim_interval;
            reclaim(dispatcher, config, &mut cursor, batch).await
        } else {
            let block = config
                .block
                .min(next_reclaim - now)
                .max(Duration::from_millis(1));
            read(dispatcher, block, batch).await
        };
        match step {
            Ok(()) => backoff.reset(),
            Err(e) => {
                if e.is_missing_group() {
                    let _ = group.ensure().await;
                }
                warn!(error = %e, "stream read failed; retrying");
                backoff.wait(shutdown).await;
            }
        }
        if Instant::now() >= next_trim {
            next_trim = Instant::now() + config.trim_interval;
            if let Err(e) = janitor::tidy(group, config.retention).await {
                debug!(error = %e, "trimming failed; will try again");
            }
        }
    }
}

async fn take_permits(
    permits: &Arc<Semaphore>,
    max: usize,
    shutdown: &CancellationToken,
) -> Option<Vec<OwnedSemaphorePermit>> {
    let first = tokio::select! {
        p = Arc::clone(permits).acquire_owned() => p.ok()?,
        () = shutdown.cancelled() => return None,
    };
    let mut batch = vec![first];
    while batch.len() < max.max(1) {
        match Arc::clone(permits).try_acquire_owned() {
            Ok(p) => batch.push(p),
            Err(_) => break,
        }
    }
    Some(batch)
}

async fn read<M, H>(
    dispatcher: &Arc<Dispatcher<M, H>>,
    block: Duration,
    mut permits: Vec<OwnedSemaphorePermit>,
) -> Result<(), BusError>
where
    M: Contract + Send + 'static,
    H: Handler<M>,
{
    let entries = dispatcher.group.read_new(permits.len(), block).await?;
    for entry in entries {
        let Some(permit) = permits.pop() else { break };
        dispatcher.dispatch(entry, permit).await;
    }
    Ok(())
}

async fn reclaim<M, H>(
    dispatcher: &Arc<Dispatcher<M, H>>,
    config: &BusConfig,
    cursor: &mut String,
    mut permits: Vec<OwnedSemaphorePermit>,
) -> Result<(), BusError>
where
    M: Contract + Send + 'static,
    H: Handler<M>,
{
    let group = &dispatcher.group;
    let (next, entries) = group
        .reclaim(config.claim_min_idle, cursor, permits.len())
        .await?;
    *cursor = next;
    if !entries.is_empty() {
        info!(count = entries.len(), "reclaimed abandoned entries");
        group
            .bus()
            .metrics()
            .reclaimed(group.stream().as_str(), entries.len() as u64);
    }
    for entry in entries {
        let Some(permit) = permits.pop() else { break };
        dispatcher.dispatch(entry, permit).await;
    }
    Ok(())
}

/// Waits for in-flight handlers up to the grace period; what is left stays pending for a peer.
async fn drain<M, H>(dispatcher: &Dispatcher<M, H>, config: &BusConfig) {
    let tracker = dispatcher.tracker.clone();
    tracker.close();
    let in_flight = tracker.len();
    if in_flight > 0 {
        info!(in_flight, "draining in-flight handlers");
    }
    if tokio::time::timeout(config.shutdown_grace, tracker.wait())
        .await
        .is_err()
    {
        warn!(
            left = tracker.len(),
            "grace period over; unfinished entries stay pending for another consumer"
        );
    }
}

/// Acknowledges handled entries in batches; on `stop` it flushes what is queued and ends. Handlers that finish
/// later are not acknowledged: their entries stay pending and are redelivered (and deduplicated).
async fn ack_loop(
    group: Group,
    mut acks: mpsc::UnboundedReceiver<String>,
    stop: CancellationToken,
) {
    let mut batch = Vec::with_capacity(256);
    loop {
        let stopping = tokio::select! {
            biased;
            n = acks.recv_many(&mut batch, 256) => n == 0,
            () = stop.cancelled() => true,
        };
        if stopping {
            while let Ok(id) = acks.try_recv() {
                batch.push(id);
            }
        }
        flush_acks(&group, &batch).await;
        batch.clear();
        if stopping {
            return;
        }
    }
}

async fn flush_acks(group: &Group, ids: &[String]) {
    let mut attempt = 0;
    while let Err(e) = group.ack(ids).await {
        attempt += 1;
        if attempt >= 10 {
            warn!(error = %e, count = ids.len(), "giving up acking; the entries will be redelivered and deduplicated");
            return;
        }
        sleep(Duration::from_millis(100 * attempt)).await;
    }
}

/// Keeps in-flight entries from looking abandoned while their handlers run.
async fn keepalive_loop<M, H>(
    dispatcher: Arc<Dispatcher<M, H>>,
    config: BusConfig,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = sleep(config.keepalive_interval()) => {}
            () = stop.cancelled() => return,
        }
        let ids: Vec<String> = match dispatcher.in_flight.lock() {
            Ok(set) => set.iter().cloned().collect(),
            Err(_) => return,
        };
        if let Err(e) = dispatcher.group.keepalive(&ids).await {
            debug!(error = %e, "keepalive failed; will retry");
        }
    }
}

/// Exponential backoff from 100 ms to 5 s, interruptible by shutdown.
#[derive(Default)]
struct Backoff {
    attempt: u32,
}

impl Backoff {
    async fn wait(&mut self, shutdown: &CancellationToken) {
        let delay =
            Duration::from_millis(100u64 << self.attempt.min(6)).min(Duration::from_secs(5));
        self.attempt += 1;
        tokio::select! {
            () = sleep(delay) => {}
            () = shutdown.cancelled() => {}
        }
    }

    fn reset(&mut self) {
        self.attempt = 0;
    }
}
