//! Public data types of the simulator handle and control API: what is injected and what the bot
//! sent.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A Telegram user who writes to the bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TgUser {
    /// User id (also the chat id of the private chat with the bot).
    pub id: i64,
    /// First name.
    pub first_name: String,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Username without `@`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// IETF language tag of the user's client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
}

impl TgUser {
    /// Creates a user with an id and a first name.
    pub fn new(id: i64, first_name: impl Into<String>) -> Self {
        Self {
            id,
            first_name: first_name.into(),
            last_name: None,
            username: None,
            language_code: None,
        }
    }

    /// Sets the username.
    pub fn with_username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The `User` object as the Bot API renders it.
    pub fn to_json(&self) -> Value {
        let mut user = json!({ "id": self.id, "is_bot": false, "first_name": self.first_name });
        put_opt(&mut user, "last_name", &self.last_name);
        put_opt(&mut user, "username", &self.username);
        put_opt(&mut user, "language_code", &self.language_code);
        user
    }
}

fn put_opt(target: &mut Value, key: &str, value: &Option<String>) {
    if let Some(value) = value {
        target[key] = json!(value);
    }
}

/// A chat the bot takes part in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatSpec {
    /// The private chat with a user; its id is the user's id.
    Private {
        /// The user on the other side.
        user: TgUser,
    },
    /// A basic group.
    Group {
        /// Chat id (negative in Telegram).
        id: i64,
        /// Group title.
        title: String,
    },
    /// A supergroup.
    Supergroup {
        /// Chat id (`-100…` in Telegram).
        id: i64,
        /// Group title.
        title: String,
    },
}

impl ChatSpec {
    /// Chat id.
    pub fn id(&self) -> i64 {
        match self {
            Self::Private { user } => user.id,
            Self::Group { id, .. } | Self::Supergroup { id, .. } => *id,
        }
    }

    /// The `Chat` object as the Bot API renders it.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Private { user } => {
                let mut chat =
                    json!({ "id": user.id, "type": "private", "first_name": user.first_name });
                put_opt(&mut chat, "last_name", &user.last_name);
                put_opt(&mut chat, "username", &user.username);
                chat
            }
            Self::Group { id, title } => json!({ "id": id, "type": "group", "title": title }),
            Self::Supergroup { id, title } => {
                json!({ "id": id, "type": "supergroup", "title": title })
            }
        }
    }
}

/// A text message a user sends to the bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingMessage {
    /// Sender.
    pub from: TgUser,
    /// Chat; `None` means the private chat with `from`.
    #[serde(default)]
    pub chat: Option<ChatSpec>,
    /// Message text; a leading `/command` gets a `bot_command` entity as in Telegram.
    pub text: String,
}

impl IncomingMessage {
    /// A message in the private chat with `from`.
    pub fn private(from: TgUser, text: impl Into<String>) -> Self {
        Self {
            from,
            chat: None,
            text: text.into(),
        }
    }

    /// The chat the message lands in.
    pub fn chat(&self) -> ChatSpec {
        self.chat.clone().unwrap_or_else(|| ChatSpec::Private {
            user: self.from.clone(),
        })
    }
}

/// A user pressing an inline-keyboard button of a bot message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ButtonPress {
    /// Who presses the button.
    pub from: TgUser,
    /// Chat of the message.
    pub chat_id: i64,
    /// The bot message carrying the keyboard.
    pub message_id: i32,
    /// `callback_data` of the pressed button.
    pub data: String,
}

/// Ids assigned to an injected button press.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectedCallback {
    /// `update_id` of the `callback_query` update.
    pub update_id: i64,
    /// `callback_query.id`, which the bot must answer with `answerCallbackQuery`.
    pub callback_query_id: String,
}

/// A message the bot sent, in its current state (after edits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentMessage {
    /// Message id within the chat.
    pub message_id: i32,
    /// Chat id.
    pub chat_id: i64,
    /// Text as Telegram shows it (markup parsed away).
    pub text: String,
    /// Text exactly as the bot sent it.
    pub raw_text: String,
    /// `parse_mode` of the last send or edit.
    pub parse_mode: Option<String>,
    /// Entities Telegram derived from the markup.
    pub entities: Vec<Value>,
    /// Current reply markup (inline keyboard or reply keyboard).
    pub reply_markup: Option<Value>,
    /// Message this one replies to.
    pub reply_to_message_id: Option<i32>,
    /// Unix time of sending.
    pub date: i64,
    /// Unix time of the last edit.
    pub edit_date: Option<i64>,
    /// Number of successful edits.
    pub edits: u32,
}

impl SentMessage {
    /// `callback_data` of every inline button, row by row.
    pub fn callback_data(&self) -> Vec<String> {
        self.inline_buttons("callback_data")
    }

    /// Text of every inline button, row by row.
    pub fn button_texts(&self) -> Vec<String> {
        self.inline_buttons("text")
    }

    fn inline_buttons(&self, field: &str) -> Vec<String> {
        let rows = self
            .reply_markup
            .as_ref()
            .and_then(|markup| markup.get("inline_keyboard"))
            .and_then(Value::as_array);
        rows.into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|button| button.get(field).and_then(Value::as_str))
            .map(str::to_owned)
            .collect()
    }
}

/// One Bot API call the bot made, successful or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotCall {
    /// Position in the bot's call log (starts at 1).
    pub seq: u64,
    /// Method name in Telegram's spelling, e.g. `sendMessage`.
    pub method: String,
    /// Chat the call concerned, when it concerned one.
    pub chat_id: Option<i64>,
    /// Parameters as received.
    pub params: Value,
    /// `error_code` when the call failed.
    pub error_code: Option<u16>,
    /// `description` when the call failed.
    pub error: Option<String>,
    /// When the simulator answered the call (for latency measurements).
    #[serde(default)]
    pub at: chrono::DateTime<chrono::Utc>,
}

impl BotCall {
    /// Whether the call succeeded.
    pub fn is_ok(&self) -> bool {
        self.error_code.is_none()
    }
}

/// Everything the bot did in one chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// Chat id.
    pub chat_id: i64,
    /// Bot messages in the order they were sent, in their current state.
    pub messages: Vec<SentMessage>,
    /// Ordered log of the bot's calls concerning the chat, including failed ones, edits and
    /// callback answers.
    pub calls: Vec<BotCall>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_chat_uses_user_id() {
        let user = TgUser::new(42, "Alice").with_username("alice");
        let chat = ChatSpec::Private { user: user.clone() };
        assert_eq!(chat.id(), 42);
        assert_eq!(chat.to_json()["type"], "private");
        assert_eq!(user.to_json()["is_bot"], false);
    }

    #[test]
    fn sent_message_lists_buttons() {
        let message = SentMessage {
            message_id: 1,
            chat_id: 1,
            text: String::new(),
            raw_text: String::new(),
            parse_mode: None,
            entities: vec![],
            reply_markup: Some(
                json!({"inline_keyboard": [[{"text": "Yes", "callback_data": "y"}],
                [{"text": "No", "callback_data": "n"}, {"text": "Docs", "url": "https://x.y"}]]}),
            ),
            reply_to_message_id: None,
            date: 0,
            edit_date: None,
            edits: 0,
        };
        assert_eq!(message.callback_data(), vec!["y", "n"]);
        assert_eq!(message.button_texts(), vec!["Yes", "No", "Docs"]);
    }
}
