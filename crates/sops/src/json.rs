//! JSON support: serde_json (with `preserve_order`) for reading, a small tab-indented writer like sops's.

use crate::codec::go_float;
use crate::error::{EmitError, ParseError};
use crate::value::{List, Map, Value};

/// Parses a JSON document whose root is an object.
pub(crate) fn parse(text: &str) -> Result<Map, ParseError> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| ParseError::Json {
        message: format!(
            "{} at line {} column {}",
            category(&e),
            e.line(),
            e.column()
        ),
    })?;
    match convert(json) {
        Value::Map(map) => Ok(map),
        other => Err(ParseError::RootNotMapping {
            found: other.kind(),
        }),
    }
}

fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "i/o error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "data error",
        serde_json::error::Category::Eof => "unexpected end of input",
    }
}

fn convert(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN))),
        serde_json::Value::String(s) => Value::string(s),
        serde_json::Value::Array(items) => Value::List(items.into_iter().map(convert).collect()),
        serde_json::Value::Object(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                map.insert(key, convert(value));
            }
            Value::Map(map)
        }
    }
}

/// Writes a map as tab-indented JSON (comments are dropped: JSON has none).
pub(crate) fn emit(root: &Map) -> Result<String, EmitError> {
    let mut out = String::new();
    let mut path = Vec::new();
    write_map(&mut out, root, 0, &mut path)?;
    out.push('\n');
    Ok(out)
}

fn newline(out: &mut String, depth: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n('\t', depth));
}

fn write_map(
    out: &mut String,
    map: &Map,
    depth: usize,
    path: &mut Vec<String>,
) -> Result<(), EmitError> {
    if map.is_empty() {
        out.push_str("{}");
        return Ok(());
    }
    out.push('{');
    for (i, (key, value)) in map.entries().enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(out, depth + 1);
        write_string(out, key);
        out.push_str(": ");
        path.push(key.to_owned());
        write_value(out, value, depth + 1, path)?;
        path.pop();
    }
    newline(out, depth);
    out.push('}');
    Ok(())
}

fn write_list(
    out: &mut String,
    list: &List,
    depth: usize,
    path: &mut Vec<String>,
) -> Result<(), EmitError> {
    if list.is_empty() {
        out.push_str("[]");
        return Ok(());
    }
    out.push('[');
    for (i, value) in list.values().enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(out, depth + 1);
        write_value(out, value, depth + 1, path)?;
    }
    newline(out, depth);
    out.push(']');
    Ok(())
}

fn write_value(
    out: &mut String,
    value: &Value,
    depth: usize,
    path: &mut Vec<String>,
) -> Result<(), EmitError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::Float(f) if f.is_finite() => {
            // Keep a float a float when read back (sops itself would print `5` for `5.0`).
            let text = go_float(*f);
            out.push_str(&text);
            if !text.contains(['.', 'e', 'E']) {
                out.push_str(".0");
            }
        }
        Value::Float(_) => {
            return Err(EmitError::NonFiniteJsonFloat {
                path: path.join("."),
            });
        }
        Value::Str(text) => write_string(out, text.expose()),
        Value::Bytes(bytes) => {
            use base64::Engine;
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes.expose());
            write_string(out, &encoded);
        }
        Value::Time(t) => write_string(out, &crate::codec::go_rfc3339_nano(t)),
        Value::Map(map) => write_map(out, map, depth, path)?,
        Value::List(list) => write_list(out, list, depth, path)?,
    }
    Ok(())
}

fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_order_and_types() {
        let text = "{\n\t\"b\": 1,\n\t\"a\": [\n\t\t0.5,\n\t\t2.0,\n\t\ttrue,\n\t\tnull,\n\t\t\"x\\n\\\"y\\\"\"\n\t],\n\t\"e\": {},\n\t\"l\": []\n}\n";
        let map = parse(text).expect("valid json");
        let keys: Vec<_> = map.entries().map(|(k, _)| k).collect();
        assert_eq!(keys, ["b", "a", "e", "l"]);
        assert_eq!(map.get("b"), Some(&Value::Int(1)));
        assert_eq!(emit(&map).expect("emits"), text);
    }

    #[test]
    fn rejects_non_object_roots_and_nan() {
        assert!(matches!(
            parse("[1]"),
            Err(ParseError::RootNotMapping { .. })
        ));
        assert!(matches!(parse("{"), Err(ParseError::Json { .. })));
        let mut map = Map::new();
        map.insert("f", Value::Float(f64::NAN));
        assert!(emit(&map).is_err());
    }

    #[test]
    fn parse_errors_do_not_echo_content() {
        let err = parse("{\"k\": secretvalue}").expect_err("invalid");
        assert!(!err.to_string().contains("secretvalue"), "{err}");
    }
}
