//! Errors of the bus.

use orch_contracts::ContractError;

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Redis could not be reached or refused the command.
    #[error("redis command `{command}` on `{key}` failed: {source}")]
    Redis {
        /// The command (`XADD`, `XREADGROUP`, …).
        command: &'static str,
        /// The key it was about.
        key: String,
        /// The underlying error.
        #[source]
        source: redis::RedisError,
    },
    /// No connection could be taken from the pool.
    #[error("no redis connection available: {0}")]
    Pool(#[from] deadpool_redis::PoolError),
    /// The pool could not be built (bad URL).
    #[error("invalid redis configuration: {0}")]
    Config(String),
    /// The message does not satisfy its contract.
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// An entry read from Redis is not a flat map of UTF-8 strings.
    #[error("entry {id} on `{key}` is malformed: {reason}")]
    MalformedEntry {
        /// The stream.
        key: String,
        /// The entry id.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

impl BusError {
    pub(crate) fn redis<'a>(
        command: &'static str,
        key: &'a str,
    ) -> impl FnOnce(redis::RedisError) -> BusError + 'a {
        move |source| BusError::Redis {
            command,
            key: key.to_owned(),
            source,
        }
    }

    /// Returns true when the error says the consumer group does not exist (e.g. after Redis lost its data).
    pub fn is_missing_group(&self) -> bool {
        matches!(self, BusError::Redis { source, .. } if source.code() == Some("NOGROUP"))
    }
}
