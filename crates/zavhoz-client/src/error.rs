//! What a zavhoz call can fail with, classified for the caller: a refusal (platform state), a rejected
//! call (fix the request or the credentials), or zavhoz being down or broken (retry later).

use tonic::Code;
use tonic_types::StatusExt;

use crate::refusal::{ERROR_DOMAIN, Refusal};

/// Why a zavhoz call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Zavhoz refused for a platform-state reason; tell the person, and wait if [`Refusal::may_clear_later`].
    #[error("zavhoz refused ({refusal}): {message}")]
    Refused {
        /// The typed reason.
        refusal: Refusal,
        /// The gRPC status code.
        code: Code,
        /// Zavhoz's message.
        message: String,
    },
    /// The call was rejected: invalid argument, unknown resource, missing or wrong credentials, not allowed.
    #[error("zavhoz rejected the call ({code:?}): {message}")]
    Rejected {
        /// The gRPC status code.
        code: Code,
        /// Zavhoz's message.
        message: String,
    },
    /// Zavhoz could not be reached or is not ready; retry later.
    #[error("zavhoz is unavailable: {message}")]
    Unavailable {
        /// What happened.
        message: String,
    },
    /// Zavhoz failed internally (its own fault, e.g. its database or the audit log); retry later.
    #[error("zavhoz failed ({code:?}): {message}")]
    Server {
        /// The gRPC status code.
        code: Code,
        /// Zavhoz's message.
        message: String,
    },
    /// The client configuration is unusable (bad URL, empty or non-ASCII token).
    #[error("invalid zavhoz client configuration: {0}")]
    Config(String),
}

impl ClientError {
    /// Returns the gRPC status code, when the error came from zavhoz.
    pub fn code(&self) -> Option<Code> {
        match self {
            Self::Refused { code, .. }
            | Self::Rejected { code, .. }
            | Self::Server { code, .. } => Some(*code),
            Self::Unavailable { .. } => Some(Code::Unavailable),
            Self::Config(_) => None,
        }
    }

    /// Returns the refusal reason, if this is a refusal.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            Self::Refused { refusal, .. } => Some(*refusal),
            _ => None,
        }
    }
}

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> Self {
        let message = status.message().to_owned();
        let code = status.code();
        if let Some(refusal) = refusal_of(&status) {
            return Self::Refused {
                refusal,
                code,
                message,
            };
        }
        match code {
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                Self::Unavailable { message }
            }
            Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::PermissionDenied
            | Code::Unauthenticated
            | Code::FailedPrecondition
            | Code::OutOfRange
            | Code::ResourceExhausted => Self::Rejected { code, message },
            _ => Self::Server { code, message },
        }
    }
}

impl From<tonic::transport::Error> for ClientError {
    fn from(error: tonic::transport::Error) -> Self {
        Self::Unavailable {
            message: error.to_string(),
        }
    }
}

fn refusal_of(status: &tonic::Status) -> Option<Refusal> {
    let details = status.get_error_details();
    let info = details.error_info()?;
    if info.domain != ERROR_DOMAIN {
        return None;
    }
    Refusal::from_reason(&info.reason)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use tonic_types::ErrorDetails;

    use super::*;

    #[test]
    fn an_error_info_detail_becomes_a_typed_refusal() {
        let details = ErrorDetails::with_error_info("NO_PORT_FREE", ERROR_DOMAIN, HashMap::new());
        let status =
            tonic::Status::with_error_details(Code::ResourceExhausted, "no port free", details);
        let error = ClientError::from(status);
        assert_eq!(error.refusal(), Some(Refusal::NoPortFree));
        assert_eq!(error.code(), Some(Code::ResourceExhausted));
    }

    #[test]
    fn plain_statuses_are_classified() {
        let rejected = ClientError::from(tonic::Status::permission_denied("no"));
        assert!(matches!(
            rejected,
            ClientError::Rejected {
                code: Code::PermissionDenied,
                ..
            }
        ));
        let down = ClientError::from(tonic::Status::unavailable("down"));
        assert!(matches!(down, ClientError::Unavailable { .. }));
        let internal = ClientError::from(tonic::Status::internal("db"));
        assert!(matches!(internal, ClientError::Server { .. }));
        let foreign = tonic::Status::with_error_details(
            Code::ResourceExhausted,
            "x",
            ErrorDetails::with_error_info("NO_PORT_FREE", "other.domain", HashMap::new()),
        );
        assert_eq!(ClientError::from(foreign).refusal(), None);
    }
}
