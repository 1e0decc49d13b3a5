//! Reading a unified diff: where line comments may go, and cutting a large diff for the model.

use std::collections::HashSet;

/// Returns every `(path, line)` of the new files that a review comment may point at: the added and context
/// lines of each hunk (GitHub refuses a review whose comments point anywhere else).
pub fn commentable_lines(diff: &str) -> HashSet<(String, u32)> {
    let mut lines = HashSet::new();
    let mut path: Option<String> = None;
    let mut next: u32 = 0;
    for line in diff.lines() {
        if let Some(rest) = line.strip_prefix("+++ ") {
            path = rest.strip_prefix("b/").map(str::to_owned);
        } else if line.starts_with("--- ") || line.starts_with("diff --git") {
            continue;
        } else if let Some(hunk) = line.strip_prefix("@@ ") {
            next = new_start(hunk).unwrap_or(0);
        } else if let Some(file) = &path {
            if next == 0 {
                continue;
            }
            match line.chars().next() {
                Some('+') | Some(' ') => {
                    lines.insert((file.clone(), next));
                    next += 1;
                }
                None => {
                    lines.insert((file.clone(), next));
                    next += 1;
                }
                _ => {}
            }
        }
    }
    lines
}

/// The first new-file line of a hunk header (`-a,b +c,d @@ …` → c).
fn new_start(hunk: &str) -> Option<u32> {
    let plus = hunk.split_whitespace().find(|p| p.starts_with('+'))?;
    plus[1..].split(',').next()?.parse().ok()
}

/// A diff as the model sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownDiff {
    /// The text (the whole diff, or its first lines).
    pub text: String,
    /// The full size in bytes.
    pub total_bytes: usize,
    /// True when `text` is only the beginning.
    pub truncated: bool,
}

/// Keeps the diff whole when it fits `max_bytes`, else cuts it at the last line boundary before the limit.
pub fn shown(diff: &str, max_bytes: usize) -> ShownDiff {
    if diff.len() <= max_bytes {
        return ShownDiff {
            text: diff.to_owned(),
            total_bytes: diff.len(),
            truncated: false,
        };
    }
    let mut cut = max_bytes;
    while !diff.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = &diff[..cut];
    let text = head.rfind('\n').map_or(head, |end| &head[..=end]);
    ShownDiff {
        text: text.to_owned(),
        total_bytes: diff.len(),
        truncated: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIFF: &str = "diff --git a/src/a.rs b/src/a.rs\nindex 1..2 100644\n--- a/src/a.rs\n+++ b/src/a.rs\n\
@@ -1,3 +1,4 @@\n fn a() {}\n-fn b() {}\n+fn b() -> u8 { 1 }\n+fn c() {}\n fn d() {}\n\
diff --git a/gone.txt b/gone.txt\ndeleted file mode 100644\n--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n";

    #[test]
    fn only_new_side_lines_of_hunks_are_commentable() {
        let lines = commentable_lines(DIFF);
        let mut got: Vec<_> = lines.iter().cloned().collect();
        got.sort();
        let want: Vec<(String, u32)> = (1..=4).map(|n| ("src/a.rs".to_owned(), n)).collect();
        assert_eq!(got, want);
        assert!(!lines.contains(&("gone.txt".to_owned(), 1)));
    }

    #[test]
    fn a_large_diff_is_cut_at_a_line_boundary() {
        let whole = shown(DIFF, 10_000);
        assert!(!whole.truncated && whole.text == DIFF);
        let cut = shown(DIFF, 70);
        assert!(cut.truncated && cut.text.ends_with('\n') && cut.text.len() <= 70);
        assert_eq!(cut.total_bytes, DIFF.len());
        let multibyte = "é\n".repeat(10);
        let cut = shown(&multibyte, 7);
        assert_eq!(cut.text, "é\né\n");
    }
}
