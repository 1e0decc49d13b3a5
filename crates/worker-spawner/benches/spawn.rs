//! Spawner benchmark (`cargo bench -p worker-spawner`): prints numbers, asserts nothing.
//!
//! 1. Latency: `worker:spawn` published → verified `worker:result` for a trivial task (clone, write one file,
//!    commit, push), against `docker run --rm -i` of the same image running the same runner and task on the
//!    default bridge (no proxy, no private network, no verification) — median of `SPAWNER_BENCH_ROUNDS` (7) each, interleaved.
//! 2. Parallelism: batches of N workers that each hold for 15 s + N/2 s, N doubling (up to
//!    `SPAWNER_BENCH_MAX_BATCH`, 128) while every worker of the batch succeeds and all N ran at once; memory per
//!    worker from the engine's stats (cgroup usage without page cache) and the containerd shims' RSS.
//!
//! Needs Docker, Redis, PostgreSQL (migrated) and git, like the integration tests.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine;
use bollard::Docker;
use bollard::query_parameters::{ListContainersOptionsBuilder, StatsOptionsBuilder};
use futures::StreamExt;
use orch_bus::{Bus, BusConfig};
use orch_contracts::messages::worker::{
    AgentKind, RepoRef, SecretHandle, SecretInjection, TaskSpec, WorkerLimits, WorkerResult,
    WorkerSpawn, WorkerStatus,
};
use orch_contracts::{Envelope, ProjectId, StreamKey, WorkerId, streams};
use orch_service_kit::{CommonSettings, Service, Settings};
use orch_testkit::github::{GithubSim, GithubSimConfig};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;
use worker_spawner::{Application, WorkerSpawnerConfig};

/// Rounds of the latency comparison (`SPAWNER_BENCH_ROUNDS`, default 7).
fn rounds() -> usize {
    env_or("SPAWNER_BENCH_ROUNDS", "7").parse().unwrap_or(7)
}
/// Largest parallel batch (`SPAWNER_BENCH_MAX_BATCH`, default 128).
fn max_batch() -> usize {
    env_or("SPAWNER_BENCH_MAX_BATCH", "128")
        .parse()
        .unwrap_or(128)
}
/// How long each worker of a batch of `n` holds: long enough for the whole batch to be running at once.
fn hold_secs(n: usize) -> u32 {
    15 + u32::try_from(n / 2).unwrap_or(60)
}
const MAX_BATCH: usize = 128;
/// `projects.max_parallel_workers` is at most 32: larger batches spread over several projects.
const PER_PROJECT: usize = 32;
const TOKEN: &str = "ghp_benchtoken1234567890";
const HANDLE: &str = "hdl_benchtoken0000000000000001";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

struct Bench {
    sim: GithubSim,
    repo: String,
    image: String,
    projects: Vec<ProjectId>,
    bus: Bus,
    fleet: String,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(env_or(
            "RUST_LOG", "warn",
        )))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let image = build_image()?;
    let docker = Docker::connect_with_local_defaults()?
        .negotiate_version()
        .await?;
    let listen = SocketAddr::new("172.17.0.1".parse()?, 0);
    let sim = GithubSim::start(
        GithubSimConfig::default()
            .with_listen(listen)
            .with_token("alice", TOKEN),
    )
    .await?;
    let repo = "bench".to_owned();
    reqwest::Client::new()
        .post(format!("{}/user/repos", sim.api_url()))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "name": repo, "auto_init": true }))
        .send()
        .await?
        .error_for_status()?;
    let pool = sqlx::PgPool::connect(&env_or(
        "DATABASE_URL",
        "postgres://orchestrator:orchestrator@127.0.0.1:5432/orchestrator",
    ))
    .await?;
    let mut projects = Vec::new();
    for _ in 0..MAX_BATCH.div_ceil(PER_PROJECT) {
        projects.push(project(&pool).await?);
    }
    let fleet = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let bus = Bus::connect(
        &env_or("REDIS_URL", "redis://127.0.0.1:6379"),
        BusConfig {
            prefix: fleet.clone(),
            ..BusConfig::default()
        },
    )?;
    let bench = Bench {
        sim,
        repo,
        image,
        projects,
        bus,
        fleet,
    };
    let secrets = tempfile::tempdir()?;
    std::fs::write(secrets.path().join(HANDLE), TOKEN)?;
    let shutdown = CancellationToken::new();
    let app = Application::build(settings(&bench, secrets.path())).await?;
    let spawner = tokio::spawn(app.run_until_stopped(shutdown.clone()));

    let measured = measure(&bench, &docker).await;
    // Stop the spawner whatever happened, so its proxy and networks are removed.
    shutdown.cancel();
    spawner.await??;
    measured
}

async fn measure(bench: &Bench, docker: &Docker) -> anyhow::Result<()> {
    latency(bench).await?;
    parallelism(bench, docker).await
}

fn build_image() -> anyhow::Result<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-test-image.sh");
    let out = std::process::Command::new(script).output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned())
}

