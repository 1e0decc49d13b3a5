//! The top-level `sops` block: key stanzas, `lastmodified`, the encrypted MAC, the encryption rule, version.

use crate::codec::{go_float, go_rfc3339, parse_rfc3339};
use crate::error::ParseError;
use crate::keys::AgeStanza;
use crate::value::{List, Map, Value};
use crate::walk::EncryptionRule;

/// The sops version written into new files (real sops refuses files without one).
pub const SOPS_VERSION: &str = "3.11.0";

/// Key sources other than age, which this crate can carry but not use.
const FOREIGN_SOURCES: [&str; 5] = ["kms", "gcp_kms", "azure_kv", "hc_vault", "pgp"];
const RULE_KEYS: [&str; 4] = [
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
];

#[derive(Clone, Debug)]
pub(crate) struct Metadata {
    pub(crate) age: Vec<AgeStanza>,
    pub(crate) lastmodified: String,
    pub(crate) mac: String,
    pub(crate) rule: EncryptionRule,
    pub(crate) mac_only_encrypted: bool,
    pub(crate) version: String,
    pub(crate) foreign_sources: Vec<&'static str>,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ParseError {
    ParseError::Metadata {
        field,
        reason: reason.into(),
    }
}

fn string_field(map: &Map, field: &'static str) -> Result<Option<String>, ParseError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(text)) => Ok(Some(text.expose().to_owned())),
        Some(Value::Float(f)) => Ok(Some(go_float(*f))),
        Some(Value::Int(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(invalid(
            field,
            format!("expected a string, found a {}", other.kind()),
        )),
    }
}

fn is_present(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::List(list)) => !list.is_empty(),
        Some(Value::Map(map)) => !map.is_empty(),
        Some(Value::Str(s)) => !s.expose().is_empty(),
        Some(_) => true,
    }
}

impl Metadata {
    /// Reads the `sops` block.
    pub(crate) fn from_value(value: &Value) -> Result<Self, ParseError> {
        let Value::Map(map) = value else {
            return Err(invalid(
                "sops",
                format!("expected a map, found a {}", value.kind()),
            ));
        };
        if is_present(map.get("key_groups")) {
            return Err(invalid(
                "key_groups",
                "key groups (shamir secret sharing) are not supported",
            ));
        }
        let lastmodified =
            string_field(map, "lastmodified")?.ok_or_else(|| invalid("lastmodified", "missing"))?;
        if parse_rfc3339(&lastmodified).is_none() {
            return Err(invalid("lastmodified", "not an RFC3339 timestamp"));
        }
        Ok(Self {
            age: age_stanzas(map.get("age"))?,
            mac: string_field(map, "mac")?.ok_or_else(|| invalid("mac", "missing"))?,
            lastmodified,
            rule: rule(map)?,
            mac_only_encrypted: match map.get("mac_only_encrypted") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(invalid("mac_only_encrypted", "expected a bool")),
            },
            version: string_field(map, "version")?.unwrap_or_default(),
            foreign_sources: FOREIGN_SOURCES
                .into_iter()
                .filter(|key| is_present(map.get(key)))
                .collect(),
        })
    }

    /// The MAC's AAD: `lastmodified` re-formatted as Go's RFC3339, as sops does.
    pub(crate) fn mac_aad(&self) -> String {
        parse_rfc3339(&self.lastmodified)
            .map_or_else(|| self.lastmodified.clone(), |t| go_rfc3339(&t))
    }

    /// Builds the `sops` block in sops's field order.
    pub(crate) fn to_value(&self) -> Value {
        let mut map = Map::new();
        let stanzas: List = self
            .age
            .iter()
            .map(|stanza| {
                let mut entry = Map::new();
                entry.insert("recipient", Value::from(stanza.recipient.as_str()));
                entry.insert("enc", Value::from(stanza.enc.as_str()));
                Value::Map(entry)
            })
            .collect();
        map.insert("age", Value::List(stanzas));
        map.insert("lastmodified", Value::from(self.lastmodified.as_str()));
        map.insert("mac", Value::from(self.mac.as_str()));
        map.insert(self.rule.metadata_key(), Value::from(self.rule.pattern()));
        if self.mac_only_encrypted {
            map.insert("mac_only_encrypted", Value::Bool(true));
        }
        map.insert("version", Value::from(self.version.as_str()));
        Value::Map(map)
    }
}

