//! `MarkdownV2`, following tdlib's `parse_markdown_v2` step by step, including its error texts.

use serde_json::{Value, json};

use super::{ParseError, Parsed, entity, is_valid_link};

/// Characters that must be escaped with `\` outside code entities.
const RESERVED: &[u8] = b"_*[]()~`>#+-=|{}.!";
/// Inside `code` and `pre` only the backtick is special.
const RESERVED_IN_CODE: &[u8] = b"`";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bold,
    Italic,
    Underline,
    Strikethrough,
    Spoiler,
    Code,
    Pre,
    PreCode,
    TextUrl,
    CustomEmoji,
}

impl Kind {
    /// tdlib's name of the entity type, used in error texts.
    fn name(self) -> &'static str {
        match self {
            Self::Bold => "Bold",
            Self::Italic => "Italic",
            Self::Underline => "Underline",
            Self::Strikethrough => "Strikethrough",
            Self::Spoiler => "Spoiler",
            Self::Code => "Code",
            Self::Pre => "Pre",
            Self::PreCode => "PreCode",
            Self::TextUrl => "TextUrl",
            Self::CustomEmoji => "CustomEmoji",
        }
    }

    fn is_code(self) -> bool {
        matches!(self, Self::Code | Self::Pre | Self::PreCode)
    }
}

/// An entity whose closing marker has not been seen yet.
struct Open {
    kind: Kind,
    language: String,
    utf16_start: usize,
    byte_offset: usize,
    out_start: usize,
}

struct Parser<'a> {
    input: &'a [u8],
    out: Vec<u8>,
    utf16: usize,
    stack: Vec<Open>,
    entities: Vec<Value>,
    quote_start: Option<usize>,
}

/// Parses MarkdownV2 text into plain text and entities.
pub(super) fn parse(text: &str) -> Result<Parsed, ParseError> {
    let mut parser = Parser {
        input: text.as_bytes(),
        out: Vec::with_capacity(text.len()),
        utf16: 0,
        stack: Vec::new(),
        entities: Vec::new(),
        quote_start: None,
    };
    let mut i = 0;
    while i < parser.input.len() {
        i = parser.step(i)?;
    }
    parser.finish()
}

fn escapable(byte: u8) -> bool {
    (1..=126).contains(&byte)
}

fn reserved_error(byte: u8) -> ParseError {
    ParseError(format!(
        "Character '{}' is reserved and must be escaped with the preceding '\\'",
        char::from(byte)
    ))
}