async fn project(pool: &sqlx::PgPool) -> anyhow::Result<ProjectId> {
    let user: i64 = sqlx::query_scalar(
        "INSERT INTO users (display_name) VALUES ('spawner bench') RETURNING id",
    )
    .fetch_one(pool)
    .await?;
    let id = ProjectId::new();
    sqlx::query(
        "INSERT INTO projects (id, owner_user_id, name, budget_usd_micros, max_parallel_workers)
         VALUES ($1, $2, $3, 0, 32)",
    )
    .bind(id.0)
    .bind(user)
    .bind(format!("bench-{}", &id.0.simple().to_string()[..12]))
    .execute(pool)
    .await?;
    Ok(id)
}

fn settings(bench: &Bench, secrets: &Path) -> Settings<WorkerSpawnerConfig> {
    let mut config = WorkerSpawnerConfig {
        http_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        spawner_id: bench.fleet.clone(),
        stream_prefix: bench.fleet.clone(),
        github_api_url: bench.sim.api_url(),
        max_workers: MAX_BATCH,
        max_workers_per_project: PER_PROJECT as u32,
        progress_interval_ms: 1000,
        ..WorkerSpawnerConfig::default()
    };
    config.docker.runtime = "runc".into();
    config.docker.image = bench.image.clone();
    config.egress.allow = bench.sim.addr().to_string();
    config.secrets.dir = secrets.to_path_buf();
    Settings {
        common: CommonSettings {
            database_url: Some(SecretString::from(env_or(
                "DATABASE_URL",
                "postgres://orchestrator:orchestrator@127.0.0.1:5432/orchestrator",
            ))),
            redis_url: Some(SecretString::from(env_or(
                "REDIS_URL",
                "redis://127.0.0.1:6379",
            ))),
            ..CommonSettings::default()
        },
        service: config,
    }
}

fn spawn(bench: &Bench, index: usize, branch: &str, task: &str, timeout_secs: u32) -> WorkerSpawn {
    WorkerSpawn {
        worker_id: WorkerId::new(),
        project_id: bench.projects[index / PER_PROJECT],
        idempotency_key: format!("bench-{}", uuid::Uuid::new_v4().simple()),
        repo: RepoRef {
            owner: "alice".into(),
            name: bench.repo.clone(),
            clone_url: bench.sim.git_url("alice", &bench.repo),
        },
        base_branch: "main".into(),
        branch: branch.into(),
        task: TaskSpec {
            title: format!("bench {branch}"),
            body: task.into(),
        },
        agent: AgentKind::Scripted,
        secrets: vec![SecretInjection {
            env: "GIT_TOKEN".into(),
            handle: SecretHandle(HANDLE.into()),
        }],
        limits: WorkerLimits {
            memory_mib: 256,
            cpu_millis: 1000,
            pids: 256,
        },
        timeout_secs,
    }
}

async fn spawn_and_wait(
    bench: &Bench,
    spawn: &WorkerSpawn,
    within: Duration,
) -> anyhow::Result<WorkerResult> {
    bench
        .bus
        .publish(
            &StreamKey::from(streams::WORKER_SPAWN),
            &Envelope::new(spawn.clone()),
        )
        .await?;
    bench
        .bus
        .wait_for_result::<WorkerResult>(&streams::worker_result(spawn.worker_id), within)
        .await?
        .map(|e| e.body)
        .ok_or_else(|| anyhow::anyhow!("no result within {within:?}"))
}

/// `docker run --rm -i` of the same image, runner and task; returns the wall time.
fn docker_run(bench: &Bench, branch: &str) -> anyhow::Result<Duration> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(TOKEN);
    let input = format!("ORCH-SECRET GIT_TOKEN {b64}\nORCH-TASK\n# bench\n\n@write hello.txt hi\n");
    let started = Instant::now();
    let mut child = std::process::Command::new("docker")
        .args(["run", "--rm", "-i", "--user", "1000:1000"])
        .args([
            "-e",
            &format!("ORCH_REPO_URL={}", bench.sim.git_url("alice", &bench.repo)),
        ])
        .args([
            "-e",
            "ORCH_BASE_BRANCH=main",
            "-e",
            &format!("ORCH_BRANCH={branch}"),
        ])
        .args([
            "-e",
            "ORCH_TASK_TITLE=bench",
            "-e",
            "ORCH_AGENT_CMD=orch-scripted-agent",
        ])
        .arg(&bench.image)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("stdin"))?
        .write_all(input.as_bytes())?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "docker run failed: {}: {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(started.elapsed())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn latency(bench: &Bench) -> anyhow::Result<()> {
    let mut baseline = Vec::new();
    let mut spawned = Vec::new();
    // One warm-up of each (first container start, first proxy connection).
    docker_run(bench, "warm/run")?;
    spawn_and_wait(
        bench,
        &spawn(bench, 0, "warm/spawn", "@write hello.txt hi\n", 120),
        Duration::from_secs(120),
    )
    .await?;
    for round in 0..rounds() {
        baseline.push(docker_run(bench, &format!("run/{round}"))?);
        let s = spawn(
            bench,
            0,
            &format!("spawn/{round}"),
            "@write hello.txt hi\n",
            120,
        );
        let started = Instant::now();
        let result = spawn_and_wait(bench, &s, Duration::from_secs(120)).await?;
        anyhow::ensure!(
            result.status == WorkerStatus::Succeeded && result.verified,
            "{result:?}"
        );
        spawned.push(started.elapsed());
    }
    let (b, s) = (median(baseline.clone()), median(spawned.clone()));
    println!(
        "## latency: trivial task (clone, write, commit, push), median of {}",
        rounds()
    );
    println!("docker run --rm -i (same image, runner, task): {b:?}  all: {baseline:?}");
    println!("spawn -> verified result (worker-spawner):     {s:?}  all: {spawned:?}");
    println!("ratio: {:.2}", s.as_secs_f64() / b.as_secs_f64());
    Ok(())
}

