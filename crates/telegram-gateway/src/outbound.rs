//! From `chat:out` to Telegram: send (split when long, Markdown escaped, buttons on the last part), edit a
//! named progress message, or answer a button press.
//!
//! Delivery guarantee: at-least-once with a narrow duplicate window. The consumer processes a chat's messages
//! in stream order (ordering key = chat id). The inbox (consumer `telegram-gateway`, key = event id) is checked
//! before acting and written right after Telegram accepted the message, so a redelivered message is not sent
//! again — unless the process died between Telegram's answer and that write. 429s are waited out in place, so
//! replies are never reordered; a person who blocked the bot makes the message dead-letter (it can never arrive).

use orch_bus::{Delivery, HandlerError};
use orch_contracts::EventId;
use orch_contracts::messages::chat::{Button, ChatAction, ChatOut, TextFormat};
use orch_store::{Store, chat_refs, inbox};
use teloxide::payloads::{EditMessageTextSetters, SendMessageSetters};
use teloxide::prelude::*;
use teloxide::types::{
    CallbackQueryId, InlineKeyboardButton, InlineKeyboardMarkup, MessageId, ParseMode,
};
use teloxide::{ApiError, RequestError};
use tracing::warn;

use crate::markdown;
use crate::telegram::{Telegram, is_undeliverable};

/// The inbox consumer name of the gateway.
pub const CONSUMER: &str = "telegram-gateway";

/// Delivers `chat:out` messages.
#[derive(Clone)]
pub struct Outbound {
    /// The bot.
    pub telegram: Telegram,
    /// Inbox and message references.
    pub store: Store,
}

impl Outbound {
    /// Handles one `chat:out` delivery.
    pub async fn handle(&self, delivery: Delivery<ChatOut>) -> Result<(), HandlerError> {
        let event_id = delivery.envelope.event_id;
        if self.delivered(event_id).await? {
            return Ok(()); // delivered before a crash; the ack was lost
        }
        let out = delivery.envelope.body;
        let sent = self.perform(out.chat_id, out.action.clone()).await?;
        let mut tx = self.store.begin().await.map_err(HandlerError::retry)?;
        inbox::claim(&mut tx, CONSUMER, event_id)
            .await
            .map_err(HandlerError::retry)?;
        if let (Some(message_id), Some(key)) = (sent, ref_key(&out.action)) {
            chat_refs::set(&mut tx, out.chat_id, key, i64::from(message_id.0))
                .await
                .map_err(HandlerError::retry)?;
        }
        tx.commit().await.map_err(HandlerError::retry)?;
        Ok(())
    }

    /// Whether the message is in the inbox already. The connection goes back to the pool before the Telegram
    /// call: a handler holding one while it waits for a second (the inbox transaction) starves the pool once
    /// as many chats are in flight as there are connections.
    async fn delivered(&self, event_id: EventId) -> Result<bool, HandlerError> {
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(HandlerError::retry)?;
        inbox::contains(&mut conn, CONSUMER, event_id)
            .await
            .map_err(HandlerError::retry)
    }

    /// Carries out the action; returns the message that now shows it, if any.
    async fn perform(
        &self,
        chat_id: i64,
        action: ChatAction,
    ) -> Result<Option<MessageId>, HandlerError> {
        match action {
            ChatAction::Send {
                text,
                format,
                buttons,
                ..
            } => self.send(chat_id, &text, format, &buttons).await.map(Some),
            ChatAction::Edit {
                ref_key,
                text,
                format,
                buttons,
            } => self
                .edit(chat_id, &ref_key, &text, format, &buttons)
                .await
                .map(Some),
            ChatAction::AnswerButton {
                callback_query_id,
                text,
            } => {
                self.answer(callback_query_id, text).await?;
                Ok(None)
            }
        }
    }

    async fn send(
        &self,
        chat_id: i64,
        text: &str,
        format: TextFormat,
        buttons: &[Vec<Button>],
    ) -> Result<MessageId, HandlerError> {
        let chunks = render_chunks(text, format);
        let last = chunks.len() - 1;
        let mut sent = MessageId(0);
        for (i, chunk) in chunks.iter().enumerate() {
            let keyboard = (i == last && !buttons.is_empty()).then(|| keyboard(buttons));
            sent = self.send_one(chat_id, chunk, format, keyboard).await?;
        }
        Ok(sent)
    }

