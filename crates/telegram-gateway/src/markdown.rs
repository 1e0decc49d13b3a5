//! Text for Telegram: simple Markdown (`*bold*`, `_italic_`, `` `code` ``) turned into MarkdownV2 with every
//! other reserved character escaped, and long texts split into messages of at most 4,096 characters.

/// Characters MarkdownV2 reserves outside code.
const RESERVED: &str = "_*[]()~`>#+-=|{}.!\\";
/// Telegram's limit for one message.
pub const TELEGRAM_LIMIT: usize = 4096;

/// Converts simple Markdown to MarkdownV2. A marker is kept only when it opens and closes on the same line;
/// everything else is escaped, so Telegram never rejects the text.
pub fn to_markdown_v2(text: &str) -> String {
    text.split('\n')
        .map(convert_line)
        .collect::<Vec<_>>()
        .join("\n")
}

fn convert_line(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match closing(&chars, i) {
            Some(end) if "*_`".contains(c) => {
                out.push(c);
                let inner: String = chars[i + 1..end].iter().collect();
                out.push_str(&if c == '`' {
                    escape_code(&inner)
                } else {
                    escape(&inner)
                });
                out.push(c);
                i = end + 1;
            }
            _ => {
                push_escaped(&mut out, c);
                i += 1;
            }
        }
    }
    out
}

/// Finds the closing marker for a marker at `start`, requiring a non-empty span. Like CommonMark, `*` and `_`
/// only open at the start of a word and close at its end, so `snake_case_name` stays as written.
fn closing(chars: &[char], start: usize) -> Option<usize> {
    let marker = chars[start];
    if !"*_`".contains(marker) {
        return None;
    }
    let word_char = |i: Option<usize>| {
        i.and_then(|i| chars.get(i))
            .is_some_and(|c| c.is_alphanumeric())
    };
    let emphasis = marker != '`';
    if emphasis && word_char(start.checked_sub(1)) {
        return None;
    }
    (start + 2..chars.len())
        .find(|&end| chars[end] == marker && !(emphasis && word_char(Some(end + 1))))
}

/// Escapes every reserved character.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    text.chars().for_each(|c| push_escaped(&mut out, c));
    out
}

fn escape_code(text: &str) -> String {
    text.replace('\\', "\\\\").replace('`', "\\`")
}

fn push_escaped(out: &mut String, c: char) {
    if RESERVED.contains(c) {
        out.push('\\');
    }
    out.push(c);
}

/// Splits `text` into chunks whose rendering (by `render`) fits Telegram's limit, preferring line breaks.
pub fn split(text: &str, render: impl Fn(&str) -> String) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current = String::new();
    for line in text.split_inclusive('\n') {
        for piece in fit_line(line, &render) {
            let candidate = format!("{current}{piece}");
            if !current.is_empty() && render(&candidate).chars().count() > TELEGRAM_LIMIT {
                chunks.push(render(current.trim_end_matches('\n')));
                current = piece;
            } else {
                current = candidate;
            }
        }
    }
    if !current.trim().is_empty() || chunks.is_empty() {
        chunks.push(render(current.trim_end_matches('\n')));
    }
    chunks
}

/// Cuts one over-long line into pieces that fit on their own.
fn fit_line(line: &str, render: &impl Fn(&str) -> String) -> Vec<String> {
    if render(line).chars().count() <= TELEGRAM_LIMIT {
        return vec![line.to_owned()];
    }
    // Worst case every character doubles when escaped: halve the budget.
    let chars: Vec<char> = line.chars().collect();
    chars
        .chunks(TELEGRAM_LIMIT / 2)
        .map(|c| c.iter().collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_survive_and_the_rest_is_escaped() {
        assert_eq!(
            to_markdown_v2("*Spec* for weather-bot v1.0 (draft)!"),
            "*Spec* for weather\\-bot v1\\.0 \\(draft\\)\\!"
        );
        assert_eq!(
            to_markdown_v2("run `cargo test -p x`"),
            "run `cargo test -p x`"
        );
        assert_eq!(to_markdown_v2("a lone * star"), "a lone \\* star");
        assert_eq!(
            to_markdown_v2("snake_case_name and _italic_"),
            "snake\\_case\\_name and _italic_"
        );
    }

    #[test]
    fn markers_do_not_span_lines() {
        assert_eq!(to_markdown_v2("*a\nb*"), "\\*a\nb\\*");
    }

    #[test]
    fn long_text_is_split_on_lines_within_the_limit() {
        let line = format!("{}\n", "x.".repeat(500));
        let text = line.repeat(10);
        let chunks = split(&text, to_markdown_v2);
        assert!(chunks.len() > 1);
        assert!(chunks.iter().all(|c| c.chars().count() <= TELEGRAM_LIMIT));
        let rejoined: String = chunks.join("\n");
        assert_eq!(rejoined.matches("x\\.").count(), 5000, "nothing lost");
    }

    #[test]
    fn a_single_huge_line_is_cut() {
        let text = "y".repeat(10_000);
        let chunks = split(&text, |s| s.to_owned());
        assert!(chunks.iter().all(|c| c.chars().count() <= TELEGRAM_LIMIT));
        assert_eq!(chunks.concat().len(), 10_000);
    }

    #[test]
    fn a_short_text_is_one_chunk() {
        assert_eq!(split("hello", escape), vec!["hello".to_owned()]);
    }
}
