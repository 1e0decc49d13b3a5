//! The plaintext tree: ordered maps, lists, typed scalars and comments.
//!
//! Strings, byte strings and comments are held in zeroize-on-drop buffers, and `Debug` never prints a
//! scalar's content (only its type), so a tree can be logged without leaking secrets.

use std::fmt;

use chrono::{DateTime, FixedOffset};
use zeroize::Zeroizing;

/// A string whose buffer is wiped on drop and whose `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    /// Wraps a string.
    pub fn new(text: impl Into<String>) -> Self {
        Self(Zeroizing::new(text.into()))
    }

    /// Returns the plaintext. Keep the borrow short and do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(<redacted>)")
    }
}

impl From<&str> for SecretText {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

impl From<String> for SecretText {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

/// A byte string whose buffer is wiped on drop and whose `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps a byte buffer.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Zeroizing::new(bytes.into()))
    }

    /// Returns the plaintext bytes. Keep the borrow short and do not log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes(<redacted>)")
    }
}

/// One node of a document: a scalar (the sops value types), a map or a list.
#[derive(Clone, PartialEq)]
pub enum Value {
    /// `null`; never encrypted and not covered by the MAC.
    Null,
    /// A boolean (`type:bool`).
    Bool(bool),
    /// A signed integer (`type:int`; in JSON files sops stores every number as `type:float`).
    Int(i64),
    /// A 64-bit float (`type:float`).
    Float(f64),
    /// A UTF-8 string (`type:str`). The empty string is never encrypted.
    Str(SecretText),
    /// Raw bytes (`type:bytes`; YAML `!!binary`).
    Bytes(SecretBytes),
    /// A timestamp (`type:time`; YAML `!!timestamp` only).
    Time(DateTime<FixedOffset>),
    /// An ordered mapping with string keys, possibly holding comments.
    Map(Map),
    /// An ordered sequence, possibly holding comments.
    List(List),
}

impl Value {
    /// Builds a string value.
    pub fn string(text: impl Into<String>) -> Self {
        Self::Str(SecretText::new(text))
    }

    /// Returns the string content if this is a `Str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(text) => Some(text.expose()),
            _ => None,
        }
    }

    /// Returns the map if this is a `Map`.
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Self::Map(map) => Some(map),
            _ => None,
        }
    }

    /// Returns the list if this is a `List`.
    pub fn as_list(&self) -> Option<&List> {
        match self {
            Self::List(list) => Some(list),
            _ => None,
        }
    }

    /// Names the variant (`"str"`, `"map"`, ...), for messages that must not show the value.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "bool",
            Self::Int(_) => "int",
            Self::Float(_) => "float",
            Self::Str(_) => "str",
            Self::Bytes(_) => "bytes",
            Self::Time(_) => "time",
            Self::Map(_) => "map",
            Self::List(_) => "list",
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Map(map) => map.fmt(f),
            Self::List(list) => list.fmt(f),
            Self::Null => f.write_str("Null"),
            other => write!(f, "{}(<redacted>)", other.kind()),
        }
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Self::string(text)
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Self::string(text)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Self::Float(f)
    }
}

impl From<Map> for Value {
    fn from(map: Map) -> Self {
        Self::Map(map)
    }
}

impl From<List> for Value {
    fn from(list: List) -> Self {
        Self::List(list)
    }
}

/// One item of a [`Map`]: a key/value entry or a comment line (text after `#`).
#[derive(Clone, PartialEq, Debug)]
pub enum MapItem {
    /// A key and its value.
    Entry(String, Value),
    /// A comment, kept in document order.
    Comment(SecretText),
}

/// An ordered mapping that keeps comments between its entries.
#[derive(Clone, PartialEq, Default)]
pub struct Map {
    items: Vec<MapItem>,
}

impl Map {
    /// Creates an empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a map from its items.
    pub fn from_items(items: Vec<MapItem>) -> Self {
        Self { items }
    }

    /// Returns all items, comments included, in document order.
    pub fn items(&self) -> &[MapItem] {
        &self.items
    }

    /// Returns all items mutably.
    pub fn items_mut(&mut self) -> &mut Vec<MapItem> {
        &mut self.items
    }

