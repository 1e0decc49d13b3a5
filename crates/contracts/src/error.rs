//! The one error type of this crate: why a message could not be written or read.

use crate::validate::Violations;

/// Explains why a message was refused on write or on read.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// A wire field the envelope needs is absent.
    #[error("message has no `{field}` field")]
    MissingField {
        /// The absent field.
        field: &'static str,
    },
    /// The message declares a type other than the one this stream carries.
    #[error("unexpected message type `{found}` (this stream carries `{expected}`)")]
    UnknownType {
        /// The type this reader accepts.
        expected: &'static str,
        /// The type the message declares.
        found: String,
    },
    /// The message declares a schema version this build does not read.
    #[error(
        "unsupported version {found} of `{message_type}` (this build reads version {supported})"
    )]
    UnsupportedVersion {
        /// The message type.
        message_type: &'static str,
        /// The version found on the wire.
        found: String,
        /// The version this build reads.
        supported: u16,
    },
    /// An envelope field holds a value of the wrong shape (e.g. an event id that is not a UUID).
    #[error("field `{field}` is malformed: {reason}")]
    MalformedField {
        /// The malformed field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The body is not JSON of the declared type.
    #[error("body of `{message_type}` does not match its schema: {source}")]
    MalformedBody {
        /// The message type.
        message_type: &'static str,
        /// The JSON error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// The body parsed but breaks the type's rules.
    #[error("invalid `{message_type}`: {violations}")]
    Invalid {
        /// The message type.
        message_type: &'static str,
        /// Every rule the body breaks.
        violations: Violations,
    },
}
