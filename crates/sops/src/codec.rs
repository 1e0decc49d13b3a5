//! Conversions between typed leaves and the plaintext bytes sops encrypts and hashes.
//!
//! These follow Go's `strconv`/`time` formatting exactly, because the MAC is computed over these bytes
//! by both sides: ints in decimal, floats as `FormatFloat(f, 'f', -1, 64)`, bools as `True`/`False`,
//! times as RFC3339Nano. In JSON files every number is a Go `float64`.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use zeroize::Zeroizing;

use crate::document::Format;
use crate::error::CipherError;
use crate::value::{SecretBytes, SecretText, Value};

/// The `type:` of an encrypted value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DataType {
    Str,
    Int,
    Float,
    Bool,
    Bytes,
    Time,
    Comment,
}

impl DataType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Str => "str",
            Self::Int => "int",
            Self::Float => "float",
            Self::Bool => "bool",
            Self::Bytes => "bytes",
            Self::Time => "time",
            Self::Comment => "comment",
        }
    }

    /// Parses a type name; `int64` is what older sops versions wrote for large ints.
    pub(crate) fn from_name(name: &str) -> Result<Self, CipherError> {
        Ok(match name {
            "str" => Self::Str,
            "int" | "int64" => Self::Int,
            "float" => Self::Float,
            "bool" => Self::Bool,
            "bytes" => Self::Bytes,
            "time" => Self::Time,
            "comment" => Self::Comment,
            other => {
                return Err(CipherError::UnknownType {
                    datatype: other.to_owned(),
                });
            }
        })
    }
}

/// Plaintext bytes of a leaf plus the type to encrypt it as.
pub(crate) struct Plain {
    pub(crate) datatype: DataType,
    pub(crate) bytes: Zeroizing<Vec<u8>>,
}

impl Plain {
    fn new(datatype: DataType, bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            datatype,
            bytes: Zeroizing::new(bytes.into()),
        }
    }
}

/// Returns the encryptable form of a scalar leaf, or `None` for `null` and containers.
pub(crate) fn leaf_plaintext(value: &Value, format: Format) -> Option<Plain> {
    Some(match value {
        Value::Null | Value::Map(_) | Value::List(_) => return None,
        Value::Str(text) => Plain::new(DataType::Str, text.expose().as_bytes()),
        Value::Int(n) if format == Format::Json => Plain::new(DataType::Float, go_float(*n as f64)),
        Value::Int(n) => Plain::new(DataType::Int, n.to_string()),
        Value::Float(f) => Plain::new(DataType::Float, go_float(*f)),
        Value::Bool(b) => Plain::new(DataType::Bool, if *b { "True" } else { "False" }),
        // sops 3.11 panics on `type:bytes` (and writes `!!binary` values as `str` itself).
        Value::Bytes(bytes) => Plain::new(DataType::Str, bytes.expose()),
        Value::Time(t) => Plain::new(DataType::Time, go_rfc3339_nano(t)),
    })
}

/// Rebuilds a typed leaf from decrypted bytes (`Comment` is the caller's business).
pub(crate) fn leaf_from_plaintext(
    datatype: DataType,
    bytes: &[u8],
    format: Format,
) -> Result<Value, CipherError> {
    let invalid = || CipherError::InvalidPlaintext {
        datatype: datatype.name(),
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        // Go strings may hold any bytes (sops encrypts a YAML `!!binary` value as `str`).
        return match datatype {
            DataType::Str | DataType::Bytes => Ok(Value::Bytes(SecretBytes::new(bytes))),
            _ => Err(invalid()),
        };
    };
    if datatype == DataType::Bytes {
        return Ok(Value::Bytes(SecretBytes::new(bytes)));
    }
    Ok(match datatype {
        DataType::Str | DataType::Comment => Value::Str(SecretText::new(text)),
        DataType::Int => Value::Int(text.parse().map_err(|_| invalid())?),
        DataType::Float => json_aware_float(text, format).ok_or_else(invalid)?,
        DataType::Bool => Value::Bool(go_parse_bool(text).ok_or_else(invalid)?),
        DataType::Time => Value::Time(parse_rfc3339(text).ok_or_else(invalid)?),
        DataType::Bytes => Value::Bytes(SecretBytes::new(bytes)),
    })
}

