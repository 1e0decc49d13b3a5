//! The `main` of every service: parse flags, load settings, start telemetry, build, run until a signal, drain.

use std::fmt::Debug;
use std::future::Future;
use std::process::ExitCode;

use clap::Parser;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::config::Settings;
use crate::shutdown;

/// A service binary: its settings section, how to build it and how to run it.
pub trait Service: Sized {
    /// The binary and service name (`graph-runner`).
    const NAME: &'static str;
    /// The prefix of its environment section (`GRAPH_RUNNER` for `GRAPH_RUNNER__HTTP_LISTEN`).
    const ENV_PREFIX: &'static str;
    /// Its own settings section: `#[serde(default, deny_unknown_fields)]` with a `Default` impl.
    type Config: DeserializeOwned + Debug;

    /// Connects to what the service needs and binds its listeners, so misconfiguration fails fast.
    fn build(settings: Settings<Self::Config>) -> impl Future<Output = anyhow::Result<Self>>;

    /// Runs until `shutdown` is cancelled, then stops intake, finishes in-flight work and returns.
    fn run_until_stopped(
        self,
        shutdown: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>>;
}

#[derive(Parser)]
struct Args {
    /// Print the effective configuration (secrets redacted) and exit.
    #[arg(long)]
    dump_config: bool,
}

/// Runs service `S` as the whole process; returns the exit code.
pub fn run<S: Service>() -> ExitCode {
    let args = Args::parse();
    let settings = match Settings::<S::Config>::load(S::ENV_PREFIX) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{}: {e}", S::NAME);
            return ExitCode::FAILURE;
        }
    };
    if args.dump_config {
        println!("{settings:#?}");
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{}: cannot start the async runtime: {e}", S::NAME);
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve::<S>(settings))
}

async fn serve<S: Service>(settings: Settings<S::Config>) -> ExitCode {
    let _telemetry = match orch_telemetry::init(&settings.common.telemetry(S::NAME)) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("{}: {e}", S::NAME);
            return ExitCode::FAILURE;
        }
    };
    match build_and_run::<S>(settings).await {
        Ok(()) => {
            info!(service = S::NAME, "stopped cleanly");
            ExitCode::SUCCESS
        }
        Err(e) => {
            error!(service = S::NAME, error.cause_chain = ?e, "service failed");
            ExitCode::FAILURE
        }
    }
}

async fn build_and_run<S: Service>(settings: Settings<S::Config>) -> anyhow::Result<()> {
    let shutdown = shutdown::on_signals()?;
    let app = S::build(settings).await?;
    info!(service = S::NAME, "started");
    app.run_until_stopped(shutdown).await
}
