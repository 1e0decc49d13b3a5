//! [`Document`]: a plaintext tree with path access, and the file [`Format`]s.

use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{EmitError, ParseError, PathError};
use crate::path::{KeyPath, Segment};
use crate::value::{Map, Value};
use crate::{json, yaml};

/// A file format sops can store values in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// YAML (comments are kept and encrypted).
    Yaml,
    /// JSON (every number is a float to sops).
    Json,
}

impl Format {
    /// Picks the format from a file extension, as sops does: `.yaml`/`.yml` or `.json`.
    pub fn from_path(path: impl AsRef<Path>) -> Option<Self> {
        let ext = path.as_ref().extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "yaml" | "yml" => Some(Self::Yaml),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// A plaintext document: an ordered root map (comments included).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Document {
    root: Map,
}

impl Document {
    /// Wraps a root map.
    pub fn new(root: Map) -> Self {
        Self { root }
    }

    /// Parses plaintext YAML or JSON.
    pub fn parse(text: &str, format: Format) -> Result<Self, ParseError> {
        let root = match format {
            Format::Yaml => yaml::parse(text)?,
            Format::Json => json::parse(text)?,
        };
        Ok(Self { root })
    }

    /// Writes the document as text (YAML: 4-space indent; JSON: tab indent, no comments).
    pub fn to_text(&self, format: Format) -> Result<Zeroizing<String>, EmitError> {
        let text = match format {
            Format::Yaml => yaml::emit(&self.root),
            Format::Json => json::emit(&self.root)?,
        };
        Ok(Zeroizing::new(text))
    }

    /// Returns the root map.
    pub fn root(&self) -> &Map {
        &self.root
    }

    /// Returns the root map mutably.
    pub fn root_mut(&mut self) -> &mut Map {
        &mut self.root
    }

    /// Unwraps the root map.
    pub fn into_root(self) -> Map {
        self.root
    }

    /// Returns the value at `path`, if present.
    pub fn get(&self, path: &KeyPath) -> Option<&Value> {
        let (first, rest) = path.segments().split_first()?;
        let Segment::Key(key) = first else {
            return None;
        };
        rest.iter()
            .try_fold(self.root.get(key)?, |node, segment| match (node, segment) {
                (Value::Map(map), Segment::Key(key)) => map.get(key),
                (Value::List(list), Segment::Index(i)) => list.get(*i),
                _ => None,
            })
    }

    /// Sets the value at `path`, creating missing maps on the way (like `sops set`).
    ///
    /// A list index may address an element or `len` (append).
    pub fn set(&mut self, path: &KeyPath, value: Value) -> Result<(), PathError> {
        let segments = path.segments();
        let Some((Segment::Key(first), rest)) = segments.split_first() else {
            return match segments.first() {
                None => Err(PathError::Empty),
                Some(_) => Err(mismatch(&[], "map", "map")),
            };
        };
        if rest.is_empty() {
            self.root.insert(first.clone(), value);
            return Ok(());
        }
        let slot = entry_or_insert(&mut self.root, first, &rest[0]);
        set_in(slot, &segments[..1], rest, value)
    }
}

fn empty_container_for(next: &Segment) -> Value {
    match next {
        Segment::Key(_) => Value::Map(Map::new()),
        Segment::Index(_) => Value::List(Default::default()),
    }
}

fn entry_or_insert<'a>(map: &'a mut Map, key: &str, next: &Segment) -> &'a mut Value {
    if map.get(key).is_none() {
        map.insert(key, empty_container_for(next));
    }
    // The key exists now: `insert` appended it if it was missing.
    map.get_mut(key)
        .unwrap_or_else(|| unreachable!("key was just inserted"))
}

fn mismatch(done: &[Segment], expected: &'static str, found: &'static str) -> PathError {
    PathError::TypeMismatch {
        path: KeyPath::new(done.to_vec()).to_string(),
        expected,
        found,
    }
}

fn set_in(
    node: &mut Value,
    done: &[Segment],
    rest: &[Segment],
    value: Value,
) -> Result<(), PathError> {
    let Some((segment, tail)) = rest.split_first() else {
        *node = value;
        return Ok(());
    };
    let mut path = done.to_vec();
    path.push(segment.clone());
    let child = match (node, segment) {
        (Value::Map(map), Segment::Key(key)) => match tail.first() {
            None => {
                map.insert(key.clone(), value);
                return Ok(());
            }
            Some(next) => entry_or_insert(map, key, next),
        },
        (Value::List(list), Segment::Index(index)) => list_slot(list, &path, *index, tail)?,
        (node, Segment::Key(_)) => return Err(mismatch(done, "map", node.kind())),
        (node, Segment::Index(_)) => return Err(mismatch(done, "list", node.kind())),
    };
    set_in(child, &path, tail, value)
}

fn list_slot<'a>(
    list: &'a mut crate::value::List,
    path: &[Segment],
    index: usize,
    tail: &[Segment],
) -> Result<&'a mut Value, PathError> {
    let len = list.len();
    if index > len {
        return Err(PathError::OutOfBounds {
            path: KeyPath::new(path[..path.len() - 1].to_vec()).to_string(),
            index,
            len,
        });
    }
    if index == len {
        list.push(tail.first().map_or(Value::Null, empty_container_for));
    }
    let out_of_bounds = PathError::OutOfBounds {
        path: KeyPath::new(path.to_vec()).to_string(),
        index,
        len,
    };
    list.get_mut(index).ok_or(out_of_bounds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> KeyPath {
        KeyPath::parse(text).expect("valid test path")
    }

    #[test]
    fn format_from_path() {
        assert_eq!(Format::from_path("a/b.enc.yaml"), Some(Format::Yaml));
        assert_eq!(Format::from_path("x.YML"), Some(Format::Yaml));
        assert_eq!(Format::from_path("x.json"), Some(Format::Json));
        assert_eq!(Format::from_path("x.env"), None);
        assert_eq!(Format::from_path("noext"), None);
    }

    #[test]
    fn set_creates_and_replaces() {
        let mut doc = Document::default();
        doc.set(&path("a.b.c"), Value::Int(1)).expect("set");
        doc.set(&path("a.list[0]"), Value::from("x"))
            .expect("append");
        doc.set(&path("a.list[1].k"), Value::Bool(true))
            .expect("append map");
        doc.set(&path("a.b.c"), Value::Int(2)).expect("replace");
        assert_eq!(doc.get(&path("a.b.c")), Some(&Value::Int(2)));
        assert_eq!(doc.get(&path("a.list[0]")), Some(&Value::from("x")));
        assert_eq!(doc.get(&path("a.list[1].k")), Some(&Value::Bool(true)));
        assert_eq!(doc.get(&path("a.missing")), None);
    }

    #[test]
    fn set_reports_mismatches() {
        let mut doc = Document::default();
        doc.set(&path("a"), Value::Int(1)).expect("set");
        let err = doc
            .set(&path("a.b"), Value::Int(2))
            .expect_err("int is no map");
        assert!(
            err.to_string().contains("expected a map, found a int"),
            "{err}"
        );
        doc.set(&path("l[0]"), Value::Int(1)).expect("append");
        let err = doc
            .set(&path("l[5]"), Value::Int(2))
            .expect_err("out of bounds");
        assert!(matches!(
            err,
            PathError::OutOfBounds {
                index: 5,
                len: 1,
                ..
            }
        ));
    }
}