fn age_stanzas(value: Option<&Value>) -> Result<Vec<AgeStanza>, ParseError> {
    let list = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::List(list)) => list,
        Some(_) => return Err(invalid("age", "expected a list")),
    };
    list.values()
        .map(|entry| {
            let Value::Map(map) = entry else {
                return Err(invalid("age", "expected a list of maps"));
            };
            let recipient = string_field(map, "recipient")?
                .ok_or_else(|| invalid("age", "an entry has no recipient"))?;
            let enc =
                string_field(map, "enc")?.ok_or_else(|| invalid("age", "an entry has no enc"))?;
            Ok(AgeStanza { recipient, enc })
        })
        .collect()
}

/// Reads the single encryption rule; none means the default `_unencrypted` suffix.
fn rule(map: &Map) -> Result<EncryptionRule, ParseError> {
    for comment_rule in ["unencrypted_comment_regex", "encrypted_comment_regex"] {
        if is_present(map.get(comment_rule)) {
            return Err(invalid(
                "encrypted_comment_regex",
                format!("`{comment_rule}` rules are not supported"),
            ));
        }
    }
    let mut found = Vec::new();
    for key in RULE_KEYS {
        if let Some(pattern) = string_field(map, key)?.filter(|p| !p.is_empty()) {
            found.push(match key {
                "unencrypted_suffix" => EncryptionRule::UnencryptedSuffix(pattern),
                "encrypted_suffix" => EncryptionRule::EncryptedSuffix(pattern),
                "unencrypted_regex" => EncryptionRule::UnencryptedRegex(pattern),
                _ => EncryptionRule::EncryptedRegex(pattern),
            });
        }
    }
    let rule = match found.len() {
        0 => EncryptionRule::default(),
        1 => found.remove(0),
        _ => {
            return Err(invalid(
                "unencrypted_suffix",
                "more than one encryption rule is set",
            ));
        }
    };
    rule.compile()
        .map_err(|e| invalid(rule.metadata_key(), e.to_string()))?;
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sops_block(extra: &[(&str, Value)]) -> Value {
        let mut map = Map::new();
        map.insert("lastmodified", Value::from("2026-11-24T11:13:57Z"));
        map.insert("mac", Value::from("ENC[...]"));
        for (k, v) in extra {
            map.insert(*k, v.clone());
        }
        Value::Map(map)
    }

    #[test]
    fn defaults_and_round_trip() {
        let meta =
            Metadata::from_value(&sops_block(&[("version", Value::Float(3.7))])).expect("valid");
        assert_eq!(meta.rule, EncryptionRule::default());
        assert_eq!(meta.version, "3.7");
        assert!(meta.age.is_empty());
        let again = Metadata::from_value(&meta.to_value()).expect("round trip");
        assert_eq!(again.lastmodified, meta.lastmodified);
        assert_eq!(meta.mac_aad(), "2026-11-24T11:13:57Z");
    }

    #[test]
    fn rejects_unsupported_and_conflicting_rules() {
        let two = sops_block(&[
            ("unencrypted_suffix", Value::from("_u")),
            ("encrypted_regex", Value::from("x")),
        ]);
        assert!(Metadata::from_value(&two).is_err());
        let shamir = sops_block(&[(
            "key_groups",
            Value::List([Value::Int(1)].into_iter().collect()),
        )]);
        assert!(Metadata::from_value(&shamir).is_err());
        let bad_time = sops_block(&[("lastmodified", Value::from("yesterday"))]);
        assert!(Metadata::from_value(&bad_time).is_err());
    }

    #[test]
    fn mac_aad_drops_fractions_and_keeps_offsets() {
        let meta = Metadata::from_value(&sops_block(&[(
            "lastmodified",
            Value::from("2026-11-24T13:13:57.25+02:00"),
        )]))
        .expect("valid");
        assert_eq!(meta.mac_aad(), "2026-11-24T13:13:57+02:00");
    }
}