async fn parallelism(bench: &Bench, docker: &Docker) -> anyhow::Result<()> {
    println!("## parallel workers, each holding 15 s + n/2 s");
    println!(
        "| workers | all succeeded | peak running at once | wall time | cgroup MiB/worker mean | max | shim MiB/container | host MemAvailable drop MiB |"
    );
    let mut n = 4;
    while n <= max_batch().min(MAX_BATCH) {
        let before = mem_available_mib();
        let task = format!("@write hold.txt held\n@sleep {}\n", hold_secs(n));
        let spawns: Vec<_> = (0..n)
            .map(|i| spawn(bench, i, &format!("par{n}/{i}"), &task, 600))
            .collect();
        let started = Instant::now();
        let stop = CancellationToken::new();
        let sampler = tokio::spawn(sample_memory(
            docker.clone(),
            bench.fleet.clone(),
            n,
            stop.clone(),
        ));
        let waits = spawns
            .iter()
            .map(|s| spawn_and_wait(bench, s, Duration::from_secs(900)));
        let results = futures::future::join_all(waits).await;
        let elapsed = started.elapsed();
        stop.cancel();
        let sample = sampler.await?;
        let ok = results
            .iter()
            .filter(|r| matches!(r, Ok(r) if r.status == WorkerStatus::Succeeded))
            .count();
        let drop = before.saturating_sub(sample.low_available);
        println!(
            "| {n} | {ok}/{n} | {} | {elapsed:.1?} | {:.1} | {:.1} | {:.1} | {drop} |",
            sample.peak, sample.mean_mib, sample.max_mib, sample.shim_mib
        );
        if ok < n || sample.peak < n {
            break;
        }
        n *= 2;
    }
    Ok(())
}

/// What the memory sampler saw during a batch.
#[derive(Default)]
struct Sample {
    peak: usize,
    mean_mib: f64,
    max_mib: f64,
    shim_mib: f64,
    low_available: u64,
}

/// Counts running workers every 250 ms until `stop`; when all `n` run at once, records their memory (cgroup
/// usage minus page cache) once.
async fn sample_memory(docker: Docker, fleet: String, n: usize, stop: CancellationToken) -> Sample {
    let filter = HashMap::from([(
        "label".to_owned(),
        vec![
            format!("orch.spawner={fleet}"),
            "orch.role=worker".to_owned(),
        ],
    )]);
    let mut sample = Sample {
        low_available: u64::MAX,
        ..Sample::default()
    };
    let mut measured = false;
    while !stop.is_cancelled() {
        sample.low_available = sample.low_available.min(mem_available_mib());
        let running = docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .filters(&filter)
                    .build(),
            ))
            .await
            .unwrap_or_default();
        sample.peak = sample.peak.max(running.len());
        if running.len() >= n && !measured {
            measured = true;
            let mut usages = Vec::new();
            for c in running.iter().filter_map(|c| c.id.clone()) {
                let options = StatsOptionsBuilder::default()
                    .stream(false)
                    .one_shot(true)
                    .build();
                if let Some(Ok(stats)) = docker.stats(&c, Some(options)).next().await {
                    let m = stats.memory_stats.unwrap_or_default();
                    let cache = m
                        .stats
                        .as_ref()
                        .and_then(|s| s.get("cache").copied())
                        .unwrap_or(0);
                    usages.push(m.usage.unwrap_or(0).saturating_sub(cache) as f64 / 1048576.0);
                }
            }
            sample.mean_mib = usages.iter().sum::<f64>() / usages.len().max(1) as f64;
            sample.max_mib = usages.iter().copied().fold(0.0, f64::max);
            sample.shim_mib = shim_rss_mib();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    sample
}

/// Mean resident memory of the `containerd-shim*` processes (one per running container), in MiB.
fn shim_rss_mib() -> f64 {
    let mut total = 0u64;
    let mut count = 0u64;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let path = entry.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !comm.starts_with("containerd-shim") {
            continue;
        }
        let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
        if let Some(kb) = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
        {
            total += kb;
            count += 1;
        }
    }
    total as f64 / 1024.0 / count.max(1) as f64
}

fn mem_available_mib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}
