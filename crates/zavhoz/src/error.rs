//! Zavhoz's error boundary: [`ZavhozError`] says what went wrong, [`ErrorCode`] classifies it once for both
//! gRPC and HTTP. A database or audit failure is always the server's fault (INTERNAL / UNAVAILABLE), never a
//! client error; refusals carry a typed [`Refusal`] as a `google.rpc.ErrorInfo` detail.

use std::collections::HashMap;

use orch_store::StoreError;
use orch_zavhoz_client::{ERROR_DOMAIN, Refusal};
use tonic_types::{ErrorDetails, StatusExt};
use tracing::error;

use crate::config::CallerIdentity;
use crate::secrets::SecretsError;

/// The classification of every error zavhoz returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request is malformed.
    InvalidArgument,
    /// No or wrong credentials.
    Unauthenticated,
    /// Authenticated, but this caller may not do this.
    PermissionDenied,
    /// No such thing (or it belongs to someone else).
    NotFound,
    /// The name or idempotency key is already in use.
    AlreadyExists,
    /// The platform is not in a state that allows it (lease ran out, handle used, not configured).
    FailedPrecondition,
    /// Capacity or quota is used up.
    ResourceExhausted,
    /// A dependency (the database) is unreachable; retry.
    Unavailable,
    /// Zavhoz's own fault.
    Internal,
}

impl ErrorCode {
    /// The gRPC status code.
    pub fn grpc(self) -> tonic::Code {
        match self {
            Self::InvalidArgument => tonic::Code::InvalidArgument,
            Self::Unauthenticated => tonic::Code::Unauthenticated,
            Self::PermissionDenied => tonic::Code::PermissionDenied,
            Self::NotFound => tonic::Code::NotFound,
            Self::AlreadyExists => tonic::Code::AlreadyExists,
            Self::FailedPrecondition => tonic::Code::FailedPrecondition,
            Self::ResourceExhausted => tonic::Code::ResourceExhausted,
            Self::Unavailable => tonic::Code::Unavailable,
            Self::Internal => tonic::Code::Internal,
        }
    }

    /// The HTTP status code (for a future REST face).
    pub fn http(self) -> u16 {
        match self {
            Self::InvalidArgument => 400,
            Self::Unauthenticated => 401,
            Self::PermissionDenied => 403,
            Self::NotFound => 404,
            Self::AlreadyExists => 409,
            Self::FailedPrecondition => 412,
            Self::ResourceExhausted => 429,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }

    fn is_server_fault(self) -> bool {
        matches!(self, Self::Unavailable | Self::Internal)
    }
}

/// Why a zavhoz operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ZavhozError {
    /// A request field is invalid.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The credentials are missing or wrong.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The caller may not do this.
    #[error("{caller} may not {action}")]
    Forbidden {
        /// Who asked.
        caller: CallerIdentity,
        /// What they asked for.
        action: &'static str,
    },
    /// Not found, or not the acting person's.
    #[error("{what} not found")]
    NotFound {
        /// What was looked up.
        what: &'static str,
    },
    /// A platform-state refusal.
    #[error("{message}")]
    Refused {
        /// The typed reason.
        refusal: Refusal,
        /// A message for the person.
        message: String,
    },
    /// A database query failed.
    #[error("database error while {action}")]
    Database {
        /// What was being done.
        action: &'static str,
        /// The cause.
        #[source]
        source: sqlx::Error,
    },
    /// A store repository failed.
    #[error("store error")]
    Store(#[from] StoreError),
    /// The audit record could not be written, so the operation was rolled back (fail closed).
    #[error("the audit log could not be written; nothing was done")]
    Audit {
        /// The cause.
        #[source]
        source: StoreError,
    },
    /// The secret store failed.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

impl ZavhozError {
    /// A closure mapping a sqlx error, for `map_err`.
    pub fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |source| Self::Database { action, source }
    }

    /// Builds a refusal.
    pub fn refused(refusal: Refusal, message: impl Into<String>) -> Self {
        Self::Refused {
            refusal,
            message: message.into(),
        }
    }

    /// Builds an invalid-argument error.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// Classifies the error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid { .. } => ErrorCode::InvalidArgument,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Forbidden { .. } => ErrorCode::PermissionDenied,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Refused { refusal, .. } => refusal_code(*refusal),
            Self::Database { source, .. } => database_code(source),
            Self::Store(StoreError::Database { source, .. }) => database_code(source),
            Self::Store(_) | Self::Audit { .. } => ErrorCode::Internal,
            Self::Secrets(e) => e.code(),
        }
    }
}

fn refusal_code(refusal: Refusal) -> ErrorCode {
    match refusal {
        Refusal::NoPortFree | Refusal::NoServerFree | Refusal::QuotaExceeded => {
            ErrorCode::ResourceExhausted
        }
        Refusal::NameTaken | Refusal::IdempotencyConflict => ErrorCode::AlreadyExists,
        Refusal::LeaseExpired
        | Refusal::HandleRedeemed
        | Refusal::HandleExpired
        | Refusal::HandleRevoked
        | Refusal::SecretMissing
        | Refusal::NotConfigured => ErrorCode::FailedPrecondition,
    }
}

fn database_code(error: &sqlx::Error) -> ErrorCode {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            ErrorCode::Unavailable
        }
        _ => ErrorCode::Internal,
    }
}

impl From<ZavhozError> for tonic::Status {
    fn from(error: ZavhozError) -> Self {
        let code = error.code();
        if code.is_server_fault() {
            // Logged once here, at the boundary; the client gets no internals.
            error!(error.cause_chain = ?error, code = ?code, "request failed");
            let message = match code {
                ErrorCode::Unavailable => "zavhoz's database is unavailable; retry later",
                _ => "internal error in zavhoz; nothing was handed out",
            };
            return tonic::Status::new(code.grpc(), message);
        }
        let message = error.to_string();
        match &error {
            ZavhozError::Refused { refusal, .. } => {
                let details =
                    ErrorDetails::with_error_info(refusal.reason(), ERROR_DOMAIN, HashMap::new());
                tonic::Status::with_error_details(code.grpc(), message, details)
            }
            _ => tonic::Status::new(code.grpc(), message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_error_is_never_a_client_error() {
        let timed_out = ZavhozError::db("x")(sqlx::Error::PoolTimedOut);
        assert_eq!(timed_out.code(), ErrorCode::Unavailable);
        let other = ZavhozError::db("x")(sqlx::Error::RowNotFound);
        assert_eq!(other.code(), ErrorCode::Internal);
        let status = tonic::Status::from(other);
        assert_eq!(status.code(), tonic::Code::Internal);
        assert!(!status.message().contains("RowNotFound"));
    }

    #[test]
    fn refusals_carry_their_reason() {
        let status = tonic::Status::from(ZavhozError::refused(Refusal::NoPortFree, "no port free"));
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        let info = status
            .get_error_details()
            .error_info()
            .cloned()
            .expect("info");
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("NO_PORT_FREE", ERROR_DOMAIN)
        );
        assert_eq!(ErrorCode::ResourceExhausted.http(), 429);
        assert_eq!(
            refusal_code(Refusal::HandleRedeemed),
            ErrorCode::FailedPrecondition
        );
    }
}
