//! Paths into a document: `llm.providers[0].api_key`, `["key.with.dots"][1]`, or a list of segments.

use std::fmt;
use std::str::FromStr;

use crate::error::PathError;

/// One step of a [`KeyPath`]: a map key or a list index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A map key.
    Key(String),
    /// A list index (comments are not counted).
    Index(usize),
}

/// A path from the document root to a value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct KeyPath {
    segments: Vec<Segment>,
}

impl KeyPath {
    /// Builds a path from segments.
    pub fn new(segments: Vec<Segment>) -> Self {
        Self { segments }
    }

    /// Builds a path of map keys only, e.g. `["llm", "providers"]`.
    pub fn from_keys<I, S>(keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(keys.into_iter().map(|k| Segment::Key(k.into())).collect())
    }

    /// Parses the dotted/bracket form: `a.b[0].c`, `a["x.y"]`, `['a'][0]`.
    pub fn parse(input: &str) -> Result<Self, PathError> {
        PathParser::new(input).parse()
    }

    /// Returns the segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Tells whether this is the root path.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }
}

impl FromStr for KeyPath {
    type Err = PathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Index(n) => write!(f, "[{n}]")?,
                Segment::Key(key) if is_bare_key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(key)?;
                }
                Segment::Key(key) => write!(f, "[{}]", quote(key))?,
            }
        }
        Ok(())
    }
}

fn is_bare_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key
            .chars()
            .all(|c| !matches!(c, '.' | '[' | ']' | '"' | '\'') && !c.is_whitespace())
}

fn quote(key: &str) -> String {
    let escaped = key.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

struct PathParser<'a> {
    input: &'a str,
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    segments: Vec<Segment>,
}

impl<'a> PathParser<'a> {
    fn new(input: &'a str) -> Self {
        Self {
            input,
            chars: input.char_indices().peekable(),
            segments: Vec::new(),
        }
    }

    fn error(&self, position: usize, reason: &'static str) -> PathError {
        PathError::Syntax {
            path: self.input.to_owned(),
            position,
            reason,
        }
    }

    fn parse(mut self) -> Result<KeyPath, PathError> {
        if self.input.is_empty() {
            return Err(self.error(0, "empty path"));
        }
        let mut first = true;
        while let Some(&(pos, c)) = self.chars.peek() {
            match c {
                '[' => self.bracket()?,
                '.' if !first => {
                    self.chars.next();
                    self.bare_key(pos + 1)?;
                }
                '.' => return Err(self.error(pos, "path starts with '.'")),
                _ if first => self.bare_key(pos)?,
                _ => return Err(self.error(pos, "expected '.' or '['")),
            }
            first = false;
        }
        Ok(KeyPath::new(self.segments))
    }

    fn bare_key(&mut self, start: usize) -> Result<(), PathError> {
        let mut key = String::new();
        while let Some(&(_, c)) = self.chars.peek() {
            if c == '.' || c == '[' {
                break;
            }
            if c == ']' {
                return Err(self.error(start, "unexpected ']'"));
            }
            key.push(c);
            self.chars.next();
        }
        if key.is_empty() {
            return Err(self.error(start, "empty key"));
        }
        self.segments.push(Segment::Key(key));
        Ok(())
    }

    fn bracket(&mut self) -> Result<(), PathError> {
        let (start, _) = self.chars.next().ok_or_else(|| self.error(0, "eof"))?;
        let segment = match self.chars.peek() {
            Some(&(_, '"' | '\'')) => Segment::Key(self.quoted(start)?),
            _ => Segment::Index(self.index(start)?),
        };
        match self.chars.next() {
            Some((_, ']')) => {
                self.segments.push(segment);
                Ok(())
            }
            _ => Err(self.error(start, "unclosed '['")),
        }
    }

    fn index(&mut self, start: usize) -> Result<usize, PathError> {
        let mut digits = String::new();
        while let Some(&(_, c)) = self.chars.peek() {
            if !c.is_ascii_digit() {
                break;
            }
            digits.push(c);
            self.chars.next();
        }
        digits
            .parse()
            .map_err(|_| self.error(start, "expected a list index or a quoted key"))
    }

    fn quoted(&mut self, start: usize) -> Result<String, PathError> {
        let (_, quote_char) = self.chars.next().ok_or_else(|| self.error(start, "eof"))?;
        let mut key = String::new();
        loop {
            match self.chars.next() {
                None => return Err(self.error(start, "unterminated quoted key")),
                Some((_, c)) if c == quote_char => return Ok(key),
                Some((_, '\\')) => match self.chars.next() {
                    Some((_, c)) => key.push(c),
                    None => return Err(self.error(start, "unterminated escape")),
                },
                Some((_, c)) => key.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Segment {
        Segment::Key(k.to_owned())
    }

    #[test]
    fn parses_dotted_and_bracket_forms() {
        let path = KeyPath::parse("llm.providers[0].api_key").expect("valid path");
        assert_eq!(
            path.segments(),
            [
                key("llm"),
                key("providers"),
                Segment::Index(0),
                key("api_key")
            ]
        );
        let path = KeyPath::parse(r#"["a.b"]['c'][12].d"#).expect("valid path");
        assert_eq!(
            path.segments(),
            [key("a.b"), key("c"), Segment::Index(12), key("d")]
        );
        let path = KeyPath::parse("nested_list[1][0]").expect("valid path");
        assert_eq!(
            path.segments(),
            [key("nested_list"), Segment::Index(1), Segment::Index(0)]
        );
    }

    #[test]
    fn rejects_malformed_paths() {
        for bad in ["", ".a", "a..b", "a[", "a[x]", "a]", "a[\"x", "a[0]b"] {
            assert!(KeyPath::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["a.b[0].c", r#"a["x.y"][2]"#, r#"["1st"].b"#] {
            let path = KeyPath::parse(text).expect("valid path");
            assert_eq!(path.to_string(), text);
            assert_eq!(KeyPath::parse(&path.to_string()).expect("valid"), path);
        }
    }
}