    async fn send_one(
        &self,
        chat_id: i64,
        chunk: &str,
        format: TextFormat,
        keyboard: Option<InlineKeyboardMarkup>,
    ) -> Result<MessageId, HandlerError> {
        let bot = self.telegram.bot();
        let call = || {
            let mut request = bot.send_message(ChatId(chat_id), chunk);
            if format == TextFormat::Markdown {
                request = request.parse_mode(ParseMode::MarkdownV2);
            }
            if let Some(k) = keyboard.clone() {
                request = request.reply_markup(k);
            }
            request.into_future()
        };
        match self.telegram.with_rate_limit(call).await {
            Ok(message) => Ok(message.id),
            Err(RequestError::Api(ApiError::CantParseEntities(reason))) => {
                warn!(
                    chat_id,
                    reason, "telegram could not parse the markup; sending plain text instead"
                );
                self.send_plain(chat_id, chunk, keyboard).await
            }
            Err(e) => Err(classify(e)),
        }
    }

    async fn send_plain(
        &self,
        chat_id: i64,
        chunk: &str,
        keyboard: Option<InlineKeyboardMarkup>,
    ) -> Result<MessageId, HandlerError> {
        let bot = self.telegram.bot();
        let plain = chunk.replace('\\', "");
        let call = || {
            let mut request = bot.send_message(ChatId(chat_id), plain.as_str());
            if let Some(k) = keyboard.clone() {
                request = request.reply_markup(k);
            }
            request.into_future()
        };
        self.telegram
            .with_rate_limit(call)
            .await
            .map(|m| m.id)
            .map_err(classify)
    }

    async fn edit(
        &self,
        chat_id: i64,
        ref_key: &str,
        text: &str,
        format: TextFormat,
        buttons: &[Vec<Button>],
    ) -> Result<MessageId, HandlerError> {
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(HandlerError::retry)?;
        let known = chat_refs::get(&mut conn, chat_id, ref_key)
            .await
            .map_err(HandlerError::retry)?;
        drop(conn);
        let Some(message_id) = known.map(|id| MessageId(id as i32)) else {
            return self.send(chat_id, text, format, buttons).await; // never sent (or forgotten): send it now
        };
        let rendered = render_chunks(text, format).remove(0);
        let bot = self.telegram.bot();
        let call = || {
            let mut request = bot.edit_message_text(ChatId(chat_id), message_id, rendered.as_str());
            if format == TextFormat::Markdown {
                request = request.parse_mode(ParseMode::MarkdownV2);
            }
            if !buttons.is_empty() {
                request = request.reply_markup(keyboard(buttons));
            }
            request.into_future()
        };
        match self.telegram.with_rate_limit(call).await {
            Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => Ok(message_id),
            Err(RequestError::Api(
                ApiError::MessageToEditNotFound | ApiError::MessageCantBeEdited,
            )) => self.send(chat_id, text, format, buttons).await,
            Err(e) => Err(classify(e)),
        }
    }

    async fn answer(
        &self,
        callback_query_id: String,
        text: Option<String>,
    ) -> Result<(), HandlerError> {
        let bot = self.telegram.bot();
        let call = || {
            let mut request = bot.answer_callback_query(CallbackQueryId(callback_query_id.clone()));
            if let Some(t) = &text {
                request = request.text(t.clone());
            }
            request.into_future()
        };
        match self.telegram.with_rate_limit(call).await {
            // An answer that comes too late is harmless: the button just stopped spinning already.
            Ok(_) | Err(RequestError::Api(ApiError::InvalidQueryId)) => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }
}

fn ref_key(action: &ChatAction) -> Option<&str> {
    match action {
        ChatAction::Send { ref_key, .. } => ref_key.as_deref(),
        ChatAction::Edit { ref_key, .. } => Some(ref_key),
        ChatAction::AnswerButton { .. } => None,
    }
}

fn render_chunks(text: &str, format: TextFormat) -> Vec<String> {
    match format {
        TextFormat::Markdown => markdown::split(text, markdown::to_markdown_v2),
        TextFormat::Plain => markdown::split(text, str::to_owned),
    }
}

fn keyboard(rows: &[Vec<Button>]) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(rows.iter().map(|row| {
        row.iter()
            .map(|b| InlineKeyboardButton::callback(b.label.clone(), b.data.clone()))
            .collect::<Vec<_>>()
    }))
}

/// Network trouble and lingering rate limits are retried later; a Telegram refusal is final.
fn classify(error: RequestError) -> HandlerError {
    if is_undeliverable(&error) {
        return HandlerError::reject(format!(
            "the person cannot receive messages from the bot: {error}"
        ));
    }
    match error {
        RequestError::Api(api) => {
            HandlerError::reject(format!("telegram refused the message: {api}"))
        }
        other => HandlerError::retry(other),
    }
}
