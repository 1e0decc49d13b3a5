//! The graph engine benchmark against the same 5-node graph LangGraph runs in `bench/langgraph/bench.py`
//! (prints numbers; not a timed test). Run both with `bench/graph.sh`.
//!
//! Figures, all on the PostgreSQL of `GRAPH_BENCH_DATABASE_URL` (a `graph_bench` database by default):
//! - floor: one bare `INSERT` + `COMMIT` round trip (autocommit), the cost of one durable write here;
//! - (a) one thread, sequential runs: time per step with a durable checkpoint (without and with a lease),
//!   measured interleaved with the floor (5 inserts, one run, one leased run, repeated) because fsync latency
//!   and free CPU drift on a shared machine; `floor_alone_us` is the floor measured on its own first;
//! - (b) 100 threads at once: checkpointed steps per second (group commit);
//! - (c) no checkpointer: engine overhead per step.
//!
//! Env: `GRAPH_BENCH_DATABASE_URL`, `BENCH_FLOOR_N` (300), `BENCH_SEQ_RUNS` (100), `BENCH_THREADS` (100),
//! `BENCH_RUNS_PER_THREAD` (10), `BENCH_NOCP_RUNS` (50000), `BENCH_JSON` (write the figures there).

use std::sync::Arc;
use std::time::{Duration, Instant};

use orch_graph::state::reducers::{add, append};
use orch_graph::{
    Ctx, Graph, Input, LeaseConfig, NodeError, PgCheckpointer, Runner, START, State, ThreadKey,
};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

const NODES: [&str; 5] = ["n1", "n2", "n3", "n4", "n5"];
const STEPS: f64 = NODES.len() as f64;

/// The benchmark state: a counter and the visited nodes (the LangGraph side uses the same two channels).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Chain {
    counter: i64,
    visited: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ChainUpdate {
    counter: Option<i64>,
    visited: Vec<String>,
}

impl State for Chain {
    type Update = ChainUpdate;

    fn apply(&mut self, u: ChainUpdate) {
        add(&mut self.counter, u.counter);
        append(&mut self.visited, u.visited);
    }
}

async fn step(_: Arc<Chain>, ctx: Ctx) -> Result<ChainUpdate, NodeError> {
    Ok(ChainUpdate {
        counter: Some(1),
        visited: vec![ctx.node().to_owned()],
    })
}

fn chain() -> Graph<Chain> {
    let mut builder = Graph::builder().add_edge(START, NODES[0]);
    for (i, node) in NODES.iter().enumerate() {
        builder = builder.add_node(node, step);
        if let Some(next) = NODES.get(i + 1) {
            builder = builder.add_edge(node, next);
        }
    }
    builder.compile().expect("the benchmark graph is valid")
}

struct Settings {
    url: String,
    floor_n: usize,
    seq_runs: usize,
    threads: usize,
    runs_per_thread: usize,
    nocp_runs: usize,
    json: Option<String>,
}

impl Settings {
    fn from_env() -> Self {
        let num = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Self {
            url: std::env::var("GRAPH_BENCH_DATABASE_URL").unwrap_or_else(|_| {
                "postgres://orchestrator:orchestrator@127.0.0.1:5432/graph_bench".into()
            }),
            floor_n: num("BENCH_FLOOR_N", 300),
            seq_runs: num("BENCH_SEQ_RUNS", 100),
            threads: num("BENCH_THREADS", 100),
            runs_per_thread: num("BENCH_RUNS_PER_THREAD", 10),
            nocp_runs: num("BENCH_NOCP_RUNS", 50_000),
            json: std::env::var("BENCH_JSON").ok(),
        }
    }
}

/// Creates the benchmark database if needed, migrates it and empties the graph tables.
async fn prepare(url: &str) -> PgPool {
    let (root, name) = url.rsplit_once('/').expect("the url names a database");
    let mut admin = PgConnection::connect(&format!("{root}/postgres"))
        .await
        .expect("reach PostgreSQL");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut admin)
            .await
            .expect("query pg_database");
    if !exists {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create the benchmark database");
    }
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .connect(url)
        .await
        .expect("connect");
    orch_store::MIGRATOR.run(&pool).await.expect("migrate");
    for sql in [
        "TRUNCATE graph_checkpoints, graph_pending_writes, graph_leases, effects",
        "CREATE TABLE IF NOT EXISTS bench_floor (id BIGSERIAL PRIMARY KEY, v JSONB NOT NULL)",
        "TRUNCATE bench_floor",
    ] {
        sqlx::query(sql)
            .execute(&pool)
            .await
            .expect("prepare tables");
    }
    pool
}

/// One bare INSERT + COMMIT (autocommit), `n` times in a row; mean seconds per round trip.
async fn insert_floor(pool: &PgPool, n: usize) -> f64 {
    insert_floor_n(pool, 10).await;
    let started = Instant::now();
    insert_floor_n(pool, n).await;
    started.elapsed().as_secs_f64() / n as f64
}

async fn insert_floor_n(pool: &PgPool, n: usize) {
    let mut conn = pool.acquire().await.expect("connection");
    for i in 0..n {
        sqlx::query("INSERT INTO bench_floor (v) VALUES ($1)")
            .bind(serde_json::json!({ "n": i }))
            .execute(&mut *conn)
            .await
            .expect("insert");
    }
}

