//! Allocate and Resolve over gRPC on loopback against real PostgreSQL: p50/p99 latency and throughput with
//! 1, 8 and 32 concurrent clients (each its own HTTP/2 connection and person). Prints a markdown table.
//!
//! `DATABASE_URL=postgres://… cargo bench -p zavhoz` (a scratch database `zavhoz_bench_<pid>` is created
//! and dropped); `ZAVHOZ_BENCH_SECS` sets the measuring time per cell (default 5).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use orch_contracts::messages::worker::SecretHandle;
use orch_service_kit::{CommonSettings, Service, Settings};
use orch_sops::{Document, Format, Recipient, encrypt};
use orch_zavhoz_client::proto::{SecretSpec, secret_spec};
use orch_zavhoz_client::{Allocation, Spec, ZavhozClient, ZavhozClientConfig};
use secrecy::{ExposeSecret, SecretString};
use sqlx::{Connection, PgConnection};
use tokio_util::sync::CancellationToken;
use zavhoz::{Application, CallerIdentity, TokenDigest, ZavhozConfig};

const CONCURRENCY: [usize; 3] = [1, 8, 32];

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

struct Cell {
    op: &'static str,
    clients: usize,
    latencies: Vec<Duration>,
    wall: Duration,
}

async fn run() -> anyhow::Result<()> {
    let base = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        "postgres://orchestrator:orchestrator@127.0.0.1:5432/orchestrator".into()
    });
    let secs: u64 = std::env::var("ZAVHOZ_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let (url, name) = scratch_database(&base).await?;
    let dir = tempfile::tempdir()?;
    let result = bench(&url, dir.path(), Duration::from_secs(secs)).await;
    let mut admin = PgConnection::connect(&base).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    let cells = result?;
    print_table(&cells, secs);
    Ok(())
}

async fn scratch_database(base: &str) -> anyhow::Result<(String, String)> {
    let name = format!("zavhoz_bench_{}", std::process::id());
    let mut admin = PgConnection::connect(base).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&mut admin)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    let (server, _) = base
        .rsplit_once('/')
        .ok_or_else(|| anyhow::anyhow!("no database in URL"))?;
    let url = format!("{server}/{name}");
    let pool = sqlx::PgPool::connect(&url).await?;
    orch_store::MIGRATOR.run(&pool).await?;
    pool.close().await;
    Ok((url, name))
}

fn token(identity: CallerIdentity) -> String {
    format!("bench-{}", identity.as_str())
}

fn settings(url: &str, dir: &std::path::Path) -> anyhow::Result<Settings<ZavhozConfig>> {
    let identity = orch_sops::AgeIdentity::generate();
    let key_file = dir.join("keys.txt");
    std::fs::write(&key_file, identity.to_string().expose_secret())?;
    let recipient = Recipient::parse(&identity.to_public().to_string())?;
    let doc = Document::parse("llm:\n    key: sk-bench-value\n", Format::Yaml)?;
    let secrets_file = dir.join("secrets.yaml");
    std::fs::write(
        &secrets_file,
        encrypt(&doc, &[recipient], Format::Yaml)?.to_string(),
    )?;
    let callers: BTreeMap<CallerIdentity, TokenDigest> =
        [CallerIdentity::GraphRunner, CallerIdentity::WorkerSpawner]
            .into_iter()
            .map(|i| (i, TokenDigest::of_token(&token(i))))
            .collect();
    Ok(Settings {
        common: CommonSettings {
            database_url: Some(SecretString::from(url.to_owned())),
            ..CommonSettings::default()
        },
        service: ZavhozConfig {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            grpc_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            secrets_file,
            age_key_file: Some(key_file),
            callers,
            default_quota: 10_000_000,
            ..ZavhozConfig::default()
        },
    })
}

async fn bench(url: &str, dir: &std::path::Path, secs: Duration) -> anyhow::Result<Vec<Cell>> {
    let app = Application::build(settings(url, dir)?).await?;
    let grpc = format!("http://{}", app.grpc_addr()?);
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(stop.clone()));
    let pool = sqlx::PgPool::connect(url).await?;
    let mut cells = Vec::new();
    for clients in CONCURRENCY {
        let users = people(&pool, clients).await?;
        cells.push(measure("Allocate", &grpc, &users, secs, allocate_loop).await?);
        cells.push(measure("Resolve", &grpc, &users, secs, resolve_loop).await?);
    }
    stop.cancel();
    server.await??;
    Ok(cells)
}

