//! Holding a thread's lease for one invocation: acquire, renew in the background, release at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::warn;

use crate::checkpoint::{Fence, Grant, Leases};
use crate::clock::Clock;
use crate::error::GraphError;
use crate::thread::ThreadKey;

/// How a runner leases threads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConfig {
    /// This runner's identity; unique per process (see [`LeaseConfig::unique`]).
    pub owner: String,
    /// How long a lease lasts without renewal; a peer may take the thread over after that.
    pub ttl: Duration,
    /// How often the lease is renewed while the runner works on the thread.
    pub renew_every: Duration,
}

impl LeaseConfig {
    /// A 15 s lease renewed every 5 s.
    pub fn new(owner: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            ttl: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        }
    }

    /// Like [`LeaseConfig::new`] with an owner made unique: `<prefix>-<pid>-<random>`.
    pub fn unique(prefix: &str) -> Self {
        let random = uuid::Uuid::new_v4().simple().to_string();
        Self::new(format!("{prefix}-{}-{}", std::process::id(), &random[..8]))
    }

    /// Sets the TTL and renews at a third of it.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self.renew_every = ttl / 3;
        self
    }
}

/// The lease machinery a runner was given.
#[derive(Clone)]
pub(crate) struct LeaseSetup {
    pub(crate) leases: Arc<dyn Leases>,
    pub(crate) config: LeaseConfig,
}

/// A lease held for one invocation; the renewal stops when it is dropped.
pub(crate) struct HeldLease {
    leases: Arc<dyn Leases>,
    thread_id: String,
    pub(crate) fence: Fence,
    lost: Arc<AtomicBool>,
    renewer: JoinHandle<()>,
    pub(crate) released: bool,
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

impl LeaseSetup {
    /// Takes the lease of `thread` or reports its holder.
    pub(crate) async fn acquire(
        &self,
        thread: &ThreadKey,
        clock: &Arc<dyn Clock>,
    ) -> Result<HeldLease, GraphError> {
        let grant = self
            .leases
            .acquire(
                thread.thread_id(),
                &self.config.owner,
                clock.now(),
                self.config.ttl,
            )
            .await
            .map_err(|source| GraphError::Checkpoint {
                thread: thread.to_string(),
                source,
            })?;
        match grant {
            Grant::Acquired { epoch } => Ok(self.hold(thread.thread_id(), epoch, clock.clone())),
            Grant::Held { owner, expires_at } => Err(GraphError::LeaseHeld {
                thread: thread.to_string(),
                owner,
                expires_at,
            }),
        }
    }

    /// Wraps a lease obtained elsewhere (a claim) and starts renewing it.
    pub(crate) fn hold(&self, thread_id: &str, epoch: i64, clock: Arc<dyn Clock>) -> HeldLease {
        let fence = Fence {
            owner: Arc::from(self.config.owner.as_str()),
            epoch,
        };
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = tokio::spawn(renew_loop(RenewLoop {
            leases: self.leases.clone(),
            thread_id: thread_id.to_owned(),
            fence: fence.clone(),
            lost: lost.clone(),
            clock,
            ttl: self.config.ttl,
            every: self.config.renew_every,
        }));
        HeldLease {
            leases: self.leases.clone(),
            thread_id: thread_id.to_owned(),
            fence,
            lost,
            renewer,
            released: false,
        }
    }
}

impl HeldLease {
    /// Returns true once a renewal found the lease taken over.
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Releases the lease unless a commit already did or it was lost; failures are logged (the lease then
    /// simply expires).
    pub(crate) async fn finish(mut self, fenced: bool) {
        self.renewer.abort();
        if self.released || fenced || self.is_lost() {
            return;
        }
        match self
            .leases
            .release(&self.thread_id, &self.fence, false)
            .await
        {
            Ok(_) => self.released = true,
            Err(e) => {
                warn!(thread = %self.thread_id, error = %e, "releasing a lease failed; it will expire")
            }
        }
    }
}

struct RenewLoop {
    leases: Arc<dyn Leases>,
    thread_id: String,
    fence: Fence,
    lost: Arc<AtomicBool>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    every: Duration,
}

async fn renew_loop(r: RenewLoop) {
    let mut tick = tokio::time::interval(r.every.max(Duration::from_millis(10)));
    tick.tick().await;
    loop {
        tick.tick().await;
        match r
            .leases
            .renew(&r.thread_id, &r.fence, r.clock.now(), r.ttl)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                warn!(thread = %r.thread_id, epoch = r.fence.epoch, "lease taken over");
                r.lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => warn!(thread = %r.thread_id, error = %e, "renewing a lease failed; retrying"),
        }
    }
}
