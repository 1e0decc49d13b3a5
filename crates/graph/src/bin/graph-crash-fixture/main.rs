//! The crash-test fixture of orch-graph: runs one thread of a scenario graph against PostgreSQL with a
//! lease, printing a line per event (`ready`, `enter <node>`, `checkpoint …`, `called <key>`, `done …`,
//! `interrupted …`, `fenced`, …) so tests can time their signals. Exit codes: 0 done or interrupted,
//! 3 fenced, 4 nothing to resume, 1 other errors.

mod graphs;
mod world;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use orch_graph::{
    Checkpointer, Clock, Command, GraphError, Input, InputRefused, LeaseConfig, Leases,
    MemoryCheckpointer, OffsetClock, Outcome, PgCheckpointer, Runner, SystemClock, ThreadKey,
};
use sqlx::postgres::PgPoolOptions;

use graphs::{Env, Fx};
use world::{PrintObserver, Unfenced, say};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Scenario {
    Chain,
    Parallel,
    Effect,
    Approval,
}

#[derive(Debug, Parser)]
struct Args {
    #[arg(long)]
    database_url: String,
    /// Create the fixture's tables and exit.
    #[arg(long)]
    init: bool,
    #[arg(long, default_value = "t1")]
    thread: String,
    #[arg(long, value_enum, default_value = "chain")]
    scenario: Scenario,
    #[arg(long, default_value = "fixture")]
    owner: String,
    #[arg(long, default_value_t = 15_000)]
    lease_ttl_ms: u64,
    /// Hang after the checkpoint of the step that ran this node.
    #[arg(long)]
    hang_after_checkpoint_of: Option<String>,
    /// Effect scenario: hang after the external call, before its result is recorded.
    #[arg(long)]
    hang_after_call: bool,
    /// Effect scenario: hang after the result is recorded, before the checkpoint.
    #[arg(long)]
    hang_after_record: bool,
    /// This node fails.
    #[arg(long)]
    fail: Option<String>,
    /// `node=ms`: the node sleeps that long.
    #[arg(long)]
    delay: Vec<String>,
    /// Resume the pending interrupt with this JSON value.
    #[arg(long)]
    resume: Option<String>,
    /// Run the clock this many seconds ahead.
    #[arg(long, default_value_t = 0)]
    clock_offset_secs: i64,
    /// Retry while another runner holds the lease.
    #[arg(long)]
    wait_lease: bool,
    /// Keep running after the invocation (until killed).
    #[arg(long)]
    stay_alive: bool,
    /// Negative control: an in-memory checkpointer (lost on kill).
    #[arg(long)]
    memory: bool,
    /// Negative control: commits without the lease fence.
    #[arg(long)]
    unfenced: bool,
    /// Negative control: a fresh idempotency key on every attempt.
    #[arg(long)]
    unstable_key: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&args.database_url)
        .await
        .context("database")?;
    if args.init {
        return world::init(&pool).await;
    }
    let runner = build_runner(&args, pool)?;
    say("ready");
    let code = run(&args, &runner).await;
    if args.stay_alive {
        say("staying alive");
        std::future::pending::<()>().await;
    }
    std::process::exit(code);
}

fn build_runner(args: &Args, pool: sqlx::PgPool) -> anyhow::Result<Runner<Fx>> {
    let env = Arc::new(Env {
        pool: pool.clone(),
        owner: args.owner.clone(),
        delays: delays(&args.delay)?,
        fail: args.fail.clone(),
        hang_after_call: args.hang_after_call,
        hang_after_record: args.hang_after_record,
        unstable_key: args.unstable_key,
    });
    let graph = match args.scenario {
        Scenario::Chain => graphs::chain(&env),
        Scenario::Parallel => graphs::parallel(&env),
        Scenario::Effect => graphs::effect(&env),
        Scenario::Approval => graphs::approval(&env),
    };
    let (store, leases): (Arc<dyn Checkpointer>, Arc<dyn Leases>) = if args.memory {
        let memory = Arc::new(MemoryCheckpointer::new());
        (memory.clone(), memory)
    } else {
        let pg = Arc::new(PgCheckpointer::new(pool));
        (pg.clone(), pg)
    };
    let store: Arc<dyn Checkpointer> = if args.unfenced {
        Arc::new(Unfenced(store))
    } else {
        store
    };
    let clock: Arc<dyn Clock> = Arc::new(OffsetClock::new(
        Arc::new(SystemClock),
        chrono::TimeDelta::seconds(args.clock_offset_secs),
    ));
    let lease =
        LeaseConfig::new(args.owner.clone()).with_ttl(Duration::from_millis(args.lease_ttl_ms));
    Ok(Runner::new(graph)
        .with_checkpointer(store)
        .with_leases(leases, lease)
        .with_clock(clock)
        .with_observer(Arc::new(PrintObserver {
            hang_after: args.hang_after_checkpoint_of.clone(),
        })))
}

fn delays(specs: &[String]) -> anyhow::Result<HashMap<String, u64>> {
    specs
        .iter()
        .map(|s| {
            let (node, ms) = s.split_once('=').context("--delay node=ms")?;
            Ok((node.to_owned(), ms.parse().context("--delay node=ms")?))
        })
        .collect()
}

async fn run(args: &Args, runner: &Runner<Fx>) -> i32 {
    let thread = ThreadKey::new(args.thread.as_str());
    loop {
        let input = match input(args, runner, &thread).await {
            Ok(input) => input,
            Err(e) => return report(Err(e)),
        };
        match runner.invoke(&thread, input).await {
            Err(GraphError::LeaseHeld { .. }) if args.wait_lease => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return report(other),
        }
    }
}

/// Starts a new thread, resumes with `--resume`, or continues an existing one.
async fn input(
    args: &Args,
    runner: &Runner<Fx>,
    thread: &ThreadKey,
) -> Result<Input<Fx>, GraphError> {
    let existing = runner.get_state(thread).await?;
    if let Some(answer) = &args.resume {
        if let Some(asked) = existing.as_ref().and_then(|s| s.interrupts.first()) {
            let waited = runner_clock_now(args) - asked.asked_at;
            say(&format!("waited {}", waited.num_seconds()));
        }
        let value = serde_json::from_str(answer)
            .unwrap_or_else(|_| serde_json::Value::from(answer.as_str()));
        return Ok(Input::Resume(Command::resume(value)));
    }
    Ok(match existing {
        Some(_) => Input::Continue,
        None => Input::Start(Fx::default()),
    })
}

fn runner_clock_now(args: &Args) -> chrono::DateTime<chrono::Utc> {
    OffsetClock::new(
        Arc::new(SystemClock),
        chrono::TimeDelta::seconds(args.clock_offset_secs),
    )
    .now()
}

fn report(result: Result<Outcome<Fx>, GraphError>) -> i32 {
    match result {
        Ok(Outcome::Done { state, .. }) => {
            say(&format!(
                "done {}",
                serde_json::to_string(&state).unwrap_or_default()
            ));
            0
        }
        Ok(Outcome::Interrupted { interrupts, .. }) => {
            say(&format!(
                "interrupted {}",
                serde_json::to_string(&interrupts).unwrap_or_default()
            ));
            0
        }
        Err(e) if e.is_fenced() => {
            say(&format!("fenced {e}"));
            3
        }
        Err(GraphError::Input {
            reason: InputRefused::NotInterrupted,
            ..
        }) => {
            say("not-interrupted");
            4
        }
        Err(e) => {
            say(&format!("error {e}"));
            1
        }
    }
}
