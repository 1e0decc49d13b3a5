//! The checkpointer contract, run against every implementation (reliability test 15 and more).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use orch_graph::checkpoint::{
    CheckpointRecord, Claimed, Commit, Fence, Grant, PendingWrite, StateBody, channels,
};
use orch_graph::{
    CheckpointError, Checkpointer, Leases, MemoryCheckpointer, PgCheckpointer, ThreadKey,
};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// One implementation under test; `reopen` gives a fresh handle on the same storage.
pub struct Subject {
    pub store: Arc<dyn Checkpointer>,
    pub leases: Arc<dyn Leases>,
    reopen: Option<PgPool>,
}

impl Subject {
    fn memory() -> Self {
        let memory = Arc::new(MemoryCheckpointer::new());
        Self {
            store: memory.clone(),
            leases: memory,
            reopen: None,
        }
    }

    fn postgres(pool: PgPool) -> Self {
        let pg = Arc::new(PgCheckpointer::new(pool.clone()));
        Self {
            store: pg.clone(),
            leases: pg,
            reopen: Some(pool),
        }
    }

    /// Closes the pool and opens a new one on the same database (memory: the same store).
    async fn reopen(&self) -> Arc<dyn Checkpointer> {
        let Some(pool) = &self.reopen else {
            return self.store.clone();
        };
        let options = (*pool.connect_options()).clone();
        pool.close().await;
        let fresh = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .expect("reconnect");
        Arc::new(PgCheckpointer::new(fresh))
    }
}

fn record(id: i64, body: StateBody) -> CheckpointRecord {
    CheckpointRecord {
        checkpoint_id: id,
        parent_id: (id > 1).then_some(id - 1),
        step: id - 1,
        body,
        next_nodes: vec!["n".into()],
        meta: None,
        lease_epoch: 0,
    }
}

