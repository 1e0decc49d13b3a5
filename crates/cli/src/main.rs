//! `orchestrator`: the operator's command line.
//!
//! - `orchestrator migrate` applies the database migrations.
//! - `orchestrator status` asks the api whether every dependency is ready.
//! - `orchestrator dlq list STREAM` shows dead-lettered entries; `orchestrator dlq replay STREAM ID|--all` puts
//!   them back on their stream once the cause is fixed.

mod commands;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    let cli = commands::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("orchestrator: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("orchestrator: {e:#}");
            ExitCode::FAILURE
        }
    }
}
