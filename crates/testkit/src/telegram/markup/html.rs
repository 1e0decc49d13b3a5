//! HTML parse mode, following tdlib's `parse_html`, including its error texts.

use serde_json::{Value, json};

use super::{ParseError, Parsed, entity, is_valid_link};

const SUPPORTED: &[&str] = &[
    "a",
    "b",
    "strong",
    "i",
    "em",
    "s",
    "strike",
    "del",
    "u",
    "ins",
    "tg-spoiler",
    "tg-emoji",
    "span",
    "pre",
    "code",
    "blockquote",
];

struct Open {
    tag: String,
    argument: String,
    utf16_start: usize,
    out_start: usize,
}

struct Parser<'a> {
    input: &'a [u8],
    out: String,
    utf16: usize,
    stack: Vec<Open>,
    entities: Vec<Value>,
}

/// Parses Telegram-flavoured HTML into plain text and entities.
pub(super) fn parse(text: &str) -> Result<Parsed, ParseError> {
    let mut parser = Parser {
        input: text.as_bytes(),
        out: String::with_capacity(text.len()),
        utf16: 0,
        stack: Vec::new(),
        entities: Vec::new(),
    };
    let mut i = 0;
    while i < text.len() {
        i = parser.step(text, i)?;
    }
    if let Some(open) = parser.stack.last() {
        return Err(ParseError(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            open.tag
        )));
    }
    Ok(Parsed {
        text: parser.out,
        entities: parser.entities,
    })
}

fn is_space(byte: u8) -> bool {
    b" \t\r\n\x0B\x0C".contains(&byte)
}

/// Decodes `&name;` / `&#N;` / `&#xN;` at `i`; returns the character and the index after `;`.
fn decode_entity(text: &str, i: usize) -> Option<(char, usize)> {
    let rest = &text[i + 1..];
    let end = rest.find(';').filter(|&end| end <= 10)?;
    let name = &rest[..end];
    let ch = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        _ => {
            let code = if let Some(hex) = name.strip_prefix("#x").or(name.strip_prefix("#X")) {
                u32::from_str_radix(hex, 16).ok()?
            } else {
                name.strip_prefix('#')?.parse().ok()?
            };
            char::from_u32(code).filter(|&c| c != '\0')?
        }
    };
    Some((ch, i + end + 2))
}

