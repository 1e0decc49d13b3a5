//! Connecting to the shared infrastructure from the common settings.

use anyhow::Context;
use orch_bus::Bus;
use orch_store::Store;
use secrecy::ExposeSecret;
use tracing::info;

use crate::config::CommonSettings;

/// Connects to PostgreSQL (lazily) and applies migrations when `RUN_MIGRATIONS` is set.
pub async fn store(common: &CommonSettings, max_connections: u32) -> anyhow::Result<Store> {
    let url = common.require_database_url()?;
    let store = Store::connect_lazy(url.expose_secret(), max_connections)?;
    if common.run_migrations {
        store
            .migrate()
            .await
            .context("failed to apply database migrations")?;
        info!("database migrations applied");
    }
    Ok(store)
}

/// Builds the Redis bus (connections open lazily and reopen after a Redis restart).
pub fn bus(common: &CommonSettings) -> anyhow::Result<Bus> {
    let url = common.require_redis_url()?;
    Ok(Bus::connect(url.expose_secret(), common.bus_config())?)
}

/// Returns a consumer name unique to this process: `<service>-<host>-<pid>`.
pub fn consumer_name(service: &str) -> String {
    let host =
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "host".into());
    format!("{service}-{}-{}", host.trim(), std::process::id())
}
