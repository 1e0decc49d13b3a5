//! A fresh, migrated PostgreSQL database per test, so tests never share state (or migration history) with
//! each other or with a developer's database.
//!
//! The server is the one `DATABASE_URL` points at (default: the role `scripts/infra-up.sh` creates, which has
//! `CREATEDB`). Drop the database with [`TestDatabase::drop_database`]; one a panicking test leaves behind is
//! named `test_<uuid>` and harmless.

use sqlx::{Connection, PgConnection, PgPool};

/// The default server URL, as `scripts/infra-up.sh` sets it up.
pub const DEFAULT_DATABASE_URL: &str =
    "postgres://orchestrator:orchestrator@127.0.0.1:5432/orchestrator";

/// Returns `DATABASE_URL` or the default.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.into())
}

/// Why a test database could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TestDbError {
    /// The server refused or is unreachable.
    #[error("test database: {0} (is PostgreSQL running? scripts/infra-up.sh starts it)")]
    Sql(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("test database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The server URL has no database path to replace.
    #[error("DATABASE_URL `{0}` has no database name")]
    Url(String),
}

/// A database created for one test.
pub struct TestDatabase {
    /// Its URL (give it to processes under test).
    pub url: String,
    /// A pool on it.
    pub pool: PgPool,
    name: String,
}

impl TestDatabase {
    /// Creates `test_<uuid>` on the server and applies every migration.
    pub async fn create() -> Result<Self, TestDbError> {
        let server = server_url();
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&server).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        let base = server
            .rsplit_once('/')
            .map(|(base, _)| base)
            .ok_or_else(|| TestDbError::Url(server.clone()))?;
        let url = format!("{base}/{name}");
        let pool = PgPool::connect(&url).await?;
        orch_store::MIGRATOR.run(&pool).await?;
        Ok(Self { url, pool, name })
    }

    /// Closes the pool and drops the database (forcing out other connections, including ones a test still
    /// holds: closing waits at most a second for them).
    pub async fn drop_database(self) {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.pool.close()).await;
        if let Ok(mut admin) = PgConnection::connect(&server_url()).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await;
        }
    }
}
