//! Leases in process: fencing with an injected clock, recovery through the run queue, and the claim race
//! (reliability test 14) with its negative control.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use orch_graph::{
    Checkpointer, Ctx, Graph, GraphError, Input, LeaseConfig, Leases, ManualClock, NodeError,
    PgCheckpointer, Runner, START, ThreadKey,
};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::{Barrier, Notify};

use crate::support::{Counters, Trail, TrailUpdate, memory, names, visit};

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("valid")
}

/// n1 → slow → n3, where `slow` announces itself and, if `gate` is given, waits for it.
fn gated_graph(c: &Counters, entered: Arc<Notify>, gate: Option<Arc<Notify>>) -> Graph<Trail> {
    let slow = {
        let c = c.clone();
        move |_: Arc<Trail>, _: Ctx| {
            c.bump("slow");
            let (entered, gate) = (entered.clone(), gate.clone());
            async move {
                entered.notify_one();
                if let Some(gate) = gate {
                    gate.notified().await;
                }
                Ok::<_, NodeError>(TrailUpdate::visit("slow"))
            }
        }
    };
    Graph::builder()
        .add_node("n1", visit("n1", c))
        .add_node("slow", slow)
        .add_node("n3", visit("n3", c))
        .add_edge(START, "n1")
        .add_edge("n1", "slow")
        .add_edge("slow", "n3")
        .compile()
        .expect("valid")
}

fn lease(owner: &str) -> LeaseConfig {
    LeaseConfig {
        owner: owner.into(),
        ttl: Duration::from_secs(15),
        // No renewal during the test: the manual clock decides expiry.
        renew_every: Duration::from_secs(3600),
    }
}

async fn a_paused_runner_is_fenced_after_takeover(
    store: Arc<dyn Checkpointer>,
    leases: Arc<dyn Leases>,
) {
    let clock = ManualClock::new(t0());
    let c = Counters::default();
    let (entered, gate) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let runner = |owner: &str, gate: Option<Arc<Notify>>| {
        Runner::new(gated_graph(&c, entered.clone(), gate))
            .with_checkpointer(store.clone())
            .with_leases(leases.clone(), lease(owner))
            .with_clock(clock.clone())
    };
    let (a, b) = (runner("A", Some(gate.clone())), runner("B", None));
    let thread = ThreadKey::new("fence");
    let first = tokio::spawn({
        let thread = thread.clone();
        async move { a.invoke(&thread, Input::Start(Trail::default())).await }
    });
    entered.notified().await;
    let held = b
        .invoke(&thread, Input::Continue)
        .await
        .expect_err("A holds the lease");
    assert!(
        matches!(held, GraphError::LeaseHeld { ref owner, .. } if owner == "A"),
        "{held}"
    );
    clock.advance(Duration::from_secs(16));
    let done = b
        .invoke(&thread, Input::Continue)
        .await
        .expect("B takes over");
    assert_eq!(done.state().visited, names(&["n1", "slow", "n3"]));
    gate.notify_one();
    let stale = first.await.expect("joins").expect_err("A is fenced");
    assert!(stale.is_fenced(), "{stale}");
    let history = store.history(&thread, 100).await.expect("history");
    let by_a: Vec<i64> = history
        .iter()
        .filter(|r| r.lease_epoch == 1)
        .map(|r| r.checkpoint_id)
        .collect();
    assert_eq!(by_a, [2, 1], "A wrote only the input and n1 checkpoints");
    assert_eq!(c.get("n1"), 1);
}

