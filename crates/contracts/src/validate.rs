//! A small collector of rule violations, so a message reports every problem at once.

use std::fmt;

/// Collects the rules a message breaks; empty means valid.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Violations(Vec<String>);

impl Violations {
    /// Creates an empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `message` when `ok` is false.
    pub fn check(&mut self, ok: bool, message: impl FnOnce() -> String) -> &mut Self {
        if !ok {
            self.0.push(message());
        }
        self
    }

    /// Records a violation unconditionally.
    pub fn push(&mut self, message: impl Into<String>) {
        self.0.push(message.into());
    }

    /// Checks that `value` is non-empty (after trimming) and at most `max` characters long.
    pub fn text(&mut self, field: &str, value: &str, max: usize) -> &mut Self {
        self.check(!value.trim().is_empty(), || format!("{field} is empty"));
        let len = value.chars().count();
        self.check(len <= max, || {
            format!("{field} is {len} characters long (at most {max})")
        })
    }

    /// Checks that an optional text, when present, satisfies [`Violations::text`].
    pub fn optional_text(&mut self, field: &str, value: Option<&str>, max: usize) -> &mut Self {
        if let Some(value) = value {
            self.text(field, value, max);
        }
        self
    }

    /// Checks that `value` is a usable identifier: 1..=`max` chars of `[A-Za-z0-9._/:-]`.
    pub fn slug(&mut self, field: &str, value: &str, max: usize) -> &mut Self {
        let ok = !value.is_empty()
            && value.len() <= max
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._/:-".contains(c));
        self.check(ok, || {
            format!("{field} `{value}` must be 1..={max} characters of [A-Za-z0-9._/:-]")
        })
    }

    /// Returns true when no rule was broken.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Returns the recorded violations.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Turns the collector into a result: `Ok(())` when empty.
    pub fn into_result(self) -> Result<(), Violations> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_violation() {
        let mut v = Violations::new();
        v.text("title", " ", 10)
            .slug("branch", "a b", 20)
            .text("ok", "fine", 10);
        assert_eq!(v.as_slice().len(), 2, "{v}");
        assert!(v.to_string().contains("title is empty"));
        assert!(v.to_string().contains("branch `a b`"));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let mut v = Violations::new();
        v.text("t", "ééé", 3);
        assert!(v.is_empty(), "{v}");
    }
}
