//! Formatting options of message text (`parse_mode`), parsed the way Telegram's server (tdlib)
//! parses them, including its error messages.
//!
//! The parsers turn marked-up text into plain text plus entities whose offsets and lengths are
//! counted in UTF-16 code units, as in the Bot API.

mod html;
mod markdown;
mod markdown_v2;

use serde_json::{Value, json};

/// Plain text and entities after parsing.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Parsed {
    pub text: String,
    pub entities: Vec<Value>,
}

/// Why text could not be parsed; rendered by Telegram as
/// `Bad Request: can't parse entities: {0}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError(pub String);

/// Why a `parse_mode` was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MarkupError {
    /// The text does not parse.
    Entities(ParseError),
    /// The parse mode is not one of Telegram's.
    UnsupportedMode,
}

/// Parses `text` according to `parse_mode` (`None` keeps it as is) and trims it like Telegram.
pub(crate) fn parse(text: &str, parse_mode: Option<&str>) -> Result<Parsed, MarkupError> {
    let parsed = match parse_mode.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => Ok(Parsed {
            text: text.to_owned(),
            entities: vec![],
        }),
        Some("markdownv2") => markdown_v2::parse(text),
        Some("markdown") => markdown::parse(text),
        Some("html") => html::parse(text),
        Some(_) => return Err(MarkupError::UnsupportedMode),
    };
    parsed.map(trim).map_err(MarkupError::Entities)
}

/// Length of `text` in UTF-16 code units, the unit of Telegram's limits and offsets.
pub(crate) fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// Builds an entity object.
pub(crate) fn entity(kind: &str, offset: usize, length: usize) -> Value {
    json!({ "type": kind, "offset": offset, "length": length })
}

/// Whether tdlib would accept `url` as the target of a link entity.
pub(crate) fn is_valid_link(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let has_scheme = ["http://", "https://", "tg://", "ton://"]
        .iter()
        .any(|scheme| lower.starts_with(scheme));
    !url.is_empty() && !url.contains(char::is_whitespace) && (has_scheme || url.contains('.'))
}

/// Strips leading and trailing whitespace like Telegram, shifting and clamping the entities.
fn trim(parsed: Parsed) -> Parsed {
    let trimmed_start = parsed.text.trim_start();
    let shift = utf16_len(&parsed.text[..parsed.text.len() - trimmed_start.len()]);
    let text = trimmed_start.trim_end().to_owned();
    let end = utf16_len(&text);
    let entities = parsed
        .entities
        .into_iter()
        .filter_map(|entity| clamp(entity, shift, end))
        .collect();
    Parsed { text, entities }
}

fn clamp(mut entity: Value, shift: usize, end: usize) -> Option<Value> {
    let offset = usize::try_from(entity["offset"].as_u64()?).ok()?;
    let length = usize::try_from(entity["length"].as_u64()?).ok()?;
    let start = offset.saturating_sub(shift).min(end);
    let stop = (offset + length).saturating_sub(shift).min(end);
    if stop <= start {
        return None;
    }
    entity["offset"] = json!(start);
    entity["length"] = json!(stop - start);
    Some(entity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_kept() {
        let parsed = parse("a.b!", None).expect("plain text parses");
        assert_eq!(parsed.text, "a.b!");
        assert!(parsed.entities.is_empty());
    }

    #[test]
    fn unknown_mode_is_rejected() {
        assert_eq!(
            parse("x", Some("BBCode")),
            Err(MarkupError::UnsupportedMode)
        );
    }

    #[test]
    fn trimming_shifts_entities() {
        let parsed = parse("  *bold*  ", Some("MarkdownV2")).expect("valid markdown");
        assert_eq!(parsed.text, "bold");
        assert_eq!(parsed.entities, vec![entity("bold", 0, 4)]);
    }

    #[test]
    fn utf16_counts_surrogate_pairs() {
        assert_eq!(utf16_len("a😀"), 3);
    }
}
