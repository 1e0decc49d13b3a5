//! Legacy `Markdown` parse mode, following tdlib's `parse_markdown`, including its error texts.

use serde_json::json;

use super::{ParseError, Parsed, entity, is_valid_link};

/// Parses legacy Markdown (`*bold*`, `_italic_`, `` `code` ``, ```` ```pre``` ````, `[text](url)`).
pub(super) fn parse(text: &str) -> Result<Parsed, ParseError> {
    let input = text.as_bytes();
    let at = |i: usize| input.get(i).copied().unwrap_or(0);
    let mut out: Vec<u8> = Vec::with_capacity(input.len());
    let mut utf16 = 0usize;
    let mut entities = Vec::new();
    let mut i = 0;
    while i < input.len() {
        let c = input[i];
        if c == b'\\' && b"_*`[".contains(&at(i + 1)) {
            out.push(input[i + 1]);
            utf16 += 1;
            i += 2;
            continue;
        }
        if !b"_*`[".contains(&c) {
            push(&mut out, &mut utf16, c);
            i += 1;
            continue;
        }
        let begin = i;
        let end_char = if c == b'[' { b']' } else { c };
        i += 1;
        let mut pre: Option<String> = None;
        if c == b'`' && at(i) == b'`' && at(i + 1) == b'`' {
            let (language, next) = pre_header(input, i + 2);
            pre = Some(language);
            i = next;
        }
        let start = utf16;
        let out_start = out.len();
        while i < input.len()
            && (input[i] != end_char
                || (pre.is_some() && !(at(i + 1) == b'`' && at(i + 2) == b'`')))
        {
            push(&mut out, &mut utf16, input[i]);
            i += 1;
        }
        if i == input.len() {
            return Err(ParseError(format!(
                "Can't find end of the entity starting at byte offset {begin}"
            )));
        }
        let length = utf16 - start;
        match c {
            b'_' => entities.push(entity("italic", start, length)),
            b'*' => entities.push(entity("bold", start, length)),
            b'[' => {
                let (url, next) = link_target(input, i, &out[out_start..])?;
                i = next;
                if is_valid_link(&url) {
                    let mut value = entity("text_link", start, length);
                    value["url"] = json!(url);
                    entities.push(value);
                }
            }
            _ => match &pre {
                Some(language) => {
                    let mut value = entity("pre", start, length);
                    if !language.is_empty() {
                        value["language"] = json!(language);
                    }
                    entities.push(value);
                    i += 2;
                }
                None => entities.push(entity("code", start, length)),
            },
        }
        entities.retain(|value| value["length"] != 0);
        i += 1;
    }
    Ok(Parsed {
        text: String::from_utf8_lossy(&out).into_owned(),
        entities,
    })
}

fn push(out: &mut Vec<u8>, utf16: &mut usize, byte: u8) {
    if byte & 0xC0 != 0x80 {
        *utf16 += if byte >= 0xF0 { 2 } else { 1 };
    }
    out.push(byte);
}

/// Reads an optional language after ```` ``` ```` and skips one newline.
fn pre_header(input: &[u8], mut i: usize) -> (String, usize) {
    let mut end = i;
    while end < input.len() && !b" \t\r\n\x0B".contains(&input[end]) && input[end] != b'`' {
        end += 1;
    }
    let mut language = String::new();
    if i != end && end < input.len() && input[end] != b'`' {
        language = String::from_utf8_lossy(&input[i..end]).into_owned();
        i = end;
    }
    let at = |j: usize| input.get(j).copied().unwrap_or(0);
    if at(i) == b'\n' || at(i) == b'\r' {
        let pair = (at(i + 1) == b'\n' || at(i + 1) == b'\r') && at(i) != at(i + 1);
        i += if pair { 2 } else { 1 };
    }
    (language, i)
}

/// Reads `(url)` after the `]` at `i`; returns the URL and the index of the last byte consumed.
fn link_target(input: &[u8], i: usize, label: &[u8]) -> Result<(String, usize), ParseError> {
    if input.get(i + 1) != Some(&b'(') {
        return Ok((String::from_utf8_lossy(label).into_owned(), i));
    }
    let begin = i + 2;
    let mut j = begin;
    while j < input.len() && input[j] != b')' {
        j += 1;
    }
    if j >= input.len() {
        return Err(ParseError(format!(
            "Can't find end of a URL at byte offset {begin}"
        )));
    }
    Ok((String::from_utf8_lossy(&input[begin..j]).into_owned(), j))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_entities() {
        let parsed = parse("*b* _i_ `c` [l](https://e.com). ok!").expect("valid");
        assert_eq!(parsed.text, "b i c l. ok!");
        assert_eq!(parsed.entities.len(), 4);
        assert_eq!(parsed.entities[3]["url"], "https://e.com");
    }

    #[test]
    fn unclosed_entity() {
        assert_eq!(
            parse("a *b").expect_err("unclosed").0,
            "Can't find end of the entity starting at byte offset 2"
        );
    }

    #[test]
    fn pre_block() {
        let parsed = parse("```py\nprint()```").expect("valid");
        assert_eq!(parsed.text, "print()");
        assert_eq!(parsed.entities[0]["language"], "py");
    }
}