    /// Iterates over the key/value entries, skipping comments.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.items.iter().filter_map(|item| match item {
            MapItem::Entry(key, value) => Some((key.as_str(), value)),
            MapItem::Comment(_) => None,
        })
    }

    /// Iterates over the comments.
    pub fn comments(&self) -> impl Iterator<Item = &SecretText> {
        self.items.iter().filter_map(|item| match item {
            MapItem::Comment(text) => Some(text),
            MapItem::Entry(..) => None,
        })
    }

    /// Returns the value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Returns the value under `key` mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.items.iter_mut().find_map(|item| match item {
            MapItem::Entry(k, v) if k == key => Some(v),
            _ => None,
        })
    }

    /// Sets `key` to `value`, in place if the key exists, else appended; returns the old value.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) -> Option<Value> {
        let key = key.into();
        match self.get_mut(&key) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                self.items.push(MapItem::Entry(key, value));
                None
            }
        }
    }

    /// Removes `key` and returns its value; comments stay where they are.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let index = self
            .items
            .iter()
            .position(|item| matches!(item, MapItem::Entry(k, _) if k == key))?;
        match self.items.remove(index) {
            MapItem::Entry(_, value) => Some(value),
            MapItem::Comment(_) => None,
        }
    }

    /// Appends a comment line (the text after `#`).
    pub fn push_comment(&mut self, text: impl Into<String>) {
        self.items.push(MapItem::Comment(SecretText::new(text)));
    }

    /// Counts the entries (comments excluded).
    pub fn len(&self) -> usize {
        self.entries().count()
    }

    /// Tells whether the map has no entries (it may still hold comments).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries()).finish()
    }
}

/// One item of a [`List`]: a value or a comment line.
#[derive(Clone, PartialEq, Debug)]
pub enum ListItem {
    /// An element.
    Value(Value),
    /// A comment, kept in document order.
    Comment(SecretText),
}

/// An ordered sequence that keeps comments between its elements.
#[derive(Clone, PartialEq, Default)]
pub struct List {
    items: Vec<ListItem>,
}

impl List {
    /// Creates an empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a list from its items.
    pub fn from_items(items: Vec<ListItem>) -> Self {
        Self { items }
    }

    /// Returns all items, comments included.
    pub fn items(&self) -> &[ListItem] {
        &self.items
    }

    /// Returns all items mutably.
    pub fn items_mut(&mut self) -> &mut Vec<ListItem> {
        &mut self.items
    }

    /// Iterates over the elements, skipping comments.
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.items.iter().filter_map(|item| match item {
            ListItem::Value(value) => Some(value),
            ListItem::Comment(_) => None,
        })
    }

    /// Returns the element at `index` (comments are not counted).
    pub fn get(&self, index: usize) -> Option<&Value> {
        self.values().nth(index)
    }

    /// Returns the element at `index` mutably (comments are not counted).
    pub fn get_mut(&mut self, index: usize) -> Option<&mut Value> {
        self.items
            .iter_mut()
            .filter_map(|item| match item {
                ListItem::Value(value) => Some(value),
                ListItem::Comment(_) => None,
            })
            .nth(index)
    }

    /// Appends an element.
    pub fn push(&mut self, value: Value) {
        self.items.push(ListItem::Value(value));
    }

    /// Counts the elements (comments excluded).
    pub fn len(&self) -> usize {
        self.values().count()
    }

    /// Tells whether the list has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.values()).finish()
    }
}

impl FromIterator<Value> for List {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Self {
        Self::from_items(iter.into_iter().map(ListItem::Value).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_scalars() {
        let mut map = Map::new();
        map.insert("token", Value::string("hunter2"));
        map.insert("port", Value::Int(5432));
        map.push_comment(" a secret comment");
        let shown = format!("{:?}", Value::Map(map));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("5432"), "{shown}");
        assert!(!shown.contains("secret comment"), "{shown}");
        assert!(shown.contains("token"), "{shown}");
    }

    #[test]
    fn insert_replaces_in_place_and_keeps_order() {
        let mut map = Map::new();
        map.insert("a", Value::Int(1));
        map.insert("b", Value::Int(2));
        assert_eq!(map.insert("a", Value::Int(3)), Some(Value::Int(1)));
        let keys: Vec<_> = map.entries().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(map.remove("a"), Some(Value::Int(3)));
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn list_indices_skip_comments() {
        let list = List::from_items(vec![
            ListItem::Comment(SecretText::new("c")),
            ListItem::Value(Value::Int(7)),
        ]);
        assert_eq!(list.get(0), Some(&Value::Int(7)));
        assert_eq!(list.len(), 1);
    }
}