/// JSON numbers are all floats to sops; an integral one comes back as an `Int` so `8080` stays `8080`.
fn json_aware_float(text: &str, format: Format) -> Option<Value> {
    let f = go_parse_float(text)?;
    if format == Format::Json
        && let Ok(n) = text.parse::<i64>()
    {
        return Some(Value::Int(n));
    }
    Some(Value::Float(f))
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`.
pub(crate) fn go_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{f}")
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for the forms sops writes (decimal, exponent, inf, nan).
pub(crate) fn go_parse_float(text: &str) -> Option<f64> {
    if text.contains('_') {
        return None;
    }
    text.parse().ok()
}

/// Go's `strconv.ParseBool`.
pub(crate) fn go_parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `time.RFC3339Nano` layout: trailing zeros of the fraction dropped, `Z` for a zero offset.
pub(crate) fn go_rfc3339_nano(t: &DateTime<FixedOffset>) -> String {
    let use_z = t.offset().local_minus_utc() == 0;
    let mut text = t.to_rfc3339_opts(SecondsFormat::Nanos, use_z);
    if let Some(dot) = text.find('.') {
        let zone_at = text[dot..]
            .find(['Z', '+', '-'])
            .map_or(text.len(), |i| dot + i);
        let fraction = text[dot + 1..zone_at].trim_end_matches('0').to_owned();
        let keep = if fraction.is_empty() {
            String::new()
        } else {
            format!(".{fraction}")
        };
        text.replace_range(dot..zone_at, &keep);
    }
    text
}

/// Go's `time.RFC3339` layout (whole seconds), used to rebuild the MAC's AAD from `lastmodified`.
pub(crate) fn go_rfc3339(t: &DateTime<FixedOffset>) -> String {
    let use_z = t.offset().local_minus_utc() == 0;
    t.to_rfc3339_opts(SecondsFormat::Secs, use_z)
}

/// Parses an RFC3339 timestamp.
pub(crate) fn parse_rfc3339(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text).ok()
}

/// Parses the YAML timestamp forms go-yaml accepts for `!!timestamp`.
pub(crate) fn parse_yaml_timestamp(text: &str) -> Option<DateTime<FixedOffset>> {
    if let Some(t) = parse_rfc3339(text) {
        return Some(t);
    }
    let utc = |naive: NaiveDateTime| naive.and_utc().fixed_offset();
    if let Ok(naive) = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f") {
        return Some(utc(naive));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(utc(date.and_hms_opt(0, 0, 0)?))
}

/// The current time, truncated to seconds, as sops writes `lastmodified`.
pub(crate) fn now_rfc3339() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_match_go_format_float() {
        assert_eq!(go_float(0.75), "0.75");
        assert_eq!(go_float(8080.0), "8080");
        assert_eq!(go_float(-0.0), "-0");
        assert_eq!(go_float(1e21), "1000000000000000000000");
        assert_eq!(go_float(f64::INFINITY), "+Inf");
        assert_eq!(go_float(f64::NAN), "NaN");
    }

    #[test]
    fn json_ints_are_floats_but_come_back_as_ints() {
        let plain = leaf_plaintext(&Value::Int(8080), Format::Json).expect("leaf");
        assert_eq!(plain.datatype, DataType::Float);
        assert_eq!(plain.bytes.as_slice(), b"8080");
        let back = leaf_from_plaintext(DataType::Float, b"8080", Format::Json).expect("parse");
        assert_eq!(back, Value::Int(8080));
        let yaml = leaf_from_plaintext(DataType::Float, b"8080", Format::Yaml).expect("parse");
        assert_eq!(yaml, Value::Float(8080.0));
    }

    #[test]
    fn times_use_go_rfc3339_nano() {
        let t = parse_yaml_timestamp("2024-01-02T03:04:05.500+02:00").expect("time");
        assert_eq!(go_rfc3339_nano(&t), "2024-01-02T03:04:05.5+02:00");
        assert_eq!(go_rfc3339(&t), "2024-01-02T03:04:05+02:00");
        let d = parse_yaml_timestamp("2024-01-02").expect("date");
        assert_eq!(go_rfc3339_nano(&d), "2024-01-02T00:00:00Z");
    }

    #[test]
    fn bytes_are_written_as_str_and_read_back_as_bytes_if_not_utf8() {
        let value = Value::Bytes(SecretBytes::new(vec![0xff, 0x00]));
        let plain = leaf_plaintext(&value, Format::Yaml).expect("leaf");
        assert_eq!(plain.datatype, DataType::Str);
        let back = leaf_from_plaintext(DataType::Str, &plain.bytes, Format::Yaml).expect("parse");
        assert_eq!(back, value);
    }

    #[test]
    fn bools_follow_go_parse_bool() {
        assert_eq!(go_parse_bool("True"), Some(true));
        assert_eq!(go_parse_bool("F"), Some(false));
        assert_eq!(go_parse_bool("yes"), None);
        let plain = leaf_plaintext(&Value::Bool(false), Format::Yaml).expect("leaf");
        assert_eq!(plain.bytes.as_slice(), b"False");
    }
}
