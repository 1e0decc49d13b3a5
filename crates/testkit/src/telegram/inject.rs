//! Turning what a simulated user does into updates: text messages, commands, button presses.

use serde_json::{Value, json};

use super::error::TelegramSimError;
use super::markup::{entity, utf16_len};
use super::state::{BotState, PendingCallback, StoredMessage};
use super::types::{ButtonPress, IncomingMessage, InjectedCallback};

/// Stores a user's message in its chat and queues the `message` update; returns the update id.
pub(crate) fn message(
    bot: &mut BotState,
    incoming: &IncomingMessage,
) -> Result<i64, TelegramSimError> {
    if incoming.text.is_empty() {
        return Err(TelegramSimError::InvalidInput {
            reason: "message text is empty".to_owned(),
        });
    }
    let chat = bot.ensure_chat(&incoming.chat());
    let mut stored = StoredMessage::new(false, incoming.from.to_json(), incoming.text.clone());
    stored.entities = command_entities(&incoming.text);
    let id = chat.store(stored);
    let json = chat.message_json(id).unwrap_or(Value::Null);
    Ok(bot.enqueue("message", json))
}

/// The text of a command message: `/name args`.
pub(crate) fn command_text(command: &str, args: &str) -> String {
    let name = command.trim_start_matches('/');
    if args.is_empty() {
        format!("/{name}")
    } else {
        format!("/{name} {args}")
    }
}

/// Telegram marks a leading `/command` (optionally `@botname`) with a `bot_command` entity.
fn command_entities(text: &str) -> Vec<Value> {
    if !text.starts_with('/') {
        return Vec::new();
    }
    let command = text.split(char::is_whitespace).next().unwrap_or("");
    if command.len() < 2 {
        return Vec::new();
    }
    vec![entity("bot_command", 0, utf16_len(command))]
}

/// Queues the `callback_query` of a user pressing a button of a bot message.
pub(crate) fn button_press(
    bot: &mut BotState,
    press: &ButtonPress,
) -> Result<InjectedCallback, TelegramSimError> {
    let chat = bot
        .chats
        .get(&press.chat_id)
        .ok_or(TelegramSimError::UnknownChat {
            chat_id: press.chat_id,
        })?;
    let not_found = TelegramSimError::MessageNotFound {
        chat_id: press.chat_id,
        message_id: press.message_id,
    };
    let stored = chat.messages.get(&press.message_id).ok_or(not_found)?;
    if !has_button(stored.reply_markup.as_ref(), &press.data) {
        return Err(TelegramSimError::NoSuchButton {
            chat_id: press.chat_id,
            message_id: press.message_id,
            data: press.data.clone(),
        });
    }
    let message = chat.message_json(press.message_id).unwrap_or(Value::Null);
    let callback_query_id = format!("{}{:06}", bot.identity.id.unsigned_abs(), bot.next_callback);
    bot.next_callback += 1;
    bot.callbacks.insert(
        callback_query_id.clone(),
        PendingCallback {
            chat_id: press.chat_id,
            answered: false,
        },
    );
    let payload = json!({
        "id": callback_query_id,
        "from": press.from.to_json(),
        "message": message,
        "chat_instance": format!("{}", press.chat_id.wrapping_mul(7_919).unsigned_abs()),
        "data": press.data,
    });
    let update_id = bot.enqueue("callback_query", payload);
    Ok(InjectedCallback {
        update_id,
        callback_query_id,
    })
}

fn has_button(markup: Option<&Value>, data: &str) -> bool {
    let rows = markup
        .and_then(|m| m.get("inline_keyboard"))
        .and_then(Value::as_array);
    rows.into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
        .any(|button| button.get("callback_data").and_then(Value::as_str) == Some(data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telegram::config::BotIdentity;
    use crate::telegram::types::TgUser;

    #[test]
    fn command_gets_entity() {
        assert_eq!(command_text("start", ""), "/start");
        assert_eq!(
            command_entities("/new app"),
            vec![entity("bot_command", 0, 4)]
        );
        assert!(command_entities("hello").is_empty());
    }

    #[test]
    fn message_is_queued_and_chat_registered() {
        let mut bot = BotState::new(BotIdentity::from_token("1:x"));
        let incoming = IncomingMessage::private(TgUser::new(5, "Eve"), "/start");
        assert_eq!(message(&mut bot, &incoming).expect("queued"), 1);
        assert!(bot.chats.contains_key(&5));
        assert_eq!(
            bot.queue[0].json["message"]["entities"][0]["type"],
            "bot_command"
        );
    }

    #[test]
    fn press_requires_existing_button() {
        let mut bot = BotState::new(BotIdentity::from_token("1:x"));
        let user = TgUser::new(5, "Eve");
        message(&mut bot, &IncomingMessage::private(user.clone(), "hi")).expect("queued");
        let press = ButtonPress {
            from: user,
            chat_id: 5,
            message_id: 1,
            data: "ok".into(),
        };
        assert!(matches!(
            button_press(&mut bot, &press),
            Err(TelegramSimError::NoSuchButton { .. })
        ));
    }
}
