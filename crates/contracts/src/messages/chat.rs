//! `chat:in` (telegram-gateway → graph-runner) and `chat:out` (graph-runner → telegram-gateway).

use serde::{Deserialize, Serialize};

use super::{CALLBACK_DATA_LIMIT, LONG_TEXT_LIMIT, TELEGRAM_TEXT_LIMIT};
use crate::envelope::Contract;
use crate::validate::Violations;

/// The Telegram user who wrote or pressed a button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatUser {
    /// Telegram user id.
    pub id: i64,
    /// Telegram @username, when the user has one.
    pub username: Option<String>,
    /// First name as shown in Telegram.
    pub first_name: String,
}

/// What the person did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChatEvent {
    /// A plain text message.
    Text {
        /// Telegram message id.
        message_id: i32,
        /// The text.
        text: String,
    },
    /// A bot command such as `/new build me a bot`.
    Command {
        /// Telegram message id.
        message_id: i32,
        /// The command name without the slash, lower case (`new`).
        command: String,
        /// Everything after the command.
        args: String,
    },
    /// A press on an inline button.
    Button {
        /// The callback query id, to be answered.
        callback_query_id: String,
        /// The message the button belongs to, when Telegram still knows it.
        message_id: Option<i32>,
        /// The button's callback data.
        data: String,
    },
}

/// `chat:in`: one thing a person did in a chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatIn {
    /// Telegram update id; the gateway's idempotency key.
    pub update_id: i64,
    /// Telegram chat id.
    pub chat_id: i64,
    /// Who did it.
    pub user: ChatUser,
    /// What they did.
    pub event: ChatEvent,
}

impl Contract for ChatIn {
    const TYPE: &'static str = "chat.in";
    const VERSION: u16 = 1;

    fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::new();
        v.check(self.update_id >= 0, || "update_id is negative".into());
        v.check(self.user.id > 0, || "user.id must be positive".into());
        match &self.event {
            ChatEvent::Text { text, .. } => {
                v.text("text", text, TELEGRAM_TEXT_LIMIT);
            }
            ChatEvent::Command { command, args, .. } => {
                let ok = !command.is_empty()
                    && command.len() <= 32
                    && command
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                v.check(ok, || {
                    format!("command `{command}` must be 1..=32 characters of [a-z0-9_]")
                });
                v.check(args.chars().count() <= TELEGRAM_TEXT_LIMIT, || {
                    "command args too long".into()
                });
            }
            ChatEvent::Button {
                callback_query_id,
                data,
                ..
            } => {
                v.text("callback_query_id", callback_query_id, 128);
                v.check(
                    !data.is_empty() && data.len() <= CALLBACK_DATA_LIMIT,
                    || format!("button data must be 1..={CALLBACK_DATA_LIMIT} bytes"),
                );
            }
        }
        v.into_result()
    }
}

/// One inline button under a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Button {
    /// The label the person sees.
    pub label: String,
    /// The callback data sent back when pressed (at most 64 bytes).
    pub data: String,
}

/// How the text of an outgoing message is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextFormat {
    /// Plain text: the gateway escapes nothing and Telegram formats nothing.
    #[default]
    Plain,
    /// Simple Markdown (`*bold*`, `_italic_`, `` `code` ``); the gateway escapes it for Telegram's MarkdownV2.
    Markdown,
}

/// What the gateway is asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChatAction {
    /// Send a new message (split when longer than Telegram allows).
    Send {
        /// The text.
        text: String,
        /// How to read the text.
        #[serde(default)]
        format: TextFormat,
        /// Rows of inline buttons.
        #[serde(default)]
        buttons: Vec<Vec<Button>>,
        /// A name for this message so that later `Edit`s can address it (e.g. `progress:<run>`).
        #[serde(default)]
        ref_key: Option<String>,
    },
    /// Replace the text (and buttons) of a message sent earlier with a `ref_key`.
    Edit {
        /// The `ref_key` of the earlier message.
        ref_key: String,
        /// The new text.
        text: String,
        /// How to read the text.
        #[serde(default)]
        format: TextFormat,
        /// The new buttons (empty removes them).
        #[serde(default)]
        buttons: Vec<Vec<Button>>,
    },
    /// Answer a button press (stops the spinner on the person's button).
    AnswerButton {
        /// The callback query id from `ChatEvent::Button`.
        callback_query_id: String,
        /// A short toast text, if any.
        #[serde(default)]
        text: Option<String>,
    },
}

/// `chat:out`: one thing to show a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatOut {
    /// Telegram chat id.
    pub chat_id: i64,
    /// What to do.
    pub action: ChatAction,
}

impl Contract for ChatOut {
    const TYPE: &'static str = "chat.out";
    const VERSION: u16 = 1;

    fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::new();
        match &self.action {
            ChatAction::Send {
                text,
                buttons,
                ref_key,
                ..
            } => {
                v.text("text", text, LONG_TEXT_LIMIT);
                check_buttons(&mut v, buttons);
                if let Some(key) = ref_key {
                    v.slug("ref_key", key, 128);
                }
            }
            ChatAction::Edit {
                ref_key,
                text,
                buttons,
                ..
            } => {
                v.slug("ref_key", ref_key, 128)
                    .text("text", text, TELEGRAM_TEXT_LIMIT);
                check_buttons(&mut v, buttons);
            }
            ChatAction::AnswerButton {
                callback_query_id,
                text,
            } => {
                v.text("callback_query_id", callback_query_id, 128)
                    .optional_text("text", text.as_deref(), 200);
            }
        }
        v.into_result()
    }
}

fn check_buttons(v: &mut Violations, rows: &[Vec<Button>]) {
    for button in rows.iter().flatten() {
        v.text("button label", &button.label, 64);
        v.check(
            !button.data.is_empty() && button.data.len() <= CALLBACK_DATA_LIMIT,
            || {
                format!(
                    "button `{}` data must be 1..={CALLBACK_DATA_LIMIT} bytes",
                    button.label
                )
            },
        );
    }
}
