//! An in-memory checkpointer with the same semantics as the PostgreSQL one, for fast unit tests.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::{BoxFuture, FutureExt, ready};
use serde_json::Value;

use super::{
    CheckpointRecord, Checkpointer, Claimed, Commit, Fence, Grant, LeaseInfo, Leases, Loaded,
    PendingWrite, StateBody, ttl_delta,
};
use crate::error::CheckpointError;
use crate::thread::ThreadKey;

type ThreadSlot = (String, String);
type WriteKey = (String, i32);

#[derive(Default)]
struct Mem {
    checkpoints: HashMap<ThreadSlot, BTreeMap<i64, CheckpointRecord>>,
    writes: HashMap<(ThreadSlot, i64), BTreeMap<WriteKey, PendingWrite>>,
    effects: HashMap<String, Value>,
    leases: HashMap<String, MemLease>,
}

#[derive(Clone)]
struct MemLease {
    info: LeaseInfo,
    ready_at: DateTime<Utc>,
}

/// Keeps everything in a mutex-guarded map; lost when dropped (which is what a crash test's negative
/// control needs).
#[derive(Default)]
pub struct MemoryCheckpointer {
    mem: Mutex<Mem>,
}

impl MemoryCheckpointer {
    /// Creates an empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Mem> {
        self.mem.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn slot(thread: &ThreadKey) -> ThreadSlot {
    (thread.thread_id().to_owned(), thread.namespace().to_owned())
}

impl Mem {
    fn fence_holds(&self, thread: &ThreadKey, fence: &Fence) -> bool {
        self.leases
            .get(thread.thread_id())
            .is_some_and(|l| l.info.epoch == fence.epoch && l.info.owner.as_str() == &*fence.owner)
    }

    fn apply(&mut self, thread: &ThreadKey, commit: Commit) -> Result<(), CheckpointError> {
        if let Some(fence) = &commit.fence
            && !self.fence_holds(thread, fence)
        {
            return Err(CheckpointError::Fenced {
                thread: thread.to_string(),
                owner: fence.owner.to_string(),
                epoch: fence.epoch,
            });
        }
        let writes = self
            .writes
            .entry((slot(thread), commit.writes_for))
            .or_default();
        for write in commit.writes {
            let key = (write.task_id.clone(), write.idx);
            if write.idx < 0 || !writes.contains_key(&key) {
                writes.insert(key, write);
            }
        }
        let conflict = self.insert_checkpoints(
            thread,
            commit.checkpoints,
            commit.fence.as_ref(),
            commit.drop_parent_writes,
        );
        if let (true, Some(fence)) = (commit.release, &commit.fence) {
            self.release(thread.thread_id(), fence, false);
        }
        conflict
    }

    fn insert_checkpoints(
        &mut self,
        thread: &ThreadKey,
        records: Vec<CheckpointRecord>,
        fence: Option<&Fence>,
        drop_parent_writes: bool,
    ) -> Result<(), CheckpointError> {
        let rows = self.checkpoints.entry(slot(thread)).or_default();
        if let Some(taken) = records.iter().find(|r| rows.contains_key(&r.checkpoint_id)) {
            return Err(CheckpointError::Conflict {
                thread: thread.to_string(),
                checkpoint_id: taken.checkpoint_id,
            });
        }
        for mut record in records {
            record.lease_epoch = fence.map_or(0, |f| f.epoch);
            if let (true, Some(parent)) = (drop_parent_writes, record.parent_id) {
                self.writes.remove(&(slot(thread), parent));
            }
            self.checkpoints
                .entry(slot(thread))
                .or_default()
                .insert(record.checkpoint_id, record);
        }
        Ok(())
    }

    fn load(&self, thread: &ThreadKey) -> Option<Loaded> {
        let rows = self.checkpoints.get(&slot(thread))?;
        let head = *rows.keys().next_back()?;
        let snapshot = rows
            .values()
            .rev()
            .find(|r| matches!(r.body, StateBody::Snapshot(_)))
            .map_or(i64::MIN, |r| r.checkpoint_id);
        let chain = rows.range(snapshot..).map(|(_, r)| r.clone()).collect();
        Some(Loaded {
            chain,
            writes: self.writes_of(thread, head),
        })
    }

    fn writes_of(&self, thread: &ThreadKey, checkpoint_id: i64) -> Vec<PendingWrite> {
        self.writes
            .get(&(slot(thread), checkpoint_id))
            .map(|w| w.values().cloned().collect())
            .unwrap_or_default()
    }

    fn release(&mut self, thread_id: &str, fence: &Fence, runnable: bool) -> bool {
        match self.leases.get_mut(thread_id) {
            Some(l) if l.info.epoch == fence.epoch && l.info.owner.as_str() == &*fence.owner => {
                l.info.owner.clear();
                l.info.expires_at = DateTime::UNIX_EPOCH;
                l.info.runnable = runnable;
                true
            }
            _ => false,
        }
    }

