//! The fixture's outside world: counter tables, a mock external service that deduplicates by idempotency
//! key, and the deliberately broken pieces negative controls use.

use std::sync::Arc;

use futures::future::BoxFuture;
use orch_graph::checkpoint::{CheckpointRecord, Commit, Loaded, PendingWrite};
use orch_graph::{CheckpointError, Checkpointer, Observer, ThreadKey};
use serde_json::Value;
use sqlx::PgPool;

/// The tables the scenarios write to (created by `--init`).
const DDL: [&str; 5] = [
    // Executions of each node (not idempotent on purpose: it counts re-runs).
    "CREATE TABLE IF NOT EXISTS fx_runs (thread TEXT NOT NULL, node TEXT NOT NULL, owner TEXT NOT NULL,
        n INT NOT NULL, PRIMARY KEY (thread, node, owner))",
    // Every request the mock external service received.
    "CREATE TABLE IF NOT EXISTS fx_ext_requests (id BIGSERIAL PRIMARY KEY, key TEXT NOT NULL)",
    // What the mock external service did: once per idempotency key.
    "CREATE TABLE IF NOT EXISTS fx_ext_actions (key TEXT PRIMARY KEY, at TIMESTAMPTZ NOT NULL DEFAULT now())",
    // The pre-interrupt upsert: `writes` counts how often it was applied.
    "CREATE TABLE IF NOT EXISTS fx_specs (thread TEXT PRIMARY KEY, body TEXT NOT NULL, writes INT NOT NULL)",
    // The post-approval effect.
    "CREATE TABLE IF NOT EXISTS fx_notifications (id BIGSERIAL PRIMARY KEY, thread TEXT NOT NULL,
        answer TEXT NOT NULL, at TIMESTAMPTZ NOT NULL)",
];

/// Creates the tables.
pub async fn init(pool: &PgPool) -> anyhow::Result<()> {
    for ddl in DDL {
        sqlx::query(ddl).execute(pool).await?;
    }
    Ok(())
}

/// Counts one execution of `node`.
pub async fn count_run(pool: &PgPool, thread: &str, node: &str, owner: &str) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO fx_runs (thread, node, owner, n) VALUES ($1, $2, $3, 1)
         ON CONFLICT (thread, node, owner) DO UPDATE SET n = fx_runs.n + 1",
    )
    .bind(thread)
    .bind(node)
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(())
}

/// The mock external service (think: a payment API with idempotency keys): logs every request, performs
/// the action once per key, returns a receipt.
pub async fn external_call(pool: &PgPool, key: &str) -> anyhow::Result<String> {
    sqlx::query("INSERT INTO fx_ext_requests (key) VALUES ($1)")
        .bind(key)
        .execute(pool)
        .await?;
    sqlx::query("INSERT INTO fx_ext_actions (key) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(key)
        .execute(pool)
        .await?;
    Ok(format!("receipt:{key}"))
}

/// Prints each checkpoint; hangs the process after the checkpoint of the step that ran `hang_after`.
pub struct PrintObserver {
    pub hang_after: Option<String>,
}

impl Observer for PrintObserver {
    fn on_checkpoint(
        &self,
        _thread: &ThreadKey,
        checkpoint_id: i64,
        ran: &[String],
        next: &[String],
    ) {
        say(&format!(
            "checkpoint {checkpoint_id} ran={} next={}",
            ran.join(","),
            next.join(",")
        ));
        if self.hang_after.as_ref().is_some_and(|n| ran.contains(n)) {
            say("hanging");
            loop {
                std::thread::park();
            }
        }
    }
}

/// Prints one protocol line and flushes it.
pub fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Negative control for fencing: forwards every commit without its fence, as a runner without fencing would.
pub struct Unfenced(pub Arc<dyn Checkpointer>);

impl Checkpointer for Unfenced {
    fn load<'a>(
        &'a self,
        thread: &'a ThreadKey,
    ) -> BoxFuture<'a, Result<Option<Loaded>, CheckpointError>> {
        self.0.load(thread)
    }

    fn commit<'a>(
        &'a self,
        thread: &'a ThreadKey,
        mut commit: Commit,
    ) -> BoxFuture<'a, Result<(), CheckpointError>> {
        commit.fence = None;
        commit.release = false;
        self.0.commit(thread, commit)
    }

    fn history<'a>(
        &'a self,
        thread: &'a ThreadKey,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<CheckpointRecord>, CheckpointError>> {
        self.0.history(thread, limit)
    }

    fn pending_writes<'a>(
        &'a self,
        thread: &'a ThreadKey,
        checkpoint_id: i64,
    ) -> BoxFuture<'a, Result<Vec<PendingWrite>, CheckpointError>> {
        self.0.pending_writes(thread, checkpoint_id)
    }

    fn effect<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Value>, CheckpointError>> {
        self.0.effect(key)
    }

    fn record_effect<'a>(
        &'a self,
        key: &'a str,
        result: Value,
    ) -> BoxFuture<'a, Result<Value, CheckpointError>> {
        self.0.record_effect(key, result)
    }
}
