//! The PostgreSQL system of record: the schema (`migrations/` at the workspace root) and typed repositories.
//!
//! # Overview
//! [`Store`] wraps a connection pool. Repositories are free functions grouped by table that take any
//! executor, so a consumer can apply its effect, record the event in the [`inbox`] and append to the [`audit`]
//! log in one transaction.
//!
//! Queries are checked at compile time against the committed `.sqlx/` cache (no database needed to build).
//!
//! # Layout
//! - [`inbox`]: exactly-once effects for at-least-once consumers.
//! - [`audit`]: the append-only audit log.
//! - [`chat_refs`]: named chat messages (progress messages that get edited).
//! - [`users`], [`projects`]: people and their projects.
//! - [`usage`]: LLM and worker usage, and spend per project.
//! - [`model_configs`]: the LLM configuration per role.
//! - [`outbox`]: messages written with the state change that causes them, published afterwards.

pub mod audit;
pub mod budget_alerts;
pub mod chat_refs;
pub mod inbox;
pub mod model_configs;
pub mod outbox;
pub mod projects;
pub mod usage;
pub mod users;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
pub use sqlx::{PgPool, Postgres, Transaction};

/// The embedded migrations of the whole system.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL does not parse.
    #[error("invalid database url: {0}")]
    Url(#[source] sqlx::Error),
    /// The database could not be reached or refused a query.
    #[error("database error while {action}: {source}")]
    Database {
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        #[source]
        source: sqlx::Error,
    },
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A message to queue does not satisfy its contract.
    #[error(transparent)]
    Contract(#[from] orch_contracts::ContractError),
    /// A queued outbox message is not a flat object of strings.
    #[error("outbox message {id} is not a flat object of string fields")]
    MalformedOutbox {
        /// The outbox row.
        id: i64,
    },
}

impl StoreError {
    pub(crate) fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Database { action, source }
    }
}

/// A handle on the database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    /// Builds a pool for `url`; connections open lazily, so a database that is down fails the first query,
    /// not startup (readiness reports it).
    pub fn connect_lazy(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse().map_err(StoreError::Url)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options);
        Ok(Self { pool })
    }

    /// Wraps an existing pool (tests).
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Returns the pool, for repositories and transactions.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies every migration not yet applied.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query_scalar!("SELECT 1 AS \"one!\"")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::db("pinging"))?;
        Ok(())
    }

    /// Starts a transaction.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool
            .begin()
            .await
            .map_err(StoreError::db("starting a transaction"))
    }
}
