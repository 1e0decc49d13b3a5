//! Locating a line comment in a unified diff, as GitHub does to validate `line`/`side` and to
//! fill `position` and `diff_hunk`.

/// Where a comment lands in a file's diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located {
    /// Lines below the file's first `@@` header (GitHub's legacy `position`).
    pub position: u64,
    /// The line in the file on `side`.
    pub line: u64,
    /// `RIGHT` (new file) or `LEFT` (old file).
    pub side: &'static str,
    /// The hunk header and lines up to the commented one.
    pub diff_hunk: String,
}

/// What the comment targets.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// A line number on a side (`RIGHT` unless `left`).
    Line { line: u64, left: bool },
    /// A legacy diff position.
    Position(u64),
}

/// The diff section of `path`, if the diff touches it.
fn file_section<'a>(diff: &'a str, path: &str) -> Option<Vec<&'a str>> {
    let mut sections: Vec<Vec<&str>> = Vec::new();
    for l in diff.lines() {
        if l.starts_with("diff --git ") {
            sections.push(Vec::new());
        }
        if let Some(s) = sections.last_mut() {
            s.push(l);
        }
    }
    let names = |s: &Vec<&str>| {
        let new = s.iter().find_map(|l| l.strip_prefix("+++ b/"));
        let old = s.iter().find_map(|l| l.strip_prefix("--- a/"));
        new == Some(path) || (new.is_none() && old == Some(path))
    };
    sections.into_iter().find(names)
}

fn hunk_start(header: &str) -> Option<(u64, u64)> {
    let mut parts = header.split_whitespace().skip(1);
    let num = |p: Option<&str>, sign: char| {
        p?.strip_prefix(sign)?
            .split(',')
            .next()?
            .parse::<u64>()
            .ok()
    };
    Some((num(parts.next(), '-')?, num(parts.next(), '+')?))
}

/// Finds `target` in the diff of `path`; `None` when the line is not part of the diff.
pub(crate) fn locate(diff: &str, path: &str, target: Target) -> Option<Located> {
    let section = file_section(diff, path)?;
    let first = section.iter().position(|l| l.starts_with("@@"))?;
    let (mut old, mut new, mut hunk) = (0u64, 0u64, Vec::<&str>::new());
    for (i, l) in section[first..].iter().enumerate() {
        let position = i as u64;
        if l.starts_with("@@") {
            (old, new) = hunk_start(l)?;
            hunk = vec![*l];
            continue;
        }
        hunk.push(l);
        let (left, right) = match l.chars().next() {
            Some('+') => (None, Some(new)),
            Some('-') => (Some(old), None),
            Some(' ') => (Some(old), Some(new)),
            _ => (None, None),
        };
        old += u64::from(left.is_some());
        new += u64::from(right.is_some());
        let hit = match target {
            Target::Position(p) => {
                (p == position).then(|| right.map_or((left, true), |r| (Some(r), false)))
            }
            Target::Line { line, left: true } => (left == Some(line)).then_some((left, true)),
            Target::Line { line, left: false } => (right == Some(line)).then_some((right, false)),
        };
        if let Some((Some(line), is_left)) = hit {
            let side = if is_left { "LEFT" } else { "RIGHT" };
            return Some(Located {
                position,
                line,
                side,
                diff_hunk: hunk.join("\n"),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIFF: &str = "diff --git a/a.txt b/a.txt\nindex 1..2 100644\n--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,3 @@\n one\n-two\n+deux\n+trois\ndiff --git a/b.txt b/b.txt\nnew file mode 100644\n--- /dev/null\n+++ b/b.txt\n@@ -0,0 +1 @@\n+hello\n";

    #[test]
    fn finds_added_line_on_right() {
        let l = locate(
            DIFF,
            "a.txt",
            Target::Line {
                line: 3,
                left: false,
            },
        )
        .expect("in diff");
        assert_eq!((l.position, l.side), (4, "RIGHT"));
        assert!(l.diff_hunk.ends_with("+trois"));
    }

    #[test]
    fn finds_removed_line_on_left_and_rejects_others() {
        assert_eq!(
            locate(
                DIFF,
                "a.txt",
                Target::Line {
                    line: 2,
                    left: true
                }
            )
            .map(|l| l.position),
            Some(2)
        );
        assert!(
            locate(
                DIFF,
                "a.txt",
                Target::Line {
                    line: 9,
                    left: false
                }
            )
            .is_none()
        );
        assert!(
            locate(
                DIFF,
                "missing.txt",
                Target::Line {
                    line: 1,
                    left: false
                }
            )
            .is_none()
        );
        assert_eq!(
            locate(DIFF, "b.txt", Target::Position(1)).map(|l| l.line),
            Some(1)
        );
    }
}
