//! Stream entries as read from Redis, and dead-letter records.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use orch_contracts::envelope::Header;
use redis::Value;
use redis::streams::StreamId;

use crate::error::BusError;

/// One stream entry, not yet decoded into a message.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEntry {
    /// The Redis entry id (`<ms>-<seq>`).
    pub id: String,
    /// The entry's fields; values that were not UTF-8 are kept lossily and `malformed` says so.
    pub fields: HashMap<String, String>,
    /// How many times the group delivered this entry, this delivery included.
    pub deliveries: u64,
    /// Why the entry cannot be a message at all, when that is already known.
    pub malformed: Option<String>,
}

impl RawEntry {
    pub(crate) fn from_stream_id(entry: StreamId, deliveries: u64) -> Self {
        let mut fields = HashMap::with_capacity(entry.map.len());
        let mut malformed = None;
        for (name, value) in entry.map {
            match value_to_string(value) {
                Ok(text) => fields.insert(name, text),
                Err(lossy) => {
                    malformed = Some(format!("field `{name}` is not UTF-8 text"));
                    fields.insert(name, lossy)
                }
            };
        }
        Self {
            id: entry.id,
            fields,
            deliveries,
            malformed,
        }
    }

    /// Returns the declared message type and event id, when readable.
    pub fn header(&self) -> Option<Header<'_>> {
        Header::from_fields(&self.fields).ok()
    }
}

fn value_to_string(value: Value) -> Result<String, String> {
    match value {
        Value::BulkString(bytes) => {
            String::from_utf8(bytes).map_err(|e| String::from_utf8_lossy(e.as_bytes()).into())
        }
        Value::SimpleString(s) => Ok(s),
        Value::Int(n) => Ok(n.to_string()),
        other => Err(format!("{other:?}")),
    }
}

/// A record on a dead-letter stream: the original entry and why it was given up on.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The id of this record on the dead-letter stream.
    pub dlq_id: String,
    /// The stream the entry came from.
    pub stream: String,
    /// The consumer group that gave up.
    pub group: String,
    /// The original entry id.
    pub entry_id: String,
    /// The original event id, when readable.
    pub event_id: Option<String>,
    /// How many deliveries were attempted.
    pub deliveries: u64,
    /// Why the entry was given up on.
    pub reason: String,
    /// The consumer that moved it.
    pub consumer: String,
    /// When it was moved.
    pub dead_at: Option<DateTime<Utc>>,
    /// The original fields, unchanged, so the entry can be replayed.
    pub fields: HashMap<String, String>,
}

impl DeadLetter {
    pub(crate) fn fields_for(
        entry: &RawEntry,
        stream: &str,
        group: &str,
        consumer: &str,
        reason: &str,
    ) -> Vec<(&'static str, String)> {
        let original = serde_json::to_string(&entry.fields).unwrap_or_else(|_| "{}".into());
        let mut out = vec![
            ("stream", stream.to_owned()),
            ("group", group.to_owned()),
            ("entry_id", entry.id.clone()),
            ("deliveries", entry.deliveries.to_string()),
            ("reason", reason.to_owned()),
            ("consumer", consumer.to_owned()),
            ("dead_at", Utc::now().to_rfc3339()),
            ("fields", original),
        ];
        if let Some(header) = entry.header() {
            out.push(("event_id", header.event_id.to_string()));
        }
        out
    }

    pub(crate) fn parse(key: &str, raw: RawEntry) -> Result<Self, BusError> {
        let malformed = |reason: String| BusError::MalformedEntry {
            key: key.to_owned(),
            id: raw.id.clone(),
            reason,
        };
        let get = |name: &str| raw.fields.get(name).cloned().unwrap_or_default();
        let fields =
            serde_json::from_str(&get("fields")).map_err(|e| malformed(format!("fields: {e}")))?;
        Ok(Self {
            dlq_id: raw.id.clone(),
            stream: get("stream"),
            group: get("group"),
            entry_id: get("entry_id"),
            event_id: raw.fields.get("event_id").cloned(),
            deliveries: get("deliveries").parse().unwrap_or_default(),
            reason: get("reason"),
            consumer: get("consumer"),
            dead_at: DateTime::parse_from_rfc3339(&get("dead_at"))
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            fields,
        })
    }
}
