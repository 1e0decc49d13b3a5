//! The subcommands.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use orch_bus::{Bus, BusConfig};
use orch_contracts::StreamKey;
use orch_store::Store;

#[path = "secrets.rs"]
mod secrets;

/// The orchestrator's operator command line.
#[derive(Debug, Parser)]
#[command(name = "orchestrator", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply every pending database migration.
    Migrate {
        /// PostgreSQL URL.
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
    /// Ask the api whether the system is ready; exits 1 when it is not.
    Status {
        /// Base URL of the api.
        #[arg(
            long,
            env = "ORCHESTRATOR_API_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        api_url: String,
    },
    /// Read and change the SOPS+age encrypted secrets file.
    Secrets(secrets::SecretsArgs),
    /// Inspect and replay dead-lettered entries.
    Dlq {
        /// Redis URL.
        #[arg(long, env = "REDIS_URL", hide_env_values = true)]
        redis_url: String,
        /// Key prefix of the deployment (empty in production).
        #[arg(long, default_value = "")]
        prefix: String,
        #[command(subcommand)]
        action: DlqAction,
    },
}

#[derive(Debug, Subcommand)]
enum DlqAction {
    /// List dead-lettered entries of STREAM (e.g. `worker:spawn`), oldest first.
    List {
        /// The work stream whose dead letters to show.
        stream: String,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        count: usize,
    },
    /// Put dead-lettered entries back on STREAM (unchanged) and remove them from the dead-letter stream.
    Replay {
        /// The work stream.
        stream: String,
        /// The dead-letter entry id (from `list`).
        #[arg(required_unless_present = "all")]
        id: Option<String>,
        /// Replay every dead-lettered entry of the stream.
        #[arg(long)]
        all: bool,
    },
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Migrate { database_url } => migrate(&database_url).await,
        Command::Status { api_url } => status(&api_url).await,
        Command::Secrets(args) => secrets::run(args).await,
        Command::Dlq {
            redis_url,
            prefix,
            action,
        } => {
            let bus = Bus::connect(
                &redis_url,
                BusConfig {
                    prefix,
                    ..BusConfig::default()
                },
            )?;
            match action {
                DlqAction::List { stream, count } => {
                    dlq_list(&bus, &StreamKey::new(stream), count).await
                }
                DlqAction::Replay { stream, id, all } => {
                    dlq_replay(&bus, &StreamKey::new(stream), id, all).await
                }
            }
        }
    }
}

async fn migrate(database_url: &str) -> anyhow::Result<ExitCode> {
    let store = Store::connect_lazy(database_url, 2)?;
    store
        .migrate()
        .await
        .context("failed to apply migrations")?;
    println!("migrations applied");
    Ok(ExitCode::SUCCESS)
}

async fn status(api_url: &str) -> anyhow::Result<ExitCode> {
    let url = format!("{}/ready", api_url.trim_end_matches('/'));
    let response = reqwest::get(&url)
        .await
        .with_context(|| format!("the api does not answer at {url}"))?;
    let ready = response.status().is_success();
    let body: serde_json::Value = response
        .json()
        .await
        .context("the api answered with something that is not JSON")?;
    let checks = body["checks"].as_object().cloned().unwrap_or_default();
    println!("{}", if ready { "ready" } else { "NOT ready" });
    for (name, outcome) in checks {
        println!("  {name:<10} {}", outcome.as_str().unwrap_or("?"));
    }
    Ok(if ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn dlq_list(bus: &Bus, stream: &StreamKey, count: usize) -> anyhow::Result<ExitCode> {
    let letters = bus.dead_letters(stream, count).await?;
    if letters.is_empty() {
        println!("no dead letters on {}", stream.dlq());
    }
    for l in letters {
        let event = l.event_id.as_deref().unwrap_or("-");
        println!(
            "{}  entry {}  event {event}  deliveries {}  {}",
            l.dlq_id, l.entry_id, l.deliveries, l.reason
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn dlq_replay(
    bus: &Bus,
    stream: &StreamKey,
    id: Option<String>,
    all: bool,
) -> anyhow::Result<ExitCode> {
    let letters = bus.dead_letters(stream, usize::MAX >> 1).await?;
    let chosen: Vec<_> = letters
        .into_iter()
        .filter(|l| all || Some(&l.dlq_id) == id.as_ref())
        .collect();
    anyhow::ensure!(
        !chosen.is_empty(),
        "no dead letter {} on {}",
        id.as_deref().unwrap_or("at all"),
        stream.dlq()
    );
    for letter in &chosen {
        let new_id = bus.replay_dead_letter(stream, letter).await?;
        println!("replayed {} as {new_id} on {stream}", letter.dlq_id);
    }
    Ok(ExitCode::SUCCESS)
}
