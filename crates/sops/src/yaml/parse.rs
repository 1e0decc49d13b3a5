//! YAML text → [`Map`], keeping key order and comments.
//!
//! # How comments are found and placed
//! saphyr-parser gives events with character spans but no comments. Comments are therefore read from the
//! source text in the gaps between tokens (a `#` at a line start or after whitespace). They are placed the
//! way sops's go-yaml store places them, which decides the path (and so the AAD) they are encrypted under:
//! - a comment on its own line goes before the next key or list item;
//! - one at the end of a block collection stays in it if it is indented at least as deep as its entries,
//!   otherwise it moves out to the enclosing collection;
//! - a comment after a value on the same line goes before that entry (go-yaml "line comment").

use std::collections::{HashMap, VecDeque};

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use super::scalar::{resolve_plain, resolve_tagged};
use crate::error::ParseError;
use crate::value::{List, ListItem, Map, MapItem, SecretText, Value};

/// Deepest nesting accepted (the builder is recursive).
const MAX_DEPTH: usize = 200;
/// Most nodes that alias expansion may create ("billion laughs" guard).
const MAX_ALIAS_NODES: usize = 1_000_000;
const CORE_TAG: &str = "tag:yaml.org,2002:";

/// Parses one YAML document whose root is a mapping (an empty document gives an empty map).
pub(crate) fn parse(text: &str) -> Result<Map, ParseError> {
    let source = Source::new(text);
    let toks = tokenize(text, &source)?;
    let comments = find_comments(&toks, &source);
    let mut builder = Builder {
        toks,
        pos: 0,
        comments,
        anchors: HashMap::new(),
        alias_nodes: 0,
        depth: 0,
    };
    builder.document()
}

struct Source {
    chars: Vec<char>,
    line_starts: Vec<usize>,
}

impl Source {
    fn new(text: &str) -> Self {
        let chars: Vec<char> = text.chars().collect();
        let mut line_starts = vec![0];
        line_starts.extend(
            chars
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == '\n')
                .map(|(i, _)| i + 1),
        );
        Self { chars, line_starts }
    }

    /// 1-based line of a character index.
    fn line_of(&self, index: usize) -> usize {
        self.line_starts.partition_point(|start| *start <= index)
    }

    fn col_of(&self, index: usize) -> usize {
        index - self.line_starts[self.line_of(index) - 1]
    }

    fn at(&self, index: usize) -> char {
        self.chars.get(index).copied().unwrap_or('\n')
    }
}

struct Tok<'a> {
    event: Event<'a>,
    start: usize,
    end: usize,
    line: usize,
    end_line: usize,
    /// Column of the token; for a block sequence, the column of its first `-`.
    indent: usize,
}

fn tokenize<'a>(text: &'a str, source: &Source) -> Result<Vec<Tok<'a>>, ParseError> {
    let mut toks = Vec::new();
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| ParseError::Yaml {
            line: e.marker().line(),
            column: e.marker().col(),
            message: e.info().to_owned(),
        })?;
        let end = real_end(&event, &span, source);
        let indent = token_indent(&event, span.start.index(), source);
        toks.push(Tok {
            indent,
            start: span.start.index(),
            line: source.line_of(span.start.index()),
            end_line: source.line_of(end.saturating_sub(1).max(span.start.index())),
            end,
            event,
        });
    }
    Ok(toks)
}

fn token_indent(event: &Event<'_>, start: usize, source: &Source) -> usize {
    if !matches!(event, Event::SequenceStart(..)) || source.at(start) == '[' {
        return source.col_of(start);
    }
    let mut j = start;
    while j > 0 && matches!(source.chars[j - 1], ' ' | '\t') {
        j -= 1;
    }
    if j > 0 && source.chars[j - 1] == '-' {
        source.col_of(j - 1)
    } else {
        source.col_of(start)
    }
}

/// Where a token really ends: saphyr's spans of quoted scalars and flow ends run on past trailing comments.
fn real_end(event: &Event<'_>, span: &Span, source: &Source) -> usize {
    let (start, end) = (span.start.index(), span.end.index());
    match event {
        Event::Scalar(_, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted, ..) => {
            quoted_end(source, start).unwrap_or(end)
        }
        Event::MappingEnd | Event::SequenceEnd if end > start => start + 1,
        _ => end,
    }
}