impl Parser<'_> {
    fn at(&self, i: usize) -> u8 {
        self.input.get(i).copied().unwrap_or(0)
    }

    fn push_char(&mut self, ch: char) {
        self.utf16 += ch.len_utf16();
        self.out.push(ch);
    }

    fn step(&mut self, text: &str, i: usize) -> Result<usize, ParseError> {
        let byte = self.input[i];
        if byte == b'&'
            && let Some((ch, next)) = decode_entity(text, i)
        {
            self.push_char(ch);
            return Ok(next);
        }
        if byte != b'<' {
            let ch = text[i..].chars().next().unwrap_or('\u{FFFD}');
            self.push_char(ch);
            return Ok(i + ch.len_utf8());
        }
        if self.at(i + 1) == b'/' {
            self.end_tag(text, i)
        } else {
            self.start_tag(text, i)
        }
    }

    fn start_tag(&mut self, text: &str, begin: usize) -> Result<usize, ParseError> {
        let mut i = begin + 1;
        while i < self.input.len() && !is_space(self.input[i]) && self.input[i] != b'>' {
            i += 1;
        }
        if i >= self.input.len() {
            return Err(ParseError(format!(
                "Unclosed start tag at byte offset {begin}"
            )));
        }
        let tag = text[begin + 1..i].to_ascii_lowercase();
        if !SUPPORTED.contains(&tag.as_str()) {
            return Err(ParseError(format!(
                "Unsupported start tag \"{tag}\" at byte offset {begin}"
            )));
        }
        let (argument, end) = self.attributes(text, &tag, begin, i)?;
        if tag == "span" && argument != "spoiler" {
            return Err(ParseError(format!(
                "Tag \"span\" must have class \"tg-spoiler\" at byte offset {begin}"
            )));
        }
        self.stack.push(Open {
            tag,
            argument,
            utf16_start: self.utf16,
            out_start: self.out.len(),
        });
        Ok(end + 1)
    }

    /// Parses `name="value"` pairs up to `>`; returns the tag's argument and the index of `>`.
    fn attributes(
        &self,
        text: &str,
        tag: &str,
        begin: usize,
        mut i: usize,
    ) -> Result<(String, usize), ParseError> {
        let mut argument = String::new();
        loop {
            while self.at(i) != 0 && is_space(self.at(i)) {
                i += 1;
            }
            if self.at(i) == b'>' {
                return Ok((argument, i));
            }
            let name_start = i;
            while self.at(i) != 0 && !is_space(self.at(i)) && self.at(i) != b'=' {
                i += 1;
            }
            let name = &text[name_start..i];
            if name.is_empty() {
                return Err(ParseError(format!(
                    "Empty attribute name in the tag \"{tag}\" at byte offset {begin}"
                )));
            }
            while self.at(i) != 0 && is_space(self.at(i)) {
                i += 1;
            }
            if self.at(i) != b'=' {
                return Err(ParseError(format!(
                    "Expected equal sign in declaration of an attribute of the tag \"{tag}\" at byte offset {begin}"
                )));
            }
            i += 1;
            while self.at(i) != 0 && is_space(self.at(i)) {
                i += 1;
            }
            let (value, next) = self.attribute_value(text, tag, begin, i)?;
            i = next;
            if self.at(i) == 0 {
                return Err(ParseError(format!(
                    "Unclosed start tag at byte offset {begin}"
                )));
            }
            apply_attribute(tag, name, value, &mut argument);
        }
    }

    fn attribute_value(
        &self,
        text: &str,
        tag: &str,
        begin: usize,
        mut i: usize,
    ) -> Result<(String, usize), ParseError> {
        let quote = self.at(i);
        if quote == 0 {
            return Err(ParseError(format!(
                "Unclosed start tag \"{tag}\" at byte offset {begin}"
            )));
        }
        if quote != b'"' && quote != b'\'' {
            let start = i;
            while self.at(i).is_ascii_alphanumeric() || self.at(i) == b'.' || self.at(i) == b'-' {
                i += 1;
            }
            if !is_space(self.at(i)) && self.at(i) != b'>' {
                return Err(ParseError(format!(
                    "Unexpected end of name token at byte offset {start}"
                )));
            }
            return Ok((text[start..i].to_ascii_lowercase(), i));
        }
        i += 1;
        let mut value = String::new();
        while self.at(i) != quote && self.at(i) != 0 {
            if let Some((ch, next)) = (self.at(i) == b'&')
                .then(|| decode_entity(text, i))
                .flatten()
            {
                value.push(ch);
                i = next;
                continue;
            }
            let ch = text[i..].chars().next().unwrap_or('\u{FFFD}');
            value.push(ch);
            i += ch.len_utf8();
        }
        if self.at(i) == quote {
            i += 1;
        }
        Ok((value, i))
    }

    fn end_tag(&mut self, text: &str, begin: usize) -> Result<usize, ParseError> {
        if self.stack.is_empty() {
            return Err(ParseError(format!(
                "Unexpected end tag at byte offset {begin}"
            )));
        }
        let mut i = begin + 2;
        while self.at(i) != 0 && !is_space(self.at(i)) && self.at(i) != b'>' {
            i += 1;
        }
        let name = &text[begin + 2..i];
        while self.at(i) != 0 && is_space(self.at(i)) {
            i += 1;
        }
        if self.at(i) != b'>' {
            return Err(ParseError(format!(
                "Unclosed end tag at byte offset {begin}"
            )));
        }
        let Some(open) = self.stack.pop() else {
            return Err(ParseError(format!(
                "Unexpected end tag at byte offset {begin}"
            )));
        };
        if !name.is_empty() && name != open.tag {
            return Err(ParseError(format!(
                "Unmatched end tag at byte offset {begin}, expected \"</{}>\", found \"</{name}>\"",
                open.tag
            )));
        }
        if self.utf16 > open.utf16_start {
            self.close(open);
        }
        Ok(i + 1)
    }

    fn close(&mut self, open: Open) {
        let length = self.utf16 - open.utf16_start;
        let start = open.utf16_start;
        let value = match open.tag.as_str() {
            "b" | "strong" => entity("bold", start, length),
            "i" | "em" => entity("italic", start, length),
            "u" | "ins" => entity("underline", start, length),
            "s" | "strike" | "del" => entity("strikethrough", start, length),
            "tg-spoiler" | "span" => entity("spoiler", start, length),
            "blockquote" => entity("blockquote", start, length),
            "code" => with_field(entity("code", start, length), "language", &open.argument),
            "pre" => self.pre_entity(start, length),
            "tg-emoji" => with_field(
                entity("custom_emoji", start, length),
                "custom_emoji_id",
                &open.argument,
            ),
            _ => {
                let url = if open.argument.is_empty() {
                    self.out[open.out_start..].to_owned()
                } else {
                    open.argument
                };
                if !is_valid_link(&url) {
                    return;
                }
                with_field(entity("text_link", start, length), "url", &url)
            }
        };
        self.entities.push(value);
    }

    /// `<pre><code class="language-x">…</code></pre>` becomes one `pre` entity with a language.
    fn pre_entity(&mut self, start: usize, length: usize) -> Value {
        let mut value = entity("pre", start, length);
        let inner_code = self.entities.last().is_some_and(|last| {
            last["type"] == "code" && last["offset"] == start && last["length"] == length
        });
        if inner_code
            && let Some(code) = self.entities.pop()
            && let Some(language) = code.get("language")
        {
            value["language"] = language.clone();
        }
        value
    }
}