    fn acquire(
        &mut self,
        thread_id: &str,
        owner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Grant {
        let expires_at = now + ttl_delta(ttl);
        let lease = self.leases.entry(thread_id.to_owned()).or_insert(MemLease {
            info: LeaseInfo {
                owner: String::new(),
                epoch: 0,
                expires_at: DateTime::UNIX_EPOCH,
                runnable: false,
            },
            ready_at: now,
        });
        if lease.info.expires_at > now {
            return Grant::Held {
                owner: lease.info.owner.clone(),
                expires_at: lease.info.expires_at,
            };
        }
        lease.info = LeaseInfo {
            owner: owner.to_owned(),
            epoch: lease.info.epoch + 1,
            expires_at,
            runnable: true,
        };
        Grant::Acquired {
            epoch: lease.info.epoch,
        }
    }

    fn claim(
        &mut self,
        owner: &str,
        limit: i64,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Vec<Claimed> {
        let mut ready: Vec<_> = self
            .leases
            .iter()
            .filter(|(_, l)| l.info.runnable && l.info.expires_at <= now)
            .map(|(id, l)| (l.ready_at, id.clone()))
            .collect();
        ready.sort();
        let take = usize::try_from(limit).unwrap_or(0);
        ready
            .into_iter()
            .take(take)
            .filter_map(|(_, id)| match self.acquire(&id, owner, now, ttl) {
                Grant::Acquired { epoch } => Some(Claimed {
                    thread_id: id,
                    epoch,
                }),
                Grant::Held { .. } => None,
            })
            .collect()
    }
}

impl Checkpointer for MemoryCheckpointer {
    fn load<'a>(
        &'a self,
        thread: &'a ThreadKey,
    ) -> BoxFuture<'a, Result<Option<Loaded>, CheckpointError>> {
        ready(Ok(self.lock().load(thread))).boxed()
    }

    fn commit<'a>(
        &'a self,
        thread: &'a ThreadKey,
        commit: Commit,
    ) -> BoxFuture<'a, Result<(), CheckpointError>> {
        ready(self.lock().apply(thread, commit)).boxed()
    }

    fn history<'a>(
        &'a self,
        thread: &'a ThreadKey,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<CheckpointRecord>, CheckpointError>> {
        let mem = self.lock();
        let take = usize::try_from(limit).unwrap_or(0);
        let rows = mem.checkpoints.get(&slot(thread));
        let list = rows.map_or_else(Vec::new, |r| r.values().rev().take(take).cloned().collect());
        ready(Ok(list)).boxed()
    }

    fn pending_writes<'a>(
        &'a self,
        thread: &'a ThreadKey,
        checkpoint_id: i64,
    ) -> BoxFuture<'a, Result<Vec<PendingWrite>, CheckpointError>> {
        ready(Ok(self.lock().writes_of(thread, checkpoint_id))).boxed()
    }

    fn effect<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Value>, CheckpointError>> {
        ready(Ok(self.lock().effects.get(key).cloned())).boxed()
    }

    fn record_effect<'a>(
        &'a self,
        key: &'a str,
        result: Value,
    ) -> BoxFuture<'a, Result<Value, CheckpointError>> {
        let mut mem = self.lock();
        let stored = mem.effects.entry(key.to_owned()).or_insert(result).clone();
        ready(Ok(stored)).boxed()
    }
}

impl Leases for MemoryCheckpointer {
    fn acquire<'a>(
        &'a self,
        thread_id: &'a str,
        owner: &'a str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Grant, CheckpointError>> {
        ready(Ok(self.lock().acquire(thread_id, owner, now, ttl))).boxed()
    }

    fn renew<'a>(
        &'a self,
        thread_id: &'a str,
        fence: &'a Fence,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, CheckpointError>> {
        let mut mem = self.lock();
        let renewed = match mem.leases.get_mut(thread_id) {
            Some(l) if l.info.epoch == fence.epoch && l.info.owner.as_str() == &*fence.owner => {
                l.info.expires_at = now + ttl_delta(ttl);
                true
            }
            _ => false,
        };
        ready(Ok(renewed)).boxed()
    }

    fn release<'a>(
        &'a self,
        thread_id: &'a str,
        fence: &'a Fence,
        runnable: bool,
    ) -> BoxFuture<'a, Result<bool, CheckpointError>> {
        ready(Ok(self.lock().release(thread_id, fence, runnable))).boxed()
    }

    fn enqueue<'a>(
        &'a self,
        thread_id: &'a str,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), CheckpointError>> {
        let mut mem = self.lock();
        let lease = mem.leases.entry(thread_id.to_owned()).or_insert(MemLease {
            info: LeaseInfo {
                owner: String::new(),
                epoch: 0,
                expires_at: DateTime::UNIX_EPOCH,
                runnable: true,
            },
            ready_at: now,
        });
        if !lease.info.runnable {
            lease.ready_at = now;
        }
        lease.info.runnable = true;
        ready(Ok(())).boxed()
    }

    fn claim<'a>(
        &'a self,
        owner: &'a str,
        limit: i64,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Vec<Claimed>, CheckpointError>> {
        ready(Ok(self.lock().claim(owner, limit, now, ttl))).boxed()
    }

    fn lease<'a>(
        &'a self,
        thread_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<LeaseInfo>, CheckpointError>> {
        let info = self.lock().leases.get(thread_id).map(|l| l.info.clone());
        ready(Ok(info)).boxed()
    }
}