impl Parser<'_> {
    fn at(&self, i: usize) -> u8 {
        self.input.get(i).copied().unwrap_or(0)
    }

    fn in_code(&self) -> bool {
        self.stack.last().is_some_and(|open| open.kind.is_code())
    }

    fn push(&mut self, byte: u8) {
        if byte & 0xC0 != 0x80 {
            self.utf16 += if byte >= 0xF0 { 2 } else { 1 };
        }
        self.out.push(byte);
    }

    /// Handles the byte at `i`; returns the index of the next byte to look at.
    fn step(&mut self, i: usize) -> Result<usize, ParseError> {
        let byte = self.input[i];
        let at_line_start = i == 0 || self.input[i - 1] == b'\n';
        if at_line_start && !self.in_code() {
            if byte == b'>' {
                self.quote_start.get_or_insert(self.utf16);
                return Ok(i + 1);
            }
            self.close_quote();
        }
        if byte == b'\\' && escapable(self.at(i + 1)) {
            self.push(self.input[i + 1]);
            return Ok(i + 2);
        }
        let reserved = if self.in_code() {
            RESERVED_IN_CODE
        } else {
            RESERVED
        };
        if !reserved.contains(&byte) {
            self.push(byte);
            return Ok(i + 1);
        }
        if self.closes_here(i) {
            self.close(i)
        } else {
            self.open(i)
        }
    }

    fn closes_here(&self, i: usize) -> bool {
        let Some(open) = self.stack.last() else {
            return false;
        };
        let (c, next, after) = (self.at(i), self.at(i + 1), self.at(i + 2));
        match open.kind {
            Kind::Bold => c == b'*',
            Kind::Italic => c == b'_' && next != b'_',
            Kind::Code => c == b'`',
            Kind::Pre | Kind::PreCode => c == b'`' && next == b'`' && after == b'`',
            Kind::TextUrl | Kind::CustomEmoji => c == b']',
            Kind::Underline => c == b'_' && next == b'_',
            Kind::Strikethrough => c == b'~',
            Kind::Spoiler => c == b'|' && next == b'|',
        }
    }

    fn open(&mut self, i: usize) -> Result<usize, ParseError> {
        let (c, next) = (self.at(i), self.at(i + 1));
        let (kind, resume) = match c {
            b'_' if next == b'_' => (Kind::Underline, i + 2),
            b'_' => (Kind::Italic, i + 1),
            b'*' => (Kind::Bold, i + 1),
            b'~' => (Kind::Strikethrough, i + 1),
            b'|' if next == b'|' => (Kind::Spoiler, i + 2),
            b'[' => (Kind::TextUrl, i + 1),
            b'`' if next == b'`' && self.at(i + 2) == b'`' => return Ok(self.open_pre(i)),
            b'`' => (Kind::Code, i + 1),
            b'!' if next == b'[' => (Kind::CustomEmoji, i + 2),
            _ => return Err(reserved_error(c)),
        };
        self.push_open(kind, String::new(), i);
        Ok(resume)
    }

    fn push_open(&mut self, kind: Kind, language: String, byte_offset: usize) {
        self.stack.push(Open {
            kind,
            language,
            utf16_start: self.utf16,
            byte_offset,
            out_start: self.out.len(),
        });
    }

    /// Opens a ```` ``` ```` block with an optional language; skips one leading newline.
    fn open_pre(&mut self, i: usize) -> usize {
        let mut j = i + 3;
        let mut language_end = j;
        while language_end < self.input.len()
            && !b" \t\r\n\x0B".contains(&self.input[language_end])
            && self.input[language_end] != b'`'
        {
            language_end += 1;
        }
        let mut kind = Kind::Pre;
        let mut language = String::new();
        if j != language_end && language_end < self.input.len() && self.input[language_end] != b'`'
        {
            kind = Kind::PreCode;
            language = String::from_utf8_lossy(&self.input[j..language_end]).into_owned();
            j = language_end;
        }
        let (first, second) = (self.at(j), self.at(j + 1));
        if first == b'\n' || first == b'\r' {
            let pair = (second == b'\n' || second == b'\r') && first != second;
            j += if pair { 2 } else { 1 };
        }
        self.push_open(kind, language, i);
        j
    }

    fn close(&mut self, i: usize) -> Result<usize, ParseError> {
        let Some(open) = self.stack.pop() else {
            return Ok(i + 1);
        };
        let empty = self.utf16 == open.utf16_start;
        let length = self.utf16 - open.utf16_start;
        let (value, resume) = match open.kind {
            Kind::Bold => (entity("bold", open.utf16_start, length), i + 1),
            Kind::Italic => (entity("italic", open.utf16_start, length), i + 1),
            Kind::Strikethrough => (entity("strikethrough", open.utf16_start, length), i + 1),
            Kind::Code => (entity("code", open.utf16_start, length), i + 1),
            Kind::Underline => (entity("underline", open.utf16_start, length), i + 2),
            Kind::Spoiler => (entity("spoiler", open.utf16_start, length), i + 2),
            Kind::Pre | Kind::PreCode => (pre_entity(&open, length), i + 3),
            Kind::TextUrl | Kind::CustomEmoji => {
                let (url, resume) = self.read_url(i, &open)?;
                match link_entity(&open, length, &url)? {
                    Some(value) => (value, resume),
                    None => return Ok(resume),
                }
            }
        };
        if !empty {
            self.entities.push(value);
        }
        Ok(resume)
    }

    /// Reads the `(url)` after `]`, or uses the link text when there is none.
    fn read_url(&self, i: usize, open: &Open) -> Result<(String, usize), ParseError> {
        if self.at(i + 1) != b'(' {
            let text = String::from_utf8_lossy(&self.out[open.out_start..]).into_owned();
            return Ok((text, i + 1));
        }
        let begin = i + 2;
        let mut j = begin;
        let mut url = Vec::new();
        while j < self.input.len() && self.input[j] != b')' {
            if self.input[j] == b'\\' && escapable(self.at(j + 1)) {
                url.push(self.input[j + 1]);
                j += 2;
                continue;
            }
            url.push(self.input[j]);
            j += 1;
        }
        if self.at(j) != b')' {
            return Err(ParseError(format!(
                "Can't find end of a URL at byte offset {begin}"
            )));
        }
        Ok((String::from_utf8_lossy(&url).into_owned(), j + 1))
    }

    fn close_quote(&mut self) {
        let Some(start) = self.quote_start.take() else {
            return;
        };
        let end = if self.out.last() == Some(&b'\n') {
            self.utf16 - 1
        } else {
            self.utf16
        };
        if end > start {
            self.entities.push(entity("blockquote", start, end - start));
        }
    }

    fn finish(mut self) -> Result<Parsed, ParseError> {
        if let Some(open) = self.stack.last() {
            return Err(ParseError(format!(
                "Can't find end of {} entity at byte offset {}",
                open.kind.name(),
                open.byte_offset
            )));
        }
        self.close_quote();
        self.entities.sort_by_key(|value| {
            let offset = value["offset"].as_u64().unwrap_or(0);
            let length = value["length"].as_u64().unwrap_or(0);
            (offset, u64::MAX - length)
        });
        Ok(Parsed {
            text: String::from_utf8_lossy(&self.out).into_owned(),
            entities: self.entities,
        })
    }
}