fn apply_attribute(tag: &str, name: &str, value: String, argument: &mut String) {
    match (tag, name) {
        ("a", "href") | ("tg-emoji", "emoji-id") => *argument = value,
        ("code", "class") => {
            if let Some(language) = value.strip_prefix("language-") {
                *argument = language.to_owned();
            }
        }
        ("span", "class") => {
            if let Some(kind) = value.strip_prefix("tg-") {
                *argument = kind.to_owned();
            }
        }
        ("blockquote", "expandable") => *argument = "1".to_owned(),
        _ => {}
    }
}

fn with_field(mut value: Value, key: &str, field: &str) -> Value {
    if !field.is_empty() {
        value[key] = json!(field);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text).expect_err("invalid HTML").0
    }

    #[test]
    fn tags_become_entities() {
        let parsed =
            parse("<b>bold</b> &lt;x&gt; <a href=\"https://e.com\">link</a>").expect("valid");
        assert_eq!(parsed.text, "bold <x> link");
        assert_eq!(parsed.entities[0], entity("bold", 0, 4));
        assert_eq!(parsed.entities[1]["url"], "https://e.com");
    }

    #[test]
    fn pre_with_language() {
        let parsed = parse("<pre><code class=\"language-rust\">fn x</code></pre>").expect("valid");
        assert_eq!(parsed.entities.len(), 1);
        assert_eq!(parsed.entities[0]["language"], "rust");
    }

    #[test]
    fn errors_match_telegram() {
        assert_eq!(
            err("<b>x"),
            "Can't find end tag corresponding to start tag \"b\""
        );
        assert_eq!(
            err("a <div>x</div>"),
            "Unsupported start tag \"div\" at byte offset 2"
        );
        assert_eq!(
            err("<b>x</i>"),
            "Unmatched end tag at byte offset 4, expected \"</b>\", found \"</i>\""
        );
        assert_eq!(err("x</b>"), "Unexpected end tag at byte offset 1");
    }

    #[test]
    fn unknown_ampersand_is_literal() {
        assert_eq!(parse("a & b &foo;").expect("valid").text, "a & b &foo;");
    }
}
