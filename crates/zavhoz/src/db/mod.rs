//! Zavhoz's SQL, checked at compile time against the committed `.sqlx/` cache. Functions take a
//! connection so the caller composes them into one transaction with the audit record.

pub mod handles;
pub mod resources;
pub mod user_secrets;
pub mod users;

/// A resource kind as stored (`resource_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "resource_kind", rename_all = "snake_case")]
pub enum Kind {
    /// A port on a server.
    Port,
    /// A whole server.
    Server,
    /// A subdomain.
    Domain,
    /// A repository name.
    Repository,
    /// A secret handle.
    Secret,
    /// LLM spend.
    LlmBudget,
}

impl Kind {
    /// The stored name (`llm_budget`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Port => "port",
            Self::Server => "server",
            Self::Domain => "domain",
            Self::Repository => "repository",
            Self::Secret => "secret",
            Self::LlmBudget => "llm_budget",
        }
    }
}

/// Takes a transaction-scoped advisory lock on `key`, serializing allocations that pick from a shared pool
/// (across zavhoz replicas too).
pub async fn lock_pool(conn: &mut sqlx::PgConnection, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
        .execute(conn)
        .await?;
    Ok(())
}