#[tokio::test]
async fn a_paused_runner_is_fenced_after_takeover_in_memory() {
    let m = memory();
    a_paused_runner_is_fenced_after_takeover(m.clone(), m).await;
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn a_paused_runner_is_fenced_after_takeover_in_postgres(pool: PgPool) {
    let pg = Arc::new(PgCheckpointer::new(pool));
    a_paused_runner_is_fenced_after_takeover(pg.clone(), pg).await;
}

async fn a_dead_runners_thread_is_claimed_and_finished(
    store: Arc<dyn Checkpointer>,
    leases: Arc<dyn Leases>,
) {
    let clock = ManualClock::new(t0());
    let c = Counters::default();
    let entered = Arc::new(Notify::new());
    let never = Some(Arc::new(Notify::new()));
    let dying = Runner::new(gated_graph(&c, entered.clone(), never))
        .with_checkpointer(store.clone())
        .with_leases(leases.clone(), lease("dying"))
        .with_clock(clock.clone());
    let thread = ThreadKey::new("orphan");
    let run = tokio::spawn({
        let thread = thread.clone();
        async move { dying.invoke(&thread, Input::Start(Trail::default())).await }
    });
    entered.notified().await;
    run.abort(); // the runner "dies" inside `slow`: no release, the lease just stops being renewed
    let rescuer = Runner::new(gated_graph(&c, entered, None))
        .with_checkpointer(store)
        .with_leases(leases, lease("rescuer"))
        .with_clock(clock.clone());
    assert!(
        rescuer.claim(10).await.expect("claim").is_empty(),
        "the lease is still live"
    );
    clock.advance(Duration::from_secs(16));
    let claimed = rescuer.claim(10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (claimed[0].thread_id.as_str(), claimed[0].epoch),
        ("orphan", 2)
    );
    let done = rescuer.invoke_claimed(&claimed[0]).await.expect("finishes");
    assert_eq!(done.state().visited, names(&["n1", "slow", "n3"]));
    assert_eq!(
        (c.get("n1"), c.get("slow")),
        (1, 2),
        "n1 is not re-run; slow is"
    );
    assert!(
        rescuer.claim(10).await.expect("claim").is_empty(),
        "done threads are not runnable"
    );
}

#[tokio::test]
async fn a_dead_runners_thread_is_claimed_and_finished_in_memory() {
    let m = memory();
    a_dead_runners_thread_is_claimed_and_finished(m.clone(), m).await;
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn a_dead_runners_thread_is_claimed_and_finished_in_postgres(pool: PgPool) {
    let pg = Arc::new(PgCheckpointer::new(pool));
    a_dead_runners_thread_is_claimed_and_finished(pg.clone(), pg).await;
}

async fn claimer_pools(pool: &PgPool, n: usize) -> Vec<PgPool> {
    let options = (*pool.connect_options()).clone();
    let mut pools = Vec::new();
    for _ in 0..n {
        pools.push(
            PgPoolOptions::new()
                .max_connections(2)
                .connect_with(options.clone())
                .await
                .expect("pool"),
        );
    }
    pools
}

async fn enqueue(leases: &PgCheckpointer, round: usize) {
    for i in 0..30 {
        leases
            .enqueue(&format!("r{round}-{i:02}"), Utc::now())
            .await
            .expect("enqueue");
    }
}

/// Test 14: 30 queued threads, 3 concurrent claimers of 8 each: exactly 24 claimed, all unique (20 rounds).
#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn test14_three_concurrent_claimers_of_8_get_24_unique_threads(pool: PgPool) {
    let claimers: Vec<Arc<PgCheckpointer>> = claimer_pools(&pool, 3)
        .await
        .into_iter()
        .map(|p| Arc::new(PgCheckpointer::new(p)))
        .collect();
    let admin = PgCheckpointer::new(pool);
    for round in 0..20 {
        enqueue(&admin, round).await;
        let barrier = Arc::new(Barrier::new(3));
        let tasks: Vec<_> = claimers
            .iter()
            .enumerate()
            .map(|(k, claimer)| {
                let (claimer, barrier) = (claimer.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    claimer
                        .claim(&format!("c{k}"), 8, Utc::now(), Duration::from_secs(60))
                        .await
                })
            })
            .collect();
        let mut claimed = Vec::new();
        for task in tasks {
            let got = task.await.expect("joins").expect("claims");
            assert_eq!(got.len(), 8, "round {round}: each claimer gets its 8");
            claimed.extend(got.into_iter().map(|c| c.thread_id));
        }
        let unique: HashSet<_> = claimed.iter().collect();
        assert_eq!((claimed.len(), unique.len()), (24, 24), "round {round}");
        let rest = admin
            .claim("drain", 100, Utc::now(), Duration::from_secs(60))
            .await
            .expect("drain");
        assert_eq!(rest.len(), 6, "round {round}: the other 6 were left");
    }
}

/// Negative control: select-then-update without row locks hands the same threads to several claimers,
/// which test 14's uniqueness assertion catches. A barrier between the two statements makes the race certain.
#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn test14_negative_control_a_claim_without_skip_locked_double_claims(pool: PgPool) {
    let pools = claimer_pools(&pool, 3).await;
    enqueue(&PgCheckpointer::new(pool), 0).await;
    let barrier = Arc::new(Barrier::new(3));
    let tasks: Vec<_> = pools
        .into_iter()
        .enumerate()
        .map(|(k, pool)| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let picked: Vec<String> = sqlx::query_scalar(
                    "SELECT thread_id FROM graph_leases WHERE runnable AND expires_at <= now()
                     ORDER BY ready_at LIMIT 8",
                )
                .fetch_all(&pool)
                .await
                .expect("select");
                barrier.wait().await;
                sqlx::query("UPDATE graph_leases SET owner = $1, epoch = epoch + 1 WHERE thread_id = ANY($2)")
                    .bind(format!("c{k}"))
                    .bind(&picked)
                    .execute(&pool)
                    .await
                    .expect("update");
                picked
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await.expect("joins"));
    }
    let unique: HashSet<_> = claimed.iter().collect();
    assert_eq!(claimed.len(), 24);
    assert!(
        unique.len() < 24,
        "the naive claim handed out duplicates: {} unique",
        unique.len()
    );
}
