//! Button callback data: `approve:<project>:<rev>` and `change:<project>:<rev>` under a spec, and
//! `esc:<escalation>:yes|no` under a question to the person.
//!
//! The project (32 hex digits) and the spec revision make every spec button specific: a press on a button of an
//! older spec, or of a project that was set aside, is recognised as stale instead of acting on the current one.
//! An escalation button names its escalation, which is answered once; a later press finds it answered.

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

/// A press on a question's button: the escalation and yes (approve) or no (reject).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionData {
    /// The escalation (`escalations.id`).
    pub escalation: Uuid,
    /// True for the approving button.
    pub approve: bool,
}

impl DecisionData {
    /// Parses callback data; `None` for anything that is not an escalation button.
    pub fn parse(data: &str) -> Option<Self> {
        let rest = data.strip_prefix("esc:")?;
        let (id, choice) = rest.split_once(':')?;
        let approve = match choice {
            "yes" => true,
            "no" => false,
            _ => return None,
        };
        Some(Self {
            escalation: Uuid::try_parse(id).ok()?,
            approve,
        })
    }

    /// Renders the callback data (at most 64 bytes).
    pub fn render(&self) -> String {
        let choice = if self.approve { "yes" } else { "no" };
        format!("esc:{}:{choice}", self.escalation.simple())
    }
}

/// The two buttons of a question: `yes` approves, `no` rejects.
pub fn decision_buttons(escalation: Uuid, yes: &str, no: &str) -> Vec<Button> {
    let button = |label: &str, approve| Button {
        label: label.to_owned(),
        data: DecisionData {
            escalation,
            approve,
        }
        .render(),
    };
    vec![button(yes, true), button(no, false)]
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
    fn decision_data_round_trips_and_rejects_the_rest() {
        let data = DecisionData {
            escalation: Uuid::new_v4(),
            approve: false,
        };
        let text = data.render();
        assert!(text.len() <= 64, "{text}");
        assert_eq!(DecisionData::parse(&text), Some(data));
        assert_eq!(ButtonData::parse(&text), None, "not a spec button");
        let id = Uuid::new_v4().simple().to_string();
        for bad in [
            "esc:",
            "esc:x:yes",
            &format!("esc:{id}"),
            &format!("esc:{id}:maybe"),
            &format!("approve:{id}:1"),
        ] {
            assert_eq!(DecisionData::parse(bad), None, "{bad:?}");
        }
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
