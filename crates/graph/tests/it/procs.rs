//! Crash-test plumbing: a test database the fixture processes share, and fixture processes to start, read,
//! signal and kill.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const FIXTURE: &str = env!("CARGO_BIN_EXE_graph-crash-fixture");

/// The `#[sqlx::test]` database, reachable by URL for the fixture processes.
pub struct World {
    pub pool: PgPool,
    pub url: String,
}

impl World {
    /// Wraps the test's pool and creates the fixture's tables.
    pub async fn new(pool: PgPool) -> Self {
        let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for sqlx::test");
        let database = pool
            .connect_options()
            .get_database()
            .expect("a database")
            .to_owned();
        let root = &base[..base.rfind('/').expect("url has a database")];
        let world = Self {
            url: format!("{root}/{database}"),
            pool,
        };
        let status = Command::new(FIXTURE)
            .args(["--database-url", &world.url, "--init"])
            .status()
            .await
            .expect("run fixture --init");
        assert!(status.success(), "fixture --init failed");
        world
    }

    /// Starts a fixture process on thread `t1` and waits for `ready`.
    pub async fn start(&self, args: &[&str]) -> Proc {
        let mut child = Command::new(FIXTURE)
            .args(["--database-url", &self.url])
            .args(args)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn graph-crash-fixture");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut proc = Proc {
            child,
            lines: rx,
            seen: Vec::new(),
        };
        proc.wait_for("ready", Duration::from_secs(20)).await;
        proc
    }

    /// Runs a query returning one bigint.
    pub async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Returns how often `node` ran on thread t1 (all owners).
    pub async fn runs(&self, node: &str) -> i64 {
        self.scalar(&format!(
            "SELECT COALESCE(sum(n), 0)::int8 FROM fx_runs WHERE thread = 't1' AND node = '{node}'"
        ))
        .await
    }

    /// Returns the run counts of `nodes`.
    pub async fn runs_of(&self, nodes: &[&str]) -> Vec<i64> {
        let mut counts = Vec::new();
        for node in nodes {
            counts.push(self.runs(node).await);
        }
        counts
    }
}

/// A running fixture process and the lines it printed.
pub struct Proc {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    pub seen: Vec<String>,
}

impl Proc {
    /// Waits for a line starting with `prefix`; panics after `within`.
    pub async fn wait_for(&mut self, prefix: &str, within: Duration) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.starts_with(prefix)) {
            return line.clone();
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let next = tokio::time::timeout_at(deadline, self.lines.recv()).await;
            match next {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Ok(None) => panic!("fixture exited before {prefix:?}; it said {:?}", self.seen),
                Err(_) => panic!(
                    "no {prefix:?} within {within:?}; the fixture said {:?}",
                    self.seen
                ),
            }
        }
    }

    /// Sends a signal (`-KILL`, `-STOP`, `-CONT`, …).
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// SIGKILL, and reaps the process.
    pub async fn kill9(mut self) {
        self.signal("-KILL");
        let _ = self.child.wait().await;
    }

    /// Waits for the process to exit; returns its exit code and every line it printed.
    pub async fn exit(mut self, within: Duration) -> (i32, Vec<String>) {
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no exit within {within:?}; the fixture said {:?}",
                    self.seen
                )
            })
            .expect("status");
        while let Ok(Some(line)) =
            tokio::time::timeout(Duration::from_secs(2), self.lines.recv()).await
        {
            self.seen.push(line);
        }
        (status.code().unwrap_or(-1), self.seen)
    }
}

/// Returns the JSON after `prefix ` in the first such line.
pub fn json_after(lines: &[String], prefix: &str) -> Value {
    let line = lines
        .iter()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in {lines:?}"));
    serde_json::from_str(line.trim()).expect("json")
}

/// Returns the node of the first `enter` line.
pub fn first_entered(lines: &[String]) -> Option<&str> {
    lines.iter().find_map(|l| l.strip_prefix("enter "))
}
