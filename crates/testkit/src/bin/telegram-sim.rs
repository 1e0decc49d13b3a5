//! Standalone Telegram Bot API simulator for the offline demo and manual testing.
//!
//! `telegram-sim --listen 127.0.0.1:8081 --token 123:abc --token 456:def` prints the API URL to
//! point bots at (`TELOXIDE_API_URL`) and serves until Ctrl-C. Users are driven through the
//! control API under `/control` (see `orch_testkit::telegram::control`).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use orch_testkit::telegram::{BotIdentity, DEFAULT_TOKEN, FloodLimit, TelegramConfig, TelegramSim};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(name = "telegram-sim", about = "Local Telegram Bot API simulator")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Bot token to accept; repeat for several bots.
    #[arg(long = "token", default_values_t = [DEFAULT_TOKEN.to_owned()])]
    tokens: Vec<String>,
    /// Messages allowed per chat and window before 429 (off when absent).
    #[arg(long)]
    flood_limit: Option<u32>,
    /// Window of the flood limit, in seconds.
    #[arg(long, default_value_t = 1)]
    flood_window_secs: u64,
    /// `update_id` of each bot's first update. Pass a fresh value (e.g. the current Unix time) when the
    /// simulator restarts against a long-lived gateway and database, as Telegram does after a pause: the
    /// gateway deduplicates updates by id, so reused ids would be dropped as already seen.
    #[arg(long, default_value_t = 1)]
    first_update_id: i64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_tracing();
    let sim = TelegramSim::start(config(&args))
        .await
        .context("failed to start the telegram simulator")?;
    println!("telegram-sim listening: api_url={}", sim.api_url());
    println!("control API: {}", sim.control_url());
    for token in &args.tokens {
        let bot = BotIdentity::from_token(token.as_str());
        println!("bot @{} (id {})", bot.username, bot.id);
    }
    tokio::signal::ctrl_c()
        .await
        .context("failed to wait for Ctrl-C")?;
    sim.shutdown().await;
    Ok(())
}

fn config(args: &Args) -> TelegramConfig {
    let mut config = TelegramConfig::with_tokens(args.tokens.iter().cloned())
        .listen(args.listen)
        .first_update_id(args.first_update_id);
    if let Some(max_messages) = args.flood_limit {
        config = config.flood_limit(FloodLimit {
            max_messages,
            window: Duration::from_secs(args.flood_window_secs),
        });
    }
    config
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}
