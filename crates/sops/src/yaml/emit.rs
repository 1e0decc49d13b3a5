//! [`Map`] → YAML text in sops's layout: 4-space indent, sequences indented under their key,
//! comments on their own lines before the entry they precede.

use super::scalar::{
    can_be_plain, double_quoted, inline_string, is_plain_safe_char, non_string_scalar,
};
use crate::value::{List, ListItem, Map, MapItem, SecretText, Value};

const INDENT: usize = 4;

/// Writes a root map as a YAML document.
pub(crate) fn emit(root: &Map) -> String {
    let mut writer = Writer::default();
    writer.map_body(root, 0, false);
    writer.out
}

#[derive(Default)]
struct Writer {
    out: String,
}

impl Writer {
    fn pad(&mut self, indent: usize) {
        self.out.extend(std::iter::repeat_n(' ', indent));
    }

    fn comment(&mut self, indent: usize, text: &SecretText) {
        self.pad(indent);
        self.out.push('#');
        self.out.push_str(text.expose());
        self.out.push('\n');
    }

    /// Writes a map's items; with `inline_first`, the cursor already sits after `- ` and leading
    /// comments were hoisted above by the caller.
    fn map_body(&mut self, map: &Map, indent: usize, inline_first: bool) {
        let mut first = inline_first;
        let mut hoisted = inline_first;
        // Like go-yaml: block scalars in a list item's map are indented from the `-`, not the key.
        let block_indent = if inline_first {
            indent + 2
        } else {
            indent + INDENT
        };
        for item in map.items() {
            match item {
                MapItem::Comment(_) if hoisted => {}
                MapItem::Comment(text) => self.comment(indent, text),
                MapItem::Entry(key, value) => {
                    hoisted = false;
                    self.entry(key, value, (indent, block_indent), first);
                    first = false;
                }
            }
        }
    }

    fn entry(&mut self, key: &str, value: &Value, indents: (usize, usize), inline: bool) {
        let (indent, block_indent) = indents;
        let orphans = orphan_comments(value);
        if !inline {
            for text in &orphans {
                self.comment(indent, text);
            }
            self.pad(indent);
        }
        self.out.push_str(&inline_string(key));
        self.out.push(':');
        match value {
            Value::Map(map) if !map.is_empty() => {
                self.out.push('\n');
                self.map_body(map, indent + INDENT, false);
            }
            Value::List(list) if !list.is_empty() => {
                self.out.push('\n');
                self.list_body(list, indent + INDENT, false);
            }
            scalar => {
                self.out.push(' ');
                self.scalar(scalar, block_indent);
            }
        }
    }

    fn list_body(&mut self, list: &List, indent: usize, inline_first: bool) {
        let mut first = inline_first;
        let mut hoisted = inline_first;
        for item in list.items() {
            match item {
                ListItem::Comment(_) if hoisted => {}
                ListItem::Comment(text) => self.comment(indent, text),
                ListItem::Value(value) => {
                    hoisted = false;
                    if !first {
                        for text in leading_comments(value) {
                            self.comment(indent, text);
                        }
                        self.pad(indent);
                    }
                    first = false;
                    self.out.push_str("- ");
                    self.item(value, indent + 2);
                }
            }
        }
    }

    fn item(&mut self, value: &Value, indent: usize) {
        match value {
            Value::Map(map) if !map.is_empty() => self.map_body(map, indent, true),
            Value::List(list) if !list.is_empty() => self.list_body(list, indent, true),
            scalar => self.scalar(scalar, indent + 2),
        }
    }

    /// Writes a scalar (or an empty collection) after `key: ` or `- `, ending the line.
    fn scalar(&mut self, value: &Value, block_indent: usize) {
        match value {
            Value::Str(text) => self.string(text.expose(), block_indent),
            Value::Map(_) => self.out.push_str("{}"),
            Value::List(_) => self.out.push_str("[]"),
            other => {
                let text = non_string_scalar(other).unwrap_or_default();
                self.out.push_str(&text);
            }
        }
        self.out.push('\n');
    }

    fn string(&mut self, text: &str, block_indent: usize) {
        let Some((indicator, lines, extra_newlines)) = literal_block(text) else {
            let scalar = if can_be_plain(text) {
                text.to_owned()
            } else {
                double_quoted(text)
            };
            self.out.push_str(&scalar);
            return;
        };
        self.out.push_str(indicator);
        for line in lines {
            self.out.push('\n');
            if !line.is_empty() {
                self.pad(block_indent);
                self.out.push_str(line);
            }
        }
        for _ in 0..extra_newlines {
            self.out.push('\n');
        }
    }
}

/// Splits a multi-line string for a literal block: (`|`, `|-` or `|+`, lines, extra trailing newlines).
fn literal_block(text: &str) -> Option<(&'static str, Vec<&str>, usize)> {
    let body = text.trim_end_matches('\n');
    let trailing = text.len() - body.len();
    let printable = text.chars().all(|c| c == '\n' || is_plain_safe_char(c));
    let lines: Vec<&str> = body.split('\n').collect();
    let first_content = lines.iter().find(|l| !l.is_empty())?;
    let suitable = body.contains('\n') || trailing > 0;
    let clean_edges =
        !first_content.starts_with([' ', '\t']) && lines.iter().all(|l| !l.ends_with([' ', '\t']));
    if !(suitable && printable && clean_edges) {
        return None;
    }
    let (indicator, extra) = match trailing {
        0 => ("|-", 0),
        1 => ("|", 0),
        n => ("|+", n - 1),
    };
    Some((indicator, lines, extra))
}

/// Comments above a list item's first line: they cannot follow `- ` on the same line.
fn leading_comments(value: &Value) -> Vec<&SecretText> {
    match value {
        Value::Map(map) if !map.is_empty() => map
            .items()
            .iter()
            .map_while(|item| match item {
                MapItem::Comment(text) => Some(text),
                MapItem::Entry(..) => None,
            })
            .collect(),
        Value::List(list) if !list.is_empty() => {
            let mut out: Vec<&SecretText> = Vec::new();
            for item in list.items() {
                match item {
                    ListItem::Comment(text) => out.push(text),
                    ListItem::Value(first) => {
                        out.extend(leading_comments(first));
                        break;
                    }
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

/// Comments of a collection without entries, which has nowhere to put them (`{}` / `[]`).
fn orphan_comments(value: &Value) -> Vec<&SecretText> {
    match value {
        Value::Map(map) if map.is_empty() => map.comments().collect(),
        Value::List(list) if list.is_empty() => list
            .items()
            .iter()
            .filter_map(|item| match item {
                ListItem::Comment(text) => Some(text),
                ListItem::Value(_) => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}
