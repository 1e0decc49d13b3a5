//! Bot API methods that act on chats and messages: `sendMessage`, the edits, `deleteMessage`,
//! `answerCallbackQuery`, `sendChatAction` and the command list.
//!
//! Each method is a synchronous function over the locked bot state, so a call is atomic.

use serde_json::{Value, json};

use super::config::FloodLimit;
use super::error::ApiFailure;
use super::keyboard;
use super::markup::{self, MarkupError, ParseError, utf16_len};
use super::params::Params;
use super::state::{BotState, ChatState, StoredMessage};

/// Telegram's limit of a text message, in UTF-16 code units after entity parsing.
pub const MAX_TEXT_LEN: usize = 4096;

const CHAT_ACTIONS: &[&str] = &[
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
];

/// Text after parsing, ready to store.
struct Content {
    text: String,
    raw: String,
    parse_mode: Option<String>,
    entities: Vec<Value>,
}

fn content(p: &Params, too_long: &str) -> Result<Content, ApiFailure> {
    let raw = p.string("text").unwrap_or_default();
    if raw.is_empty() {
        return Err(ApiFailure::bad_request("message text is empty"));
    }
    let parse_mode = p.string("parse_mode").filter(|mode| !mode.is_empty());
    let parsed = markup::parse(&raw, parse_mode.as_deref()).map_err(|error| match error {
        MarkupError::Entities(ParseError(detail)) => {
            ApiFailure::bad_request(format!("can't parse entities: {detail}"))
        }
        MarkupError::UnsupportedMode => ApiFailure::bad_request("unsupported parse_mode"),
    })?;
    if parsed.text.is_empty() {
        return Err(ApiFailure::bad_request("message text is empty"));
    }
    if utf16_len(&parsed.text) > MAX_TEXT_LEN {
        return Err(ApiFailure::bad_request(too_long));
    }
    let mut entities = parsed.entities;
    if parse_mode.is_none()
        && let Ok(Some(Value::Array(given))) = p.json("entities")
    {
        entities = given;
    }
    Ok(Content {
        text: parsed.text,
        raw,
        parse_mode,
        entities,
    })
}

fn reply_markup(p: &Params) -> Result<Option<Value>, ApiFailure> {
    let markup = p
        .json("reply_markup")
        .map_err(|()| ApiFailure::bad_request("can't parse reply keyboard markup JSON object"))?;
    markup.map(keyboard::validate).transpose()
}

fn inline_only(markup: &Option<Value>) -> Option<&Value> {
    markup
        .as_ref()
        .filter(|m| m.get("inline_keyboard").is_some())
}

fn known_chat(bot: &mut BotState, chat_id: i64) -> Result<&mut ChatState, ApiFailure> {
    bot.chats
        .get_mut(&chat_id)
        .ok_or_else(|| ApiFailure::bad_request("chat not found"))
}

