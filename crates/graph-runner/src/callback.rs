//! Button callback data: `approve:<project>:<rev>` and `change:<project>:<rev>`.
//!
//! The project (32 hex digits) and the spec revision make every button specific: a press on a button of an
//! older spec, or of a project that was set aside, is recognised as stale instead of acting on the current one.

use orch_contracts::ProjectId;
use orch_contracts::messages::chat::Button;
use uuid::Uuid;

/// What a button asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Approve the spec.
    Approve,
    /// Change the spec.
    Change,
}

/// Parsed callback data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ButtonData {
    /// Approve or Change.
    pub choice: Choice,
    /// The project the button belongs to.
    pub project: ProjectId,
    /// The spec revision it was shown under.
    pub rev: u32,
}

impl ButtonData {
    /// Parses callback data; `None` for anything this service never sent.
    pub fn parse(data: &str) -> Option<Self> {
        let mut parts = data.split(':');
        let choice = match parts.next()? {
            "approve" => Choice::Approve,
            "change" => Choice::Change,
            _ => return None,
        };
        let project = Uuid::try_parse(parts.next()?).ok()?;
        let rev = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            choice,
            project: ProjectId(project),
            rev,
        })
    }

    /// Renders the callback data (at most 64 bytes).
    pub fn render(&self) -> String {
        let verb = match self.choice {
            Choice::Approve => "approve",
            Choice::Change => "change",
        };
        format!("{verb}:{}:{}", self.project.0.simple(), self.rev)
    }
}

/// The Approve and Change buttons of spec `rev` of `project`.
pub fn approval_buttons(project: ProjectId, rev: u32) -> Vec<Button> {
    let button = |label: &str, choice| Button {
        label: label.to_owned(),
        data: ButtonData {
            choice,
            project,
            rev,
        }
        .render(),
    };
    vec![
        button("✅ Approve", Choice::Approve),
        button("✏️ Change", Choice::Change),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_data_parses_back_and_fits_telegram() {
        let data = ButtonData {
            choice: Choice::Change,
            project: ProjectId::new(),
            rev: 4_000_000_000,
        };
        let text = data.render();
        assert!(text.len() <= 64, "{text}");
        assert_eq!(ButtonData::parse(&text), Some(data));
    }

    #[test]
    fn anything_else_is_unknown() {
        let project = ProjectId::new().0.simple().to_string();
        for data in [
            "",
            "approve",
            "approve:",
            &format!("approve:{project}"),
            &format!("approve:{project}:x"),
            &format!("approve:{project}:1:extra"),
            &format!("delete:{project}:1"),
            "approve:not-a-uuid:1",
            "🙂",
        ] {
            assert_eq!(ButtonData::parse(data), None, "{data:?}");
        }
    }
}