fn pre_entity(open: &Open, length: usize) -> Value {
    let mut value = entity("pre", open.utf16_start, length);
    if open.kind == Kind::PreCode {
        value["language"] = json!(open.language);
    }
    value
}

/// A `text_link` (dropped silently when the URL is invalid, as tdlib does) or a `custom_emoji`.
fn link_entity(open: &Open, length: usize, url: &str) -> Result<Option<Value>, ParseError> {
    if open.kind == Kind::CustomEmoji {
        let id = url
            .strip_prefix("tg://emoji?id=")
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                ParseError("Custom emoji entity must contain a tg://emoji URL".into())
            })?;
        let mut value = entity("custom_emoji", open.utf16_start, length);
        value["custom_emoji_id"] = json!(id);
        return Ok(Some(value));
    }
    if !is_valid_link(url) {
        return Ok(None);
    }
    let mut value = entity("text_link", open.utf16_start, length);
    value["url"] = json!(url);
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Parsed {
        parse(text).expect("valid MarkdownV2")
    }

    fn err(text: &str) -> String {
        parse(text).expect_err("invalid MarkdownV2").0
    }

    #[test]
    fn unescaped_reserved_character_is_an_error() {
        assert_eq!(
            err("Hello. World"),
            "Character '.' is reserved and must be escaped with the preceding '\\'"
        );
        assert_eq!(
            err("1-2"),
            "Character '-' is reserved and must be escaped with the preceding '\\'"
        );
    }

    #[test]
    fn escaped_characters_are_literal() {
        let parsed = ok("Hello\\. 1\\-2\\!");
        assert_eq!(parsed.text, "Hello. 1-2!");
        assert!(parsed.entities.is_empty());
    }

    #[test]
    fn bold_italic_underline_entities() {
        let parsed = ok("*b* _i_ __u__ ~s~ ||sp||");
        assert_eq!(parsed.text, "b i u s sp");
        let kinds: Vec<_> = parsed.entities.iter().map(|e| e["type"].clone()).collect();
        assert_eq!(
            kinds,
            vec![
                json!("bold"),
                json!("italic"),
                json!("underline"),
                json!("strikethrough"),
                json!("spoiler")
            ]
        );
    }

    #[test]
    fn unclosed_entity_names_type_and_offset() {
        assert_eq!(
            err("ab *bold"),
            "Can't find end of Bold entity at byte offset 3"
        );
        assert_eq!(
            err("_x"),
            "Can't find end of Italic entity at byte offset 0"
        );
    }

    #[test]
    fn code_only_reserves_backtick() {
        let parsed = ok("`a.b-c` ```rust\nfn x() {}```");
        assert_eq!(parsed.text, "a.b-c fn x() {}");
        assert_eq!(parsed.entities[1]["type"], "pre");
        assert_eq!(parsed.entities[1]["language"], "rust");
    }

    #[test]
    fn text_link_with_url() {
        let parsed = ok("[docs](https://example.com/a\\)b)");
        assert_eq!(parsed.text, "docs");
        assert_eq!(parsed.entities[0]["url"], "https://example.com/a)b");
        assert_eq!(
            err("[x](http://a"),
            "Can't find end of a URL at byte offset 4"
        );
    }

    #[test]
    fn offsets_are_utf16() {
        let parsed = ok("😀 *x*");
        assert_eq!(parsed.entities[0]["offset"], 3);
    }

    #[test]
    fn blockquote_at_line_start() {
        let parsed = ok(">quoted\nplain");
        assert_eq!(parsed.text, "quoted\nplain");
        assert_eq!(parsed.entities[0], entity("blockquote", 0, 6));
        assert_eq!(
            err("a > b"),
            "Character '>' is reserved and must be escaped with the preceding '\\'"
        );
    }
}