/// `reply_parameters.message_id` or the older `reply_to_message_id`.
fn reply_target(p: &Params) -> (Option<i32>, bool) {
    let parameters = p.json("reply_parameters").ok().flatten();
    let from_parameters = parameters
        .as_ref()
        .and_then(|v| v.get("message_id"))
        .and_then(Value::as_i64);
    let id = from_parameters.or_else(|| p.int("reply_to_message_id"));
    let lenient = p.flag("allow_sending_without_reply")
        || parameters
            .as_ref()
            .and_then(|v| v.get("allow_sending_without_reply"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
    (id.and_then(|id| i32::try_from(id).ok()), lenient)
}

/// `sendMessage`.
pub(crate) fn send_message(
    bot: &mut BotState,
    flood: Option<FloodLimit>,
    p: &Params,
) -> Result<Value, ApiFailure> {
    let chat_id = p.chat_id()?;
    if let Some(retry_after) = bot.take_forced_429() {
        return Err(ApiFailure::too_many_requests(retry_after));
    }
    let content = content(p, "message is too long")?;
    let markup = reply_markup(p)?;
    known_chat(bot, chat_id)?;
    if let Some(limit) = flood {
        bot.check_flood(chat_id, limit)
            .map_err(ApiFailure::too_many_requests)?;
    }
    let from = bot.bot_user();
    let chat = known_chat(bot, chat_id)?;
    let (reply_to, lenient) = reply_target(p);
    let reply_to = match reply_to {
        Some(id) if chat.messages.contains_key(&id) => Some(id),
        Some(_) if !lenient => {
            return Err(ApiFailure::bad_request("message to be replied not found"));
        }
        _ => None,
    };
    let mut message = StoredMessage::new(true, from, content.text);
    message.raw_text = content.raw;
    message.parse_mode = content.parse_mode;
    message.entities = content.entities;
    message.reply_markup = markup;
    message.reply_to = reply_to;
    let id = chat.store(message);
    chat.message_json(id)
        .ok_or_else(|| ApiFailure::bad_request("message to send not found"))
}

/// Resolves `chat_id` + `message_id` of an edit to a bot message.
fn editable<'a>(bot: &'a mut BotState, p: &Params) -> Result<(&'a mut ChatState, i32), ApiFailure> {
    if p.has("inline_message_id") {
        return Err(ApiFailure::bad_request("MESSAGE_ID_INVALID"));
    }
    let chat_id = p.chat_id()?;
    let message_id = p
        .int("message_id")
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(|| ApiFailure::bad_request("message identifier is not specified"))?;
    let chat = known_chat(bot, chat_id)?;
    let message = chat
        .messages
        .get(&message_id)
        .ok_or_else(|| ApiFailure::bad_request("message to edit not found"))?;
    if !message.from_bot {
        return Err(ApiFailure::bad_request("message can't be edited"));
    }
    Ok((chat, message_id))
}

fn not_modified() -> ApiFailure {
    ApiFailure::bad_request(
        "message is not modified: specified new message content and reply markup are exactly \
         the same as a current content and reply markup of the message",
    )
}

/// `editMessageText`. Without `reply_markup` the inline keyboard is removed, as in Telegram.
pub(crate) fn edit_message_text(bot: &mut BotState, p: &Params) -> Result<Value, ApiFailure> {
    let content = content(p, "MESSAGE_TOO_LONG")?;
    let markup = reply_markup(p)?;
    let (chat, id) = editable(bot, p)?;
    let Some(message) = chat.messages.get_mut(&id) else {
        return Err(ApiFailure::bad_request("message to edit not found"));
    };
    let unchanged = message.text == content.text
        && message.entities == content.entities
        && inline_only(&message.reply_markup) == markup.as_ref();
    if unchanged {
        return Err(not_modified());
    }
    message.text = content.text;
    message.raw_text = content.raw;
    message.parse_mode = content.parse_mode;
    message.entities = content.entities;
    if markup.is_some() || inline_only(&message.reply_markup).is_some() {
        message.reply_markup = markup;
    }
    touch(message);
    chat.message_json(id)
        .ok_or_else(|| ApiFailure::bad_request("message to edit not found"))
}

/// `editMessageReplyMarkup`.
pub(crate) fn edit_message_reply_markup(
    bot: &mut BotState,
    p: &Params,
) -> Result<Value, ApiFailure> {
    let markup = reply_markup(p)?;
    let (chat, id) = editable(bot, p)?;
    let Some(message) = chat.messages.get_mut(&id) else {
        return Err(ApiFailure::bad_request("message to edit not found"));
    };
    if inline_only(&message.reply_markup) == markup.as_ref() {
        return Err(not_modified());
    }
    message.reply_markup = markup;
    touch(message);
    chat.message_json(id)
        .ok_or_else(|| ApiFailure::bad_request("message to edit not found"))
}

fn touch(message: &mut StoredMessage) {
    message.edit_date = Some(chrono::Utc::now().timestamp());
    message.edits += 1;
}

/// `deleteMessage`.
pub(crate) fn delete_message(bot: &mut BotState, p: &Params) -> Result<Value, ApiFailure> {
    let chat_id = p.chat_id()?;
    let message_id = p
        .int("message_id")
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(|| ApiFailure::bad_request("message identifier is not specified"))?;
    let chat = known_chat(bot, chat_id)?;
    chat.messages
        .remove(&message_id)
        .ok_or_else(|| ApiFailure::bad_request("message to delete not found"))?;
    Ok(json!(true))
}

/// `answerCallbackQuery`; a query can be answered once.
pub(crate) fn answer_callback_query(bot: &mut BotState, p: &Params) -> Result<Value, ApiFailure> {
    let invalid = || {
        ApiFailure::bad_request(
            "query is too old and response timeout expired or query ID is invalid",
        )
    };
    let id = p.string("callback_query_id").ok_or_else(invalid)?;
    let pending = bot
        .callbacks
        .get_mut(&id)
        .filter(|pending| !pending.answered)
        .ok_or_else(invalid)?;
    pending.answered = true;
    Ok(json!(true))
}

/// `sendChatAction`.
pub(crate) fn send_chat_action(bot: &mut BotState, p: &Params) -> Result<Value, ApiFailure> {
    let chat_id = p.chat_id()?;
    let action = p.string("action").unwrap_or_default();
    if !CHAT_ACTIONS.contains(&action.as_str()) {
        return Err(ApiFailure::bad_request("wrong parameter action in request"));
    }
    known_chat(bot, chat_id)?;
    Ok(json!(true))
}

/// `setMyCommands`.
pub(crate) fn set_my_commands(bot: &mut BotState, p: &Params) -> Result<Value, ApiFailure> {
    let commands = p
        .json("commands")
        .map_err(|()| ApiFailure::bad_request("can't parse commands JSON array"))?
        .unwrap_or_else(|| json!([]));
    let list = commands
        .as_array()
        .ok_or_else(|| ApiFailure::bad_request("can't parse commands JSON array"))?;
    for command in list {
        let name = command.get("command").and_then(Value::as_str).unwrap_or("");
        let valid_name = (1..=32).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_name {
            return Err(ApiFailure::bad_request("BOT_COMMAND_INVALID"));
        }
        let description = command
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !(1..=256).contains(&description.chars().count()) {
            return Err(ApiFailure::bad_request("command description is empty"));
        }
    }
    bot.commands = commands;
    Ok(json!(true))
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::telegram::config::BotIdentity;
    use crate::telegram::types::{ChatSpec, TgUser};

    fn bot_with_chat() -> BotState {
        let mut bot = BotState::new(BotIdentity::from_token("1:x"));
        bot.ensure_chat(&ChatSpec::Private {
            user: TgUser::new(42, "Alice"),
        });
        bot
    }

    fn params(value: Value) -> Params {
        match value {
            Value::Object(map) => Params(map),
            _ => Params(Map::new()),
        }
    }

    fn error(result: Result<Value, ApiFailure>) -> String {
        result.expect_err("call fails").description
    }

    #[test]
    fn send_then_edit_then_not_modified() {
        let mut bot = bot_with_chat();
        let sent = send_message(
            &mut bot,
            None,
            &params(json!({"chat_id": 42, "text": "hi"})),
        )
        .expect("sent");
        assert_eq!(sent["message_id"], 1);
        let edit = json!({"chat_id": 42, "message_id": 1, "text": "hello"});
        let edited = edit_message_text(&mut bot, &params(edit.clone())).expect("edited");
        assert_eq!(edited["text"], "hello");
        assert!(
            error(edit_message_text(&mut bot, &params(edit)))
                .starts_with("Bad Request: message is not modified")
        );
        let missing = json!({"chat_id": 42, "message_id": 9, "text": "x"});
        assert_eq!(
            error(edit_message_text(&mut bot, &params(missing))),
            "Bad Request: message to edit not found"
        );
    }

    #[test]
    fn send_errors() {
        let mut bot = bot_with_chat();
        let long = "a".repeat(MAX_TEXT_LEN + 1);
        assert_eq!(
            error(send_message(
                &mut bot,
                None,
                &params(json!({"chat_id": 42, "text": long}))
            )),
            "Bad Request: message is too long"
        );
        assert_eq!(
            error(send_message(
                &mut bot,
                None,
                &params(json!({"chat_id": 7, "text": "x"}))
            )),
            "Bad Request: chat not found"
        );
        let bad = json!({"chat_id": 42, "text": "a.b", "parse_mode": "MarkdownV2"});
        assert_eq!(
            error(send_message(&mut bot, None, &params(bad))),
            "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'"
        );
    }

    #[test]
    fn edit_without_markup_removes_inline_keyboard() {
        let mut bot = bot_with_chat();
        let keyboard = json!({"inline_keyboard": [[{"text": "Ok", "callback_data": "ok"}]]});
        let send = json!({"chat_id": 42, "text": "q", "reply_markup": keyboard});
        send_message(&mut bot, None, &params(send)).expect("sent");
        let edited = edit_message_text(
            &mut bot,
            &params(json!({"chat_id": 42, "message_id": 1, "text": "q"})),
        )
        .expect("markup removal is a change");
        assert!(edited.get("reply_markup").is_none());
    }

    #[test]
    fn callback_answered_once() {
        let mut bot = bot_with_chat();
        bot.callbacks.insert(
            "1".into(),
            crate::telegram::state::PendingCallback {
                chat_id: 42,
                answered: false,
            },
        );
        let p = params(json!({"callback_query_id": "1"}));
        assert_eq!(
            answer_callback_query(&mut bot, &p).expect("answered"),
            json!(true)
        );
        assert!(error(answer_callback_query(&mut bot, &p)).contains("query ID is invalid"));
    }
}
