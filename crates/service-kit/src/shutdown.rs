//! Turns SIGINT/SIGTERM into a cancellation token; a second signal exits immediately.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Exit code used when a second signal cuts a graceful shutdown short.
pub const FORCED_EXIT_CODE: i32 = 130;

/// Returns a token cancelled on the first SIGINT or SIGTERM; the second one exits the process at once.
pub fn on_signals() -> std::io::Result<CancellationToken> {
    let token = CancellationToken::new();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => info!(signal = "SIGTERM", "shutting down gracefully"),
            _ = int.recv() => info!(signal = "SIGINT", "shutting down gracefully"),
        }
        cancel.cancel();
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        warn!("second signal: exiting without waiting for in-flight work");
        std::process::exit(FORCED_EXIT_CODE);
    });
    Ok(token)
}
