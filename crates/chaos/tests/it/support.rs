//! A fresh database and stream prefix per test, and fixture processes to start, kill and stop.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use orch_bus::{Bus, BusConfig, Group};
use orch_chaos::effect::EFFECTS_DDL;
use orch_chaos::{GROUP, STREAM};
use orch_contracts::messages::worker::WorkerProgress;
use orch_contracts::{Envelope, StreamKey, WorkerId};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        "postgres://orchestrator:orchestrator@127.0.0.1:5432/orchestrator".into()
    })
}

/// One test's world: its own database and its own key prefix.
pub struct World {
    pub db_url: String,
    pub pool: PgPool,
    pub prefix: String,
    pub bus: Bus,
    db_name: String,
}

impl World {
    pub async fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let db_name = format!("chaos_{id}");
        let mut admin = PgConnection::connect(&admin_url())
            .await
            .expect("DATABASE_URL reachable (scripts/infra-up.sh)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db_name}")))
            .execute(&mut admin)
            .await
            .expect("create database");
        let base = admin_url();
        let db_url = format!(
            "{}/{db_name}",
            &base[..base.rfind('/').expect("url has a database")]
        );
        let pool = PgPool::connect(&db_url).await.expect("connect");
        orch_store::MIGRATOR.run(&pool).await.expect("migrate");
        sqlx::query(EFFECTS_DDL)
            .execute(&pool)
            .await
            .expect("effects table");
        let prefix = format!("chaos-{id}");
        let bus = Bus::connect(
            &redis_url(),
            BusConfig {
                prefix: prefix.clone(),
                ..BusConfig::default()
            },
        )
        .expect("bus");
        Self {
            db_url,
            pool,
            prefix,
            bus,
            db_name,
        }
    }

    pub fn stream(&self) -> StreamKey {
        StreamKey::from(STREAM)
    }

    /// Publishes messages with sequence numbers `seqs`; returns their envelopes.
    pub async fn publish(
        &self,
        seqs: impl IntoIterator<Item = u64>,
    ) -> Vec<Envelope<WorkerProgress>> {
        let envelopes: Vec<_> = seqs
            .into_iter()
            .map(|seq| {
                Envelope::new(WorkerProgress {
                    worker_id: WorkerId::new(),
                    seq,
                    lines: vec![format!("m{seq}")],
                })
            })
            .collect();
        for chunk in envelopes.chunks(500) {
            self.bus
                .publish_batch(&self.stream(), chunk)
                .await
                .expect("publish");
        }
        envelopes
    }

    pub async fn effects(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM chaos_effects")
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }

    pub async fn distinct_effects(&self) -> i64 {
        sqlx::query_scalar("SELECT count(DISTINCT event_id) FROM chaos_effects")
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }

    pub async fn inbox_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM inbox WHERE consumer = $1")
            .bind(GROUP)
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }

    pub async fn pending(&self) -> u64 {
        Group::new(&self.bus, &self.stream(), GROUP, "inspector")
            .pending()
            .await
            .expect("xpending")
    }

    /// Waits until `check` holds, polling; panics with `what` after `within`.
    pub async fn until<F, Fut>(&self, within: Duration, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + within;
        while !check().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {within:?} waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn drop_database(self) {
        self.pool.close().await;
        let mut admin = PgConnection::connect(&admin_url()).await.expect("connect");
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.db_name
        )))
        .execute(&mut admin)
        .await;
    }
}

/// A running `chaos-consumer` process.
pub struct Fixture {
    child: Child,
}

impl Fixture {
    /// Starts a fixture named `name` with extra flags and waits until it consumes.
    pub async fn start(world: &World, name: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chaos-consumer"))
            .args([
                "--redis-url",
                &redis_url(),
                "--database-url",
                &world.db_url,
                "--prefix",
                &world.prefix,
            ])
            .args(["--name", name])
            .args(extra)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn chaos-consumer");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
        assert!(
            matches!(ready, Ok(Ok(Some(ref l))) if l == "ready"),
            "fixture {name} did not start: {ready:?}"
        );
        Self { child }
    }

    pub fn pid(&self) -> i32 {
        self.child.id().expect("running") as i32
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// SIGKILL: no cleanup, no acks, no goodbye.
    pub async fn kill9(mut self) {
        self.signal("-KILL");
        let _ = self.child.wait().await;
    }

    /// SIGTERM, then waits up to `within` for the exit status.
    pub async fn terminate(mut self, within: Duration) -> ExitStatus {
        self.signal("-TERM");
        tokio::time::timeout(within, self.child.wait())
            .await
            .expect("exits in time")
            .expect("status")
    }
}