fn quoted_end(source: &Source, mut i: usize) -> Option<usize> {
    while matches!(source.at(i), '&' | '!') {
        while !source.at(i).is_whitespace() {
            i += 1;
        }
        while source.at(i).is_whitespace() && i < source.chars.len() {
            i += 1;
        }
    }
    let quote = source.at(i);
    i += 1;
    while i < source.chars.len() {
        let c = source.chars[i];
        if quote == '"' && c == '\\' {
            i += 2;
            continue;
        }
        if c == quote {
            if quote == '\'' && source.at(i + 1) == '\'' {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

struct CommentTok {
    line: usize,
    col: usize,
    text: String,
    inline: bool,
    /// Index of the first token after the comment.
    before: usize,
}

fn find_comments(toks: &[Tok<'_>], source: &Source) -> VecDeque<CommentTok> {
    let mut out = VecDeque::new();
    let mut gap_start = 0;
    for (index, tok) in toks.iter().enumerate() {
        scan_gap(source, gap_start, tok.start, index, &mut out);
        gap_start = gap_start.max(tok.end);
    }
    scan_gap(source, gap_start, source.chars.len(), toks.len(), &mut out);
    out
}

fn scan_gap(
    source: &Source,
    from: usize,
    to: usize,
    before: usize,
    out: &mut VecDeque<CommentTok>,
) {
    let mut i = from;
    while i < to {
        let starts_comment = source.chars[i] == '#' && (i == 0 || source.at(i - 1).is_whitespace());
        if !starts_comment {
            i += 1;
            continue;
        }
        let line = source.line_of(i);
        let line_start = source.line_starts[line - 1];
        let eol = (i..source.chars.len())
            .find(|&j| source.chars[j] == '\n')
            .unwrap_or(source.chars.len());
        let text: String = source.chars[i + 1..eol].iter().collect();
        out.push_back(CommentTok {
            line,
            col: source.col_of(i),
            text: text.trim_end_matches('\r').to_owned(),
            inline: source.chars[line_start..i]
                .iter()
                .any(|c| !c.is_whitespace()),
            before,
        });
        i = eol;
    }
}

struct Builder<'a> {
    toks: Vec<Tok<'a>>,
    pos: usize,
    comments: VecDeque<CommentTok>,
    anchors: HashMap<usize, (Value, usize)>,
    alias_nodes: usize,
    depth: usize,
}

impl Builder<'_> {
    fn event(&self) -> Option<&Event<'_>> {
        self.toks.get(self.pos).map(|t| &t.event)
    }

    fn line(&self) -> usize {
        self.toks
            .get(self.pos)
            .or(self.toks.last())
            .map_or(1, |t| t.line)
    }

    fn unsupported(&self, what: &'static str) -> ParseError {
        ParseError::Unsupported {
            line: self.line(),
            what,
        }
    }

    fn document(&mut self) -> Result<Map, ParseError> {
        self.pos = 1; // StreamStart
        let mut root = match self.event() {
            Some(Event::DocumentStart(_)) => {
                self.pos += 1;
                self.root_node()?
            }
            _ => Map::new(),
        };
        if matches!(self.event(), Some(Event::DocumentEnd)) {
            self.pos += 1;
        }
        if matches!(self.event(), Some(Event::DocumentStart(_))) {
            return Err(self.unsupported("multi-document yaml"));
        }
        let rest = std::mem::take(&mut self.comments);
        root.items_mut().extend(
            rest.into_iter()
                .map(|c| MapItem::Comment(SecretText::new(c.text))),
        );
        Ok(root)
    }

    fn root_node(&mut self) -> Result<Map, ParseError> {
        if matches!(self.event(), Some(Event::DocumentEnd)) {
            return Ok(Map::new());
        }
        match self.node()? {
            Value::Map(map) => Ok(map),
            Value::Null => Ok(Map::new()),
            other => Err(ParseError::RootNotMapping {
                found: other.kind(),
            }),
        }
    }

    fn node(&mut self) -> Result<Value, ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.unsupported("nesting deeper than 200 levels"));
        }
        let (value, anchor) = match self.toks.get(self.pos).map(|t| &t.event) {
            Some(Event::Scalar(text, style, anchor, tag)) => {
                let value = scalar_value(text, *style, tag.as_deref())
                    .ok_or_else(|| self.unsupported("a scalar that does not match its tag"))?;
                let anchor = *anchor;
                self.pos += 1;
                (value, anchor)
            }
            Some(Event::Alias(id)) => (self.alias(*id)?, 0),
            Some(Event::MappingStart(anchor, _)) => {
                let anchor = *anchor;
                self.depth += 1;
                let map = self.mapping();
                self.depth -= 1;
                (Value::Map(map?), anchor)
            }
            Some(Event::SequenceStart(anchor, _)) => {
                let anchor = *anchor;
                self.depth += 1;
                let list = self.sequence();
                self.depth -= 1;
                (Value::List(list?), anchor)
            }
            _ => return Err(self.unsupported("unexpected yaml event")),
        };
        if anchor > 0 {
            self.anchors
                .insert(anchor, (value.clone(), node_count(&value)));
        }
        Ok(value)
    }

    fn alias(&mut self, id: usize) -> Result<Value, ParseError> {
        let (value, size) = self
            .anchors
            .get(&id)
            .ok_or_else(|| self.unsupported("alias to an unknown anchor"))?;
        self.alias_nodes += size;
        if self.alias_nodes > MAX_ALIAS_NODES {
            return Err(self.unsupported("aliases expand to too many nodes"));
        }
        let value = value.clone();
        self.pos += 1;
        Ok(value)
    }

    /// Indentation of the collection starting at the current token, and whether it is a flow one.
    fn indent(&self) -> (usize, bool) {
        self.toks
            .get(self.pos)
            .map_or((0, false), |t| (t.indent, t.end > t.start))
    }

    fn mapping(&mut self) -> Result<Map, ParseError> {
        let (indent, flow) = self.indent();
        self.pos += 1;
        let mut map = Map::new();
        loop {
            if matches!(self.event(), Some(Event::MappingEnd)) {
                self.drain_trailing(indent, flow, |c| map.items_mut().push(MapItem::Comment(c)));
                self.pos += 1;
                return Ok(map);
            }
            self.drain_head(|c| map.items_mut().push(MapItem::Comment(c)));
            let key_line = self.line();
            let key = self.key()?;
            let mut inline = self.drain_inline(&[key_line]);
            let value = self.node()?;
            inline.extend(self.drain_inline(&[key_line, self.last_end_line()]));
            map.items_mut()
                .extend(inline.into_iter().map(MapItem::Comment));
            map.items_mut().push(MapItem::Entry(key, value));
        }
    }

    fn sequence(&mut self) -> Result<List, ParseError> {
        let (indent, flow) = self.indent();
        self.pos += 1;
        let mut list = List::new();
        loop {
            if matches!(self.event(), Some(Event::SequenceEnd)) {
                self.drain_trailing(indent, flow, |c| {
                    list.items_mut().push(ListItem::Comment(c))
                });
                self.pos += 1;
                return Ok(list);
            }
            self.drain_head(|c| list.items_mut().push(ListItem::Comment(c)));
            let item_line = self.line();
            let value = self.node()?;
            let inline = self.drain_inline(&[item_line, self.last_end_line()]);
            list.items_mut()
                .extend(inline.into_iter().map(ListItem::Comment));
            list.push(value);
        }
    }

    fn last_end_line(&self) -> usize {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.toks.get(i))
            .map_or(0, |t| t.end_line)
    }

    fn key(&mut self) -> Result<String, ParseError> {
        match self.event() {
            Some(Event::Scalar(text, ..)) => {
                let key = text.to_string();
                self.pos += 1;
                Ok(key)
            }
            _ => Err(self.unsupported("non-scalar mapping key")),
        }
    }

    /// Takes the comments that come before the current token.
    fn drain_head(&mut self, mut push: impl FnMut(SecretText)) {
        while let Some(c) = self.comments.front() {
            if c.before > self.pos {
                break;
            }
            if let Some(c) = self.comments.pop_front() {
                push(SecretText::new(c.text));
            }
        }
    }

    /// Takes the comments before a collection's end that are indented like its entries.
    fn drain_trailing(&mut self, indent: usize, flow: bool, mut push: impl FnMut(SecretText)) {
        while let Some(c) = self.comments.front() {
            if c.before > self.pos || (!flow && c.col < indent) {
                break;
            }
            if let Some(c) = self.comments.pop_front() {
                push(SecretText::new(c.text));
            }
        }
    }

    /// Takes same-line comments on `lines` that come before the current token.
    fn drain_inline(&mut self, lines: &[usize]) -> Vec<SecretText> {
        let mut out = Vec::new();
        while let Some(c) = self.comments.front() {
            if c.before > self.pos || !c.inline || !lines.contains(&c.line) {
                break;
            }
            if let Some(c) = self.comments.pop_front() {
                out.push(SecretText::new(c.text));
            }
        }
        out
    }
}

fn scalar_value(text: &str, style: ScalarStyle, tag: Option<&saphyr_parser::Tag>) -> Option<Value> {
    let quoted = style != ScalarStyle::Plain;
    match tag {
        Some(tag) if tag.handle == CORE_TAG => resolve_tagged(&tag.suffix, text, quoted),
        Some(_) | None if quoted => Some(Value::string(text)),
        _ => Some(resolve_plain(text)),
    }
}

fn node_count(value: &Value) -> usize {
    match value {
        Value::Map(map) => 1 + map.entries().map(|(_, v)| node_count(v)).sum::<usize>(),
        Value::List(list) => 1 + list.values().map(node_count).sum::<usize>(),
        _ => 1,
    }
}
