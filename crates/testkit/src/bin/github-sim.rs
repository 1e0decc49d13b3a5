//! `github-sim`: runs the GitHub REST + git smart HTTP simulator as a standalone process.
//!
//! Prints `github-sim listening on http://ADDR` on stdout once it accepts requests, and stops on
//! SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use orch_testkit::github::{AppConfig, GithubSim, GithubSimConfig};

/// Command line of `github-sim`.
#[derive(Debug, Parser)]
#[command(
    name = "github-sim",
    about = "Local GitHub API simulator backed by real bare git repositories"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Directory for the bare repositories (default: a temporary directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// A personal access token, `login:token`; repeatable.
    #[arg(long = "token", value_name = "LOGIN:TOKEN")]
    tokens: Vec<String>,
    /// An organization membership, `org:login`; repeatable.
    #[arg(long = "org-member", value_name = "ORG:LOGIN")]
    org_members: Vec<String>,
    /// The GitHub App id.
    #[arg(long, requires = "app_key_pem")]
    app_id: Option<u64>,
    /// The App's RSA key (public, or the private key whose public half is used), PEM.
    #[arg(long, requires = "app_id")]
    app_key_pem: Option<PathBuf>,
    /// The App slug.
    #[arg(long, default_value = "sim-app")]
    app_slug: String,
    /// An App installation, `id:org`; repeatable.
    #[arg(long = "installation", value_name = "ID:ORG", requires = "app_id")]
    installations: Vec<String>,
    /// Requests per hour per principal (primary rate limit).
    #[arg(long, default_value_t = 5000)]
    rate_limit: u32,
    /// Lifetime of installation access tokens, in seconds.
    #[arg(long, default_value_t = 3600)]
    token_ttl_secs: u64,
}

fn pair(raw: &str, what: &str) -> anyhow::Result<(String, String)> {
    match raw.split_once(':') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() => Ok((a.to_owned(), b.to_owned())),
        _ => bail!("invalid {what} {raw:?}: expected two non-empty parts separated by ':'"),
    }
}

fn config(args: &Args) -> anyhow::Result<GithubSimConfig> {
    let mut cfg = GithubSimConfig::default()
        .with_listen(args.listen)
        .with_rate_limit(args.rate_limit)
        .with_installation_token_ttl(Duration::from_secs(args.token_ttl_secs));
    cfg.data_dir.clone_from(&args.data_dir);
    for t in &args.tokens {
        let (login, token) = pair(t, "--token")?;
        cfg = cfg.with_token(login, token);
    }
    for m in &args.org_members {
        let (org, login) = pair(m, "--org-member")?;
        cfg = cfg.with_org_member(org, login);
    }
    if let (Some(id), Some(path)) = (args.app_id, &args.app_key_pem) {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read {}", path.display()))?;
        let mut app = AppConfig::new(id, pem).with_slug(&args.app_slug);
        for i in &args.installations {
            let (inst, org) = pair(i, "--installation")?;
            app = app.with_installation(
                inst.parse().context("installation id must be a number")?,
                org,
            );
        }
        cfg = cfg.with_app(app);
    }
    Ok(cfg)
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cfg = match config(&args) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("github-sim: {e:#}");
            std::process::exit(1);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let sim = GithubSim::start(cfg)
        .await
        .context("failed to start the GitHub simulator")?;
    println!("github-sim listening on {}", sim.api_url());
    wait_for_signal().await;
    sim.shutdown().await;
    Ok(())
}