fn write(task: &str, idx: i32, channel: &str, value: Value) -> PendingWrite {
    PendingWrite {
        task_id: task.into(),
        idx,
        channel: channel.into(),
        value,
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("valid")
}

const TTL: Duration = Duration::from_secs(15);

async fn put_writes_twice_across_a_reopened_pool_leaves_one_row(s: Subject) {
    let thread = ThreadKey::new("t15a");
    s.store
        .put(&thread, record(1, StateBody::Snapshot(json!({}))), None)
        .await
        .expect("put");
    let first = vec![write("1:a:0", 0, channels::UPDATE, json!("first"))];
    s.store
        .put_writes(&thread, 1, first, None)
        .await
        .expect("first");
    let reopened = s.reopen().await;
    let again = vec![write("1:a:0", 0, channels::UPDATE, json!("second"))];
    reopened
        .put_writes(&thread, 1, again, None)
        .await
        .expect("second is a no-op");
    let writes = reopened.pending_writes(&thread, 1).await.expect("read");
    assert_eq!(
        writes,
        vec![write("1:a:0", 0, channels::UPDATE, json!("first"))]
    );
}

async fn special_channels_are_replaced_not_duplicated(s: Subject) {
    let thread = ThreadKey::new("t15b");
    s.store
        .put(&thread, record(1, StateBody::Snapshot(json!({}))), None)
        .await
        .expect("put");
    for answers in [json!(["a"]), json!(["a", "b"])] {
        let resume = vec![write(
            "1:x:0",
            channels::RESUME_IDX,
            channels::RESUME,
            answers,
        )];
        s.store
            .put_writes(&thread, 1, resume, None)
            .await
            .expect("resume");
    }
    let writes = s.store.pending_writes(&thread, 1).await.expect("read");
    assert_eq!(
        writes,
        vec![write("1:x:0", -4, channels::RESUME, json!(["a", "b"]))]
    );
}

async fn namespaces_are_isolated(s: Subject) {
    let top = ThreadKey::new("t15c");
    let sub = top.with_namespace("review");
    s.store
        .put(
            &top,
            record(1, StateBody::Snapshot(json!({"top": 1}))),
            None,
        )
        .await
        .expect("top");
    s.store
        .put(
            &sub,
            record(1, StateBody::Snapshot(json!({"sub": 1}))),
            None,
        )
        .await
        .expect("same id, other ns");
    s.store
        .put_writes(
            &sub,
            1,
            vec![write("1:r:0", 0, channels::UPDATE, json!(1))],
            None,
        )
        .await
        .expect("w");
    let top_loaded = s.store.load(&top).await.expect("load").expect("exists");
    assert_eq!(
        top_loaded.chain[0].body,
        StateBody::Snapshot(json!({"top": 1}))
    );
    assert!(
        top_loaded.writes.is_empty(),
        "the sub-namespace's writes stay there"
    );
    let sub_loaded = s.store.load(&sub).await.expect("load").expect("exists");
    assert_eq!(sub_loaded.writes.len(), 1);
    assert!(
        s.store
            .load(&ThreadKey::new("t15c-other"))
            .await
            .expect("load")
            .is_none()
    );
}

async fn a_new_checkpoint_has_empty_pending_writes(s: Subject) {
    let thread = ThreadKey::new("t15d");
    s.store
        .put(&thread, record(1, StateBody::Snapshot(json!({}))), None)
        .await
        .expect("put");
    s.store
        .put_writes(
            &thread,
            1,
            vec![write("1:a:0", 0, channels::UPDATE, json!(1))],
            None,
        )
        .await
        .expect("w");
    s.store
        .put(&thread, record(2, StateBody::Delta(vec![json!(1)])), None)
        .await
        .expect("next");
    let loaded = s.store.load(&thread).await.expect("load").expect("exists");
    assert_eq!(loaded.head().map(|h| h.checkpoint_id), Some(2));
    assert!(loaded.writes.is_empty());
    assert!(
        s.store
            .pending_writes(&thread, 2)
            .await
            .expect("read")
            .is_empty()
    );
    assert!(
        s.store
            .pending_writes(&thread, 1)
            .await
            .expect("read")
            .is_empty(),
        "the parent's are dropped"
    );
}

async fn load_returns_the_latest_snapshot_and_the_deltas_after_it(s: Subject) {
    let thread = ThreadKey::new("t15e");
    let bodies = [
        StateBody::Snapshot(json!({"v": 1})),
        StateBody::Delta(vec![json!(2)]),
        StateBody::Snapshot(json!({"v": 3})),
        StateBody::Delta(vec![json!(4), json!(5)]),
    ];
    for (i, body) in bodies.into_iter().enumerate() {
        s.store
            .put(&thread, record(i as i64 + 1, body), None)
            .await
            .expect("put");
    }
    let loaded = s.store.load(&thread).await.expect("load").expect("exists");
    let ids: Vec<i64> = loaded.chain.iter().map(|r| r.checkpoint_id).collect();
    assert_eq!(ids, [3, 4]);
    assert_eq!(
        loaded.chain[1].body,
        StateBody::Delta(vec![json!(4), json!(5)])
    );
    let history = s.store.history(&thread, 10).await.expect("history");
    assert_eq!(
        history.iter().map(|r| r.checkpoint_id).collect::<Vec<_>>(),
        [4, 3, 2, 1]
    );
}

async fn a_taken_checkpoint_id_is_a_conflict(s: Subject) {
    let thread = ThreadKey::new("t15f");
    s.store
        .put(&thread, record(1, StateBody::Snapshot(json!({}))), None)
        .await
        .expect("put");
    let err = s
        .store
        .put(
            &thread,
            record(1, StateBody::Snapshot(json!({"x": 1}))),
            None,
        )
        .await
        .expect_err("dup");
    assert!(
        matches!(
            err,
            CheckpointError::Conflict {
                checkpoint_id: 1,
                ..
            }
        ),
        "{err}"
    );
}

async fn commits_with_a_stale_fence_are_rejected_whole(s: Subject) {
    let thread = ThreadKey::new("t15g");
    let Grant::Acquired { epoch: 1 } = s
        .leases
        .acquire("t15g", "a", t0(), TTL)
        .await
        .expect("acquire")
    else {
        panic!("first acquisition has epoch 1");
    };
    let a = Fence {
        owner: Arc::from("a"),
        epoch: 1,
    };
    s.store
        .put(
            &thread,
            record(1, StateBody::Snapshot(json!({}))),
            Some(a.clone()),
        )
        .await
        .expect("fenced put");
    let later = t0() + chrono::TimeDelta::seconds(16);
    let Grant::Acquired { epoch: 2 } = s
        .leases
        .acquire("t15g", "b", later, TTL)
        .await
        .expect("takeover")
    else {
        panic!("takeover after expiry has epoch 2");
    };
    let stale = Commit {
        checkpoints: vec![record(2, StateBody::Delta(vec![json!(1)]))],
        drop_parent_writes: true,
        writes_for: 1,
        writes: vec![write("1:a:0", 0, channels::UPDATE, json!(1))],
        fence: Some(a),
        release: true,
    };
    let err = s.store.commit(&thread, stale).await.expect_err("stale");
    assert!(
        matches!(err, CheckpointError::Fenced { epoch: 1, .. }),
        "{err}"
    );
    let loaded = s.store.load(&thread).await.expect("load").expect("exists");
    assert_eq!(loaded.chain.len(), 1, "no checkpoint");
    assert!(loaded.writes.is_empty(), "no pending write");
    let lease = s
        .leases
        .lease("t15g")
        .await
        .expect("lease")
        .expect("exists");
    assert_eq!(
        (lease.owner.as_str(), lease.epoch),
        ("b", 2),
        "not released by the stale owner"
    );
    let b = Fence {
        owner: Arc::from("b"),
        epoch: 2,
    };
    s.store
        .put(&thread, record(2, StateBody::Delta(vec![])), Some(b))
        .await
        .expect("the new owner writes");
    assert_eq!(
        s.store.history(&thread, 1).await.expect("history")[0].lease_epoch,
        2
    );
}

/// The common commit (a checkpoint alone) takes a faster path in PostgreSQL; it must reject the same way.
async fn plain_checkpoint_commits_report_fences_and_conflicts(s: Subject) {
    let thread = ThreadKey::new("t15i");
    let plain = |id: i64, fence: Option<Fence>| Commit {
        writes_for: id,
        checkpoints: vec![record(id, StateBody::Delta(vec![json!(id)]))],
        fence,
        ..Commit::default()
    };
    assert_eq!(
        s.leases.acquire("t15i", "a", t0(), TTL).await.expect("a"),
        Grant::Acquired { epoch: 1 }
    );
    let a = Fence {
        owner: Arc::from("a"),
        epoch: 1,
    };
    s.store
        .commit(&thread, plain(1, Some(a.clone())))
        .await
        .expect("a writes 1");
    let err = s
        .store
        .commit(&thread, plain(1, Some(a.clone())))
        .await
        .expect_err("1 is taken");
    assert!(
        matches!(
            err,
            CheckpointError::Conflict {
                checkpoint_id: 1,
                ..
            }
        ),
        "{err}"
    );
    let err = s
        .store
        .commit(&thread, plain(1, None))
        .await
        .expect_err("1 is taken, unfenced too");
    assert!(matches!(err, CheckpointError::Conflict { .. }), "{err}");
    let later = t0() + chrono::TimeDelta::seconds(16);
    assert_eq!(
        s.leases.acquire("t15i", "b", later, TTL).await.expect("b"),
        Grant::Acquired { epoch: 2 }
    );
    let err = s
        .store
        .commit(&thread, plain(2, Some(a)))
        .await
        .expect_err("a is stale");
    assert!(
        matches!(err, CheckpointError::Fenced { epoch: 1, .. }),
        "{err}"
    );
    let b = Fence {
        owner: Arc::from("b"),
        epoch: 2,
    };
    s.store
        .commit(&thread, plain(2, Some(b)))
        .await
        .expect("b writes 2");
    assert_eq!(
        s.store.history(&thread, 10).await.expect("history").len(),
        2
    );
}

async fn leases_are_exclusive_until_they_expire_or_are_released(s: Subject) {
    let l = &s.leases;
    assert_eq!(
        l.acquire("t15h", "a", t0(), TTL).await.expect("a"),
        Grant::Acquired { epoch: 1 }
    );
    let held = l
        .acquire("t15h", "b", t0() + chrono::TimeDelta::seconds(10), TTL)
        .await
        .expect("b");
    assert!(
        matches!(held, Grant::Held { ref owner, .. } if owner == "a"),
        "{held:?}"
    );
    let a = Fence {
        owner: Arc::from("a"),
        epoch: 1,
    };
    assert!(
        l.renew("t15h", &a, t0() + chrono::TimeDelta::seconds(10), TTL)
            .await
            .expect("renew")
    );
    let still = l
        .acquire("t15h", "b", t0() + chrono::TimeDelta::seconds(20), TTL)
        .await
        .expect("b");
    assert!(
        matches!(still, Grant::Held { .. }),
        "renewed until t0 + 25 s"
    );
    assert!(l.release("t15h", &a, false).await.expect("release"));
    let now = t0() + chrono::TimeDelta::seconds(21);
    assert_eq!(
        l.acquire("t15h", "b", now, TTL).await.expect("b"),
        Grant::Acquired { epoch: 2 }
    );
    assert!(
        !l.renew("t15h", &a, now, TTL).await.expect("renew"),
        "a's lease is gone"
    );
    assert!(
        !l.release("t15h", &a, false).await.expect("release"),
        "a cannot release b's lease"
    );
}

async fn claims_take_runnable_threads_with_free_or_expired_leases(s: Subject) {
    let l = &s.leases;
    for (i, thread) in ["q1", "q2", "q3"].into_iter().enumerate() {
        l.enqueue(thread, t0() + chrono::TimeDelta::seconds(i as i64))
            .await
            .expect("enqueue");
    }
    let held = l
        .acquire("q4", "busy", t0(), TTL)
        .await
        .expect("a running thread");
    assert_eq!(held, Grant::Acquired { epoch: 1 });
    let claimed = l
        .claim("c1", 2, t0() + chrono::TimeDelta::seconds(5), TTL)
        .await
        .expect("claim");
    let ids: Vec<_> = claimed.iter().map(|c| c.thread_id.as_str()).collect();
    assert_eq!(ids.len(), 2);
    assert!(
        ids.contains(&"q1") && ids.contains(&"q2"),
        "oldest first: {ids:?}"
    );
    let rest = l
        .claim("c2", 10, t0() + chrono::TimeDelta::seconds(5), TTL)
        .await
        .expect("claim");
    assert_eq!(
        rest,
        vec![Claimed {
            thread_id: "q3".into(),
            epoch: 1
        }],
        "q4's lease is live"
    );
    let after = l
        .claim("c3", 10, t0() + chrono::TimeDelta::seconds(60), TTL)
        .await
        .expect("claim");
    assert_eq!(
        after.len(),
        4,
        "every lease expired; all are runnable: {after:?}"
    );
    assert!(after.iter().all(|c| c.epoch == 2));
}

async fn effects_keep_the_first_result(s: Subject) {
    assert_eq!(s.store.effect("k").await.expect("read"), None);
    assert_eq!(
        s.store.record_effect("k", json!(1)).await.expect("record"),
        json!(1)
    );
    assert_eq!(
        s.store.record_effect("k", json!(2)).await.expect("record"),
        json!(1)
    );
    assert_eq!(s.store.effect("k").await.expect("read"), Some(json!(1)));
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Subject::memory()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[sqlx::test(migrator = "orch_store::MIGRATOR")]
                async fn $name(pool: sqlx::PgPool) {
                    super::$name(super::Subject::postgres(pool)).await;
                }
            )*
        }
    };
}

conformance!(
    put_writes_twice_across_a_reopened_pool_leaves_one_row,
    special_channels_are_replaced_not_duplicated,
    namespaces_are_isolated,
    a_new_checkpoint_has_empty_pending_writes,
    load_returns_the_latest_snapshot_and_the_deltas_after_it,
    a_taken_checkpoint_id_is_a_conflict,
    commits_with_a_stale_fence_are_rejected_whole,
    plain_checkpoint_commits_report_fences_and_conflicts,
    leases_are_exclusive_until_they_expire_or_are_released,
    claims_take_runnable_threads_with_free_or_expired_leases,
    effects_keep_the_first_result,
);
