//! Scalar typing as go-yaml v3 does it (so MACs over clear-text values agree), and the reverse:
//! how to write a scalar so go-yaml reads back the same type.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::codec::{go_parse_float, go_rfc3339_nano, parse_yaml_timestamp};
use crate::value::{SecretBytes, Value};

/// Resolves an untagged plain scalar like go-yaml v3 decoding into `interface{}`.
///
/// Plain timestamps stay strings (go-yaml keeps them as strings for `interface{}` targets).
pub(crate) fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        _ => {}
    }
    match text.as_bytes()[0] {
        b'.' => go_parse_float(text).map_or_else(|| Value::string(text), Value::Float),
        b'0'..=b'9' | b'+' | b'-' => resolve_number(text).unwrap_or_else(|| Value::string(text)),
        _ => Value::string(text),
    }
}

fn resolve_number(text: &str) -> Option<Value> {
    let plain = text.replace('_', "");
    if let Some(n) = go_parse_int(&plain) {
        return Some(Value::Int(n));
    }
    if is_yaml_float(&plain) {
        return go_parse_float(&plain).map(Value::Float);
    }
    None
}

/// Go's `strconv.ParseInt(s, 0, 64)`: sign, then `0x`/`0o`/`0b`/leading-`0` octal or decimal.
fn go_parse_int(text: &str) -> Option<i64> {
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    let signed = if negative { -magnitude } else { magnitude };
    i64::try_from(signed).ok()
}

/// go-yaml's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(text: &str) -> bool {
    let s = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

/// Resolves a scalar with an explicit core-schema tag (`!!str`, `!!int`, ...); `None` if it does not fit.
///
/// Unknown tags are kept as plain resolution of the text (their tag is dropped).
pub(crate) fn resolve_tagged(suffix: &str, text: &str, quoted: bool) -> Option<Value> {
    match suffix {
        "str" => Some(Value::string(text)),
        "null" => Some(Value::Null),
        "bool" | "int" | "float" => {
            let value = resolve_plain(text);
            match (suffix, value) {
                ("bool", v @ Value::Bool(_)) | ("int", v @ Value::Int(_)) => Some(v),
                ("float", v @ Value::Float(_)) => Some(v),
                ("float", Value::Int(n)) => Some(Value::Float(n as f64)),
                _ => None,
            }
        }
        "binary" => {
            let compact: String = text.split_whitespace().collect();
            B64.decode(compact)
                .ok()
                .map(|b| Value::Bytes(SecretBytes::new(b)))
        }
        "timestamp" => parse_yaml_timestamp(text).map(Value::Time),
        _ if quoted => Some(Value::string(text)),
        _ => Some(resolve_plain(text)),
    }
}

/// YAML 1.1 booleans go-yaml still quotes on output, for other parsers' sake.
fn is_yaml11_bool(text: &str) -> bool {
    matches!(
        text,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

fn looks_like_timestamp(text: &str) -> bool {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    digits == 4 && text.as_bytes().get(4) == Some(&b'-')
}

/// YAML `c-printable`, minus the characters that would read back as whitespace or line breaks.
pub(crate) fn is_plain_safe_char(c: char) -> bool {
    let printable = matches!(c, '\u{20}'..='\u{7E}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}';
    printable && !matches!(c, '\u{FEFF}' | '\u{2028}' | '\u{2029}')
}

/// Tells whether a string can be written as a plain scalar and read back as the same string.
pub(crate) fn can_be_plain(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    let last = text.chars().last().unwrap_or(first);
    let starts_badly = first.is_whitespace()
        || "-?:,[]{}#&*!|>'\"%@`<=".contains(first)
        || text.starts_with("...");
    let bad_inside = text.contains(": ")
        || text.contains(" #")
        || text.contains('\t')
        || !text.chars().all(is_plain_safe_char);
    let retypes = !matches!(resolve_plain(text), Value::Str(_))
        || is_yaml11_bool(text)
        || looks_like_timestamp(text);
    !(starts_badly || bad_inside || retypes || last.is_whitespace() || last == ':')
}

/// Writes a double-quoted YAML string.
pub(crate) fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02X}", c as u32));
            }
            c if !is_plain_safe_char(c) => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes a string scalar on one line (plain if safe, else double-quoted).
pub(crate) fn inline_string(text: &str) -> String {
    if can_be_plain(text) {
        text.to_owned()
    } else {
        double_quoted(text)
    }
}

/// Writes a float so go-yaml reads back a float (`8080.0`, `.inf`, `.nan`).
pub(crate) fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.to_owned();
    }
    let text = format!("{f}");
    if text.contains(['.', 'e', 'E']) {
        text
    } else {
        format!("{text}.0")
    }
}

/// Writes a non-string, non-container scalar.
pub(crate) fn non_string_scalar(value: &Value) -> Option<String> {
    Some(match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Int(n) => n.to_string(),
        Value::Float(f) => yaml_float(*f),
        Value::Time(t) => format!("!!timestamp {}", go_rfc3339_nano(t)),
        Value::Bytes(b) => format!("!!binary {}", B64.encode(b.expose())),
        Value::Str(_) | Value::Map(_) | Value::List(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_go_yaml_v3() {
        assert_eq!(resolve_plain("8080"), Value::Int(8080));
        assert_eq!(resolve_plain("0x1F"), Value::Int(31));
        assert_eq!(resolve_plain("017"), Value::Int(15));
        assert_eq!(resolve_plain("0o17"), Value::Int(15));
        assert_eq!(resolve_plain("-0b101"), Value::Int(-5));
        assert_eq!(resolve_plain("1_000"), Value::Int(1000));
        assert_eq!(resolve_plain("08"), Value::Float(8.0));
        assert_eq!(resolve_plain("0.75"), Value::Float(0.75));
        assert_eq!(resolve_plain("1e3"), Value::Float(1000.0));
        assert_eq!(resolve_plain(".5"), Value::Float(0.5));
        assert_eq!(resolve_plain("~"), Value::Null);
        assert_eq!(resolve_plain("True"), Value::Bool(true));
        for s in [
            "yes",
            "on",
            "2024-01-02",
            "3.11.0",
            "1.2.3",
            "-",
            "+x",
            "0x",
            ".x",
        ] {
            assert_eq!(resolve_plain(s), Value::string(s), "{s}");
        }
    }

    #[test]
    fn quotes_what_would_retype_or_break() {
        for s in [
            "",
            "123",
            "true",
            "null",
            "yes",
            "a: b",
            "a #b",
            " lead",
            "trail ",
            "-x",
            "2024-01-02",
            "x:",
            "tab\there",
            "...",
            "<<",
            "#c",
            "é\u{85}",
        ] {
            assert!(!can_be_plain(s), "{s:?} must be quoted");
        }
        for s in [
            "ENC[AES256_GCM,data:AA==,iv:BB+/=,tag:CC==,type:str]",
            "123456:TEST-TOKEN-not-real",
            "postgres://app:s3cr3t@127.0.0.1:5432/app",
            "пароль-密码-🔑",
            "3.11.0",
            "a#b",
        ] {
            assert!(can_be_plain(s), "{s:?} can be plain");
        }
    }

    #[test]
    fn floats_keep_their_type() {
        assert_eq!(yaml_float(8080.0), "8080.0");
        assert_eq!(yaml_float(0.75), "0.75");
        assert_eq!(yaml_float(f64::NEG_INFINITY), "-.inf");
        assert_eq!(resolve_plain(&yaml_float(1e300)), Value::Float(1e300));
    }

    #[test]
    fn double_quoting_escapes_controls() {
        assert_eq!(double_quoted("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\x01\"");
    }
}
