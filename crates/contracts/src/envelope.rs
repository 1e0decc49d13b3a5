//! The envelope every message travels in, and its wire form as Redis stream fields.
//!
//! Wire fields: `type`, `v`, `event_id`, `run_id` (optional), `created_at` (RFC 3339) and `body` (JSON).
//! Writing validates the body; reading checks type and version, parses the body strictly (unknown fields are
//! refused) and validates it again.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ContractError;
use crate::ids::{EventId, RunId};
use crate::validate::Violations;

/// A message type that may travel on a stream.
pub trait Contract: Serialize + DeserializeOwned {
    /// The wire `type` tag, e.g. `worker.spawn`.
    const TYPE: &'static str;
    /// The schema version this build writes and reads.
    const VERSION: u16;

    /// Checks the rules a valid value obeys beyond its shape.
    fn validate(&self) -> Result<(), Violations>;
}

/// The wire form of a message: ordered `(field, value)` pairs for `XADD`.
pub type WireFields = Vec<(&'static str, String)>;

/// A message with its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<M> {
    /// The idempotency key of every consumer of this message.
    pub event_id: EventId,
    /// The run this message belongs to, when it belongs to one.
    pub run_id: Option<RunId>,
    /// When the producer created the message.
    pub created_at: DateTime<Utc>,
    /// The message itself.
    pub body: M,
}

impl<M: Contract> Envelope<M> {
    /// Wraps `body` with a fresh event id.
    pub fn new(body: M) -> Self {
        Self {
            event_id: EventId::new(),
            run_id: None,
            created_at: Utc::now(),
            body,
        }
    }

    /// Sets the run id (builder style).
    pub fn with_run(mut self, run_id: RunId) -> Self {
        self.run_id = Some(run_id);
        self
    }

    /// Sets the event id (builder style), for producers that derive it from their own idempotency key.
    pub fn with_event_id(mut self, event_id: EventId) -> Self {
        self.event_id = event_id;
        self
    }

    /// Validates the body and renders the wire fields.
    pub fn to_fields(&self) -> Result<WireFields, ContractError> {
        validate(&self.body)?;
        let body =
            serde_json::to_string(&self.body).map_err(|source| ContractError::MalformedBody {
                message_type: M::TYPE,
                source,
            })?;
        let mut fields = vec![
            ("type", M::TYPE.to_owned()),
            ("v", M::VERSION.to_string()),
            ("event_id", self.event_id.to_string()),
            ("created_at", self.created_at.to_rfc3339()),
        ];
        if let Some(run_id) = self.run_id {
            fields.push(("run_id", run_id.to_string()));
        }
        fields.push(("body", body));
        Ok(fields)
    }

    /// Parses and validates a message read from the wire.
    pub fn from_fields(fields: &HashMap<String, String>) -> Result<Self, ContractError> {
        let header = Header::from_fields(fields)?;
        if header.message_type != M::TYPE {
            return Err(ContractError::UnknownType {
                expected: M::TYPE,
                found: header.message_type.to_owned(),
            });
        }
        check_version::<M>(required(fields, "v")?)?;
        let body: M = serde_json::from_str(required(fields, "body")?).map_err(|source| {
            ContractError::MalformedBody {
                message_type: M::TYPE,
                source,
            }
        })?;
        validate(&body)?;
        Ok(Self {
            event_id: header.event_id,
            run_id: parse_optional(fields, "run_id")?,
            created_at: parse_time(required(fields, "created_at")?)?,
            body,
        })
    }
}

/// The type-independent part of an envelope, readable even when the body is not.
#[derive(Debug, Clone, PartialEq)]
pub struct Header<'a> {
    /// The declared message type.
    pub message_type: &'a str,
    /// The declared event id.
    pub event_id: EventId,
}

impl<'a> Header<'a> {
    /// Reads the type and event id, e.g. to label a dead-lettered entry.
    pub fn from_fields(fields: &'a HashMap<String, String>) -> Result<Self, ContractError> {
        let message_type = required(fields, "type")?;
        let event_id = required(fields, "event_id")?
            .parse()
            .map_err(|e: uuid::Error| ContractError::MalformedField {
                field: "event_id",
                reason: e.to_string(),
            })?;
        Ok(Self {
            message_type,
            event_id,
        })
    }
}

fn validate<M: Contract>(body: &M) -> Result<(), ContractError> {
    body.validate()
        .map_err(|violations| ContractError::Invalid {
            message_type: M::TYPE,
            violations,
        })
}

fn required<'a>(
    fields: &'a HashMap<String, String>,
    field: &'static str,
) -> Result<&'a str, ContractError> {
    fields
        .get(field)
        .map(String::as_str)
        .ok_or(ContractError::MissingField { field })
}

fn check_version<M: Contract>(raw: &str) -> Result<(), ContractError> {
    match raw.parse::<u16>() {
        Ok(v) if v == M::VERSION => Ok(()),
        _ => Err(ContractError::UnsupportedVersion {
            message_type: M::TYPE,
            found: raw.to_owned(),
            supported: M::VERSION,
        }),
    }
}

fn parse_optional(
    fields: &HashMap<String, String>,
    field: &'static str,
) -> Result<Option<RunId>, ContractError> {
    fields
        .get(field)
        .map(|raw| {
            raw.parse()
                .map_err(|e: uuid::Error| ContractError::MalformedField {
                    field,
                    reason: e.to_string(),
                })
        })
        .transpose()
}

fn parse_time(raw: &str) -> Result<DateTime<Utc>, ContractError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| ContractError::MalformedField {
            field: "created_at",
            reason: e.to_string(),
        })
}
