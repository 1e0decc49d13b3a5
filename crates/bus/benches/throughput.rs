//! Bus throughput: messages/s published → consumed → acknowledged through one consumer group, next to the
//! raw `XADD` rate `redis-benchmark` measures on the same Redis in the same run. Prints a table; not a test.
//!
//! `cargo bench -p orch-bus` (uses `REDIS_URL`, default `redis://127.0.0.1:6379`; `BENCH_MESSAGES`, default
//! 100000).

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use orch_bus::{Bus, BusConfig, Consumer, Delivery, Group, HandlerError};
use orch_contracts::messages::worker::WorkerProgress;
use orch_contracts::{Envelope, StreamKey, WorkerId};
use tokio_util::sync::CancellationToken;

const PUBLISH_BATCH: usize = 500;

fn main() -> anyhow::Result<()> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let n: u64 = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let (host, port) = host_port(&url);
    let sample = sample_fields();
    let raw = redis_benchmark(&host, &port, n, 1, &sample)?;
    let raw_pipelined = redis_benchmark(&host, &port, n, 16, &sample)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let bus_rate = runtime.block_on(bus_round_trip(&url, n))?;
    print_table(n, raw, raw_pipelined, bus_rate);
    Ok(())
}

fn host_port(url: &str) -> (String, String) {
    let rest = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or("127.0.0.1:6379");
    let rest = rest.rsplit('@').next().unwrap_or(rest);
    let (host, port) = rest.split_once(':').unwrap_or((rest, "6379"));
    (host.to_owned(), port.to_owned())
}

/// The wire fields of one typical message, so the raw baseline writes the same bytes the bus writes.
fn sample_fields() -> Vec<(String, String)> {
    let fields = message(0).to_fields().expect("valid message");
    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn message(seq: u64) -> Envelope<WorkerProgress> {
    Envelope::new(WorkerProgress {
        worker_id: WorkerId::new(),
        seq,
        lines: vec![format!("compiling crate {seq}")],
    })
}

/// Runs `redis-benchmark` with XADD of the sample fields; returns requests/s.
fn redis_benchmark(
    host: &str,
    port: &str,
    n: u64,
    pipeline: u32,
    fields: &[(String, String)],
) -> anyhow::Result<f64> {
    let key = format!("bench:raw:{}", uuid::Uuid::new_v4().simple());
    let mut cmd = Command::new("redis-benchmark");
    cmd.args([
        "-h",
        host,
        "-p",
        port,
        "-n",
        &n.to_string(),
        "-c",
        "50",
        "-P",
        &pipeline.to_string(),
        "--csv",
    ]);
    cmd.args(["XADD", &key, "*"]);
    for (k, v) in fields {
        cmd.args([k, v]);
    }
    let out = cmd.output()?;
    anyhow::ensure!(
        out.status.success(),
        "redis-benchmark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = Command::new("redis-cli")
        .args(["-h", host, "-p", port, "DEL", &key])
        .output();
    let csv = String::from_utf8(out.stdout)?;
    let line = csv
        .lines()
        .last()
        .ok_or_else(|| anyhow::anyhow!("no output"))?;
    // Columns: test, rps, avg, min, p50, p95, p99, max. The test name holds commas (the JSON body), so count
    // the seven numeric columns from the right.
    let rps = line
        .rsplit(',')
        .nth(6)
        .ok_or_else(|| anyhow::anyhow!("bad csv: {line}"))?;
    Ok(rps.trim_matches('"').parse()?)
}

/// Publishes `n` messages in pipelined batches while one consumer handles and acks them; returns messages/s
/// from the first publish to the last ack.
async fn bus_round_trip(url: &str, n: u64) -> anyhow::Result<f64> {
    let config = BusConfig {
        prefix: format!("bench-{}", uuid::Uuid::new_v4().simple()),
        batch: 256,
        max_in_flight: 512,
        block: Duration::from_millis(100),
        ..BusConfig::default()
    };
    let bus = Bus::connect(url, config)?;
    let stream = StreamKey::from("bench:work");
    let group = Group::new(&bus, &stream, "bench", "c1");
    group.ensure().await?;
    let messages: Vec<_> = (0..n).map(message).collect();
    let handled = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&handled);
    let handler = move |_d: Delivery<WorkerProgress>| {
        let counter = Arc::clone(&counter);
        async move {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok::<(), HandlerError>(())
        }
    };
    let stop = CancellationToken::new();
    let consumer =
        tokio::spawn(Consumer::new(&bus, &stream, "bench", "c1", handler).run(stop.clone()));
    let started = Instant::now();
    for chunk in messages.chunks(PUBLISH_BATCH) {
        bus.publish_batch(&stream, chunk).await?;
    }
    while handled.load(Ordering::Relaxed) < n || group.pending().await? > 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    stop.cancel();
    consumer.await??;
    let mut conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let _: u64 = redis::cmd("DEL")
        .arg(bus.key(&stream))
        .query_async(&mut conn)
        .await?;
    Ok(n as f64 / elapsed.as_secs_f64())
}

fn print_table(n: u64, raw: f64, raw_pipelined: f64, bus: f64) {
    println!("bus throughput, {n} messages (same Redis, same run)");
    println!("| measure | msg/s | bus ÷ measure |");
    println!("| --- | ---: | ---: |");
    println!(
        "| redis-benchmark XADD, 50 clients, no pipelining | {raw:.0} | {:.2} |",
        bus / raw
    );
    println!(
        "| redis-benchmark XADD, 50 clients, pipeline 16 | {raw_pipelined:.0} | {:.2} |",
        bus / raw_pipelined
    );
    println!("| bus publish → consume → ack (1 consumer) | {bus:.0} | 1.00 |");
}