async fn people(pool: &sqlx::PgPool, n: usize) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let mut conn = pool.acquire().await?;
        let telegram = i64::from(rand::random::<u32>());
        ids.push(
            orch_store::users::upsert_telegram(&mut conn, telegram, "bench", true)
                .await?
                .id,
        );
    }
    Ok(ids)
}

type Loop = fn(
    ZavhozClient,
    ZavhozClient,
    i64,
    Instant,
) -> tokio::task::JoinHandle<anyhow::Result<Vec<Duration>>>;

async fn measure(
    op: &'static str,
    grpc: &str,
    users: &[i64],
    secs: Duration,
    body: Loop,
) -> anyhow::Result<Cell> {
    let mut tasks = Vec::new();
    let started = Instant::now();
    let until = started + secs;
    for user in users {
        let graph = client(grpc, CallerIdentity::GraphRunner).await?;
        let spawner = client(grpc, CallerIdentity::WorkerSpawner).await?;
        tasks.push(body(graph, spawner, *user, until));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok(Cell {
        op,
        clients: users.len(),
        latencies,
        wall: started.elapsed(),
    })
}

async fn client(grpc: &str, identity: CallerIdentity) -> anyhow::Result<ZavhozClient> {
    Ok(ZavhozClient::connect(&ZavhozClientConfig::new(grpc, token(identity))).await?)
}

fn secret_allocation(user: i64, key: String) -> Allocation {
    Allocation {
        acting_user_id: user,
        project_id: None,
        idempotency_key: key,
        lease_ttl: None,
        spec: Spec::Secret(SecretSpec {
            source: Some(secret_spec::Source::SopsPath("llm.key".into())),
            single_use: false,
        }),
    }
}

fn allocate_loop(
    graph: ZavhozClient,
    _: ZavhozClient,
    user: i64,
    until: Instant,
) -> tokio::task::JoinHandle<anyhow::Result<Vec<Duration>>> {
    tokio::spawn(async move {
        let mut latencies = Vec::new();
        let mut i = 0u64;
        while Instant::now() < until {
            i += 1;
            let key = format!("bench-{}-{i}", uuid::Uuid::now_v7().simple());
            let start = Instant::now();
            graph.allocate(secret_allocation(user, key)).await?;
            latencies.push(start.elapsed());
        }
        Ok(latencies)
    })
}

fn resolve_loop(
    graph: ZavhozClient,
    spawner: ZavhozClient,
    user: i64,
    until: Instant,
) -> tokio::task::JoinHandle<anyhow::Result<Vec<Duration>>> {
    tokio::spawn(async move {
        let key = format!("bench-resolve-{}", uuid::Uuid::now_v7().simple());
        let handle = SecretHandle(graph.allocate(secret_allocation(user, key)).await?.handle);
        let mut latencies = Vec::new();
        while Instant::now() < until {
            let start = Instant::now();
            let value = spawner.resolve(&handle, "bench", None).await?;
            latencies.push(start.elapsed());
            anyhow::ensure!(
                value.value.expose_secret() == "sk-bench-value",
                "wrong value"
            );
        }
        Ok(latencies)
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

fn print_table(cells: &[Cell], secs: u64) {
    println!(
        "\nzavhoz gRPC on loopback, {secs} s per cell (each client: own connection and person)\n"
    );
    println!("| op | clients | calls | p50 ms | p99 ms | calls/s |");
    println!("|---|---:|---:|---:|---:|---:|");
    for cell in cells {
        let mut sorted = cell.latencies.clone();
        sorted.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.0} |",
            cell.op,
            cell.clients,
            sorted.len(),
            ms(percentile(&sorted, 0.50)),
            ms(percentile(&sorted, 0.99)),
            sorted.len() as f64 / cell.wall.as_secs_f64()
        );
    }
}