async fn run_one(runner: &Runner<Chain>, thread: String) {
    let outcome = runner
        .invoke(&ThreadKey::new(thread), Input::Start(Chain::default()))
        .await
        .expect("a run");
    assert_eq!(outcome.state().counter, 5);
}

/// (b) `threads` threads at once, each `runs` runs; checkpointed steps per second.
async fn concurrent(runner: &Runner<Chain>, tag: &str, threads: usize, runs: usize) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..threads)
        .map(|t| {
            let (runner, tag) = (runner.clone(), tag.to_owned());
            tokio::spawn(async move {
                for r in 0..runs {
                    run_one(&runner, format!("{tag}-{t}-{r}")).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a thread's runs");
    }
    (threads * runs) as f64 * STEPS / started.elapsed().as_secs_f64()
}

/// (c) no checkpointer; mean seconds per step.
async fn no_checkpointer(runs: usize) -> f64 {
    let runner = Runner::new(chain());
    let thread = ThreadKey::new("nocp");
    for _ in 0..1000 {
        runner
            .invoke(&thread, Input::Start(Chain::default()))
            .await
            .expect("a run");
    }
    let started = Instant::now();
    for _ in 0..runs {
        runner
            .invoke(&thread, Input::Start(Chain::default()))
            .await
            .expect("a run");
    }
    started.elapsed().as_secs_f64() / (runs as f64 * STEPS)
}

fn us(seconds: f64) -> f64 {
    (seconds * 1e7).round() / 10.0
}

/// Interleaved totals: the disk's fsync latency and the CPU available drift a lot on a shared machine, so the
/// floor and the sequential runs are measured alternately, one run at a time, and compared in total.
#[derive(Default)]
struct Interleaved {
    floor: Duration,
    floor_ops: usize,
    seq: Duration,
    seq_leased: Duration,
    steps: usize,
}

impl Interleaved {
    async fn sample(
        &mut self,
        pool: &PgPool,
        durable: &Runner<Chain>,
        leased: &Runner<Chain>,
        tag: &str,
    ) {
        let started = Instant::now();
        insert_floor_n(pool, NODES.len()).await;
        self.floor += started.elapsed();
        self.floor_ops += NODES.len();
        let started = Instant::now();
        run_one(durable, format!("{tag}-s")).await;
        self.seq += started.elapsed();
        let started = Instant::now();
        run_one(leased, format!("{tag}-l")).await;
        self.seq_leased += started.elapsed();
        self.steps += NODES.len();
    }

    fn floor_s(&self) -> f64 {
        self.floor.as_secs_f64() / self.floor_ops.max(1) as f64
    }

    fn per_step(&self, total: Duration) -> f64 {
        total.as_secs_f64() / self.steps.max(1) as f64
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    (a / b * 100.0).round() / 100.0
}

async fn bench(s: Settings) -> serde_json::Value {
    let pool = prepare(&s.url).await;
    let tag = format!("b{}", std::process::id());
    let pg = Arc::new(PgCheckpointer::new(pool.clone()));
    let durable = Runner::new(chain()).with_checkpointer(pg.clone());
    let leased = durable
        .clone()
        .with_leases(pg.clone(), LeaseConfig::unique("bench"));
    let floor = insert_floor(&pool, s.floor_n).await;
    let mut runs = Interleaved::default();
    for i in 0..3 {
        runs.sample(&pool, &durable, &leased, &format!("{tag}-warm{i}"))
            .await;
    }
    runs = Interleaved::default();
    for i in 0..s.seq_runs {
        runs.sample(&pool, &durable, &leased, &format!("{tag}-{i}"))
            .await;
    }
    let conc = concurrent(&durable, &format!("{tag}-c"), s.threads, s.runs_per_thread).await;
    let conc_leased = concurrent(&leased, &format!("{tag}-cl"), s.threads, s.runs_per_thread).await;
    let nocp = no_checkpointer(s.nocp_runs).await;
    let (seq, seq_leased) = (runs.per_step(runs.seq), runs.per_step(runs.seq_leased));
    serde_json::json!({
        "floor_us": us(runs.floor_s()),
        "floor_alone_us": us(floor),
        "seq_step_us": us(seq),
        "seq_step_leased_us": us(seq_leased),
        "seq_ratio_to_floor": ratio(seq, runs.floor_s()),
        "seq_leased_ratio_to_floor": ratio(seq_leased, runs.floor_s()),
        "threads": s.threads,
        "conc_steps_per_s": conc.round(),
        "conc_leased_steps_per_s": conc_leased.round(),
        "nocp_step_us": (nocp * 1e9).round() / 1000.0,
    })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; there is nothing to run as a test
    }
    let settings = Settings::from_env();
    let json_path = settings.json.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let figures = runtime.block_on(bench(settings));
    println!(
        "orch-graph engine benchmark:\n{}",
        serde_json::to_string_pretty(&figures).unwrap_or_default()
    );
    if let Some(path) = json_path {
        std::fs::write(&path, figures.to_string()).expect("write BENCH_JSON");
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
}
