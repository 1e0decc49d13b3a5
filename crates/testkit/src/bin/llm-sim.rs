//! Standalone OpenAI-compatible chat-completions simulator for the offline demo.
//!
//! `llm-sim --listen 127.0.0.1:8082 --script answers.yaml` prints the base URL to configure as
//! the OpenAI endpoint (`http://127.0.0.1:8082/v1/`) and serves until Ctrl-C. Rules can be added
//! at runtime through the control API (see `orch_testkit::llm::control`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use orch_testkit::llm::{LlmConfig, LlmSim, Script};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "llm-sim",
    about = "Local OpenAI-compatible chat-completions simulator"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8082")]
    listen: SocketAddr,
    /// Script file with rules and defaults (`.json`, `.yaml` or `.yml`).
    #[arg(long)]
    script: Option<PathBuf>,
    /// Accepted API key; repeat for several (replaces the default and the script's keys).
    #[arg(long = "api-key")]
    api_keys: Vec<String>,
    /// Accept any API key, or none.
    #[arg(long, conflicts_with = "api_keys")]
    any_key: bool,
    /// Known model id; repeat for several (replaces the default and the script's models).
    #[arg(long = "model")]
    models: Vec<String>,
    /// Delay before every answer, in milliseconds.
    #[arg(long)]
    latency_ms: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_tracing();
    let sim = LlmSim::start(config(&args)?)
        .await
        .context("failed to start the llm simulator")?;
    println!("llm-sim listening: base_url={}", sim.base_url());
    println!("control API: {}", sim.control_url());
    tokio::signal::ctrl_c()
        .await
        .context("failed to wait for Ctrl-C")?;
    sim.shutdown().await;
    Ok(())
}

fn config(args: &Args) -> anyhow::Result<LlmConfig> {
    let mut config = LlmConfig::default().listen(args.listen);
    if let Some(path) = &args.script {
        let script = Script::from_path(path).context("failed to load the script")?;
        config = config.with_script(script);
    }
    if args.any_key {
        config.api_keys.clear();
    } else if !args.api_keys.is_empty() {
        config.api_keys.clone_from(&args.api_keys);
    }
    if !args.models.is_empty() {
        config.models.clone_from(&args.models);
    }
    if let Some(ms) = args.latency_ms {
        config.latency = Duration::from_millis(ms);
    }
    Ok(config)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}
