//! [`SimBot`]: the test-side handle of one simulated bot — inject what users do, inspect what the
//! bot did, force failures.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::config::BotIdentity;
use super::error::TelegramSimError;
use super::inject;
use super::shared::Shared;
use super::state::{BotState, Forced429};
use super::types::{
    BotCall, ButtonPress, ChatSpec, IncomingMessage, InjectedCallback, SentMessage, TgUser,
    Transcript,
};
use super::webhook;

/// Handle of one bot of a running [`super::TelegramSim`].
#[derive(Debug, Clone)]
pub struct SimBot {
    shared: Arc<Shared>,
    token: String,
}

impl SimBot {
    pub(crate) fn new(shared: Arc<Shared>, token: &str) -> Result<Self, TelegramSimError> {
        if !shared.knows(token) {
            return Err(TelegramSimError::UnknownBot);
        }
        Ok(Self {
            shared,
            token: token.to_owned(),
        })
    }

    fn with<R>(&self, f: impl FnOnce(&mut BotState) -> R) -> Result<R, TelegramSimError> {
        self.shared
            .with_bot(&self.token, f)
            .ok_or(TelegramSimError::UnknownBot)
    }

    fn read<R: Default>(&self, f: impl FnOnce(&mut BotState) -> R) -> R {
        self.with(f).unwrap_or_default()
    }

    /// The bot's token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The bot's identity as `getMe` reports it.
    pub fn identity(&self) -> Result<BotIdentity, TelegramSimError> {
        self.with(|bot| bot.identity.clone())
    }

    /// Injects a text message from a user; returns its `update_id`.
    pub fn inject_message(&self, message: &IncomingMessage) -> Result<i64, TelegramSimError> {
        self.with(|bot| inject::message(bot, message))?
    }

    /// Injects a text message in the private chat with `from`; returns its `update_id`.
    pub fn send_text(&self, from: &TgUser, text: &str) -> Result<i64, TelegramSimError> {
        self.inject_message(&IncomingMessage::private(from.clone(), text))
    }

    /// Injects `/command args` (with its `bot_command` entity); `chat: None` is the private chat.
    pub fn inject_command(
        &self,
        from: &TgUser,
        chat: Option<ChatSpec>,
        command: &str,
        args: &str,
    ) -> Result<i64, TelegramSimError> {
        let message = IncomingMessage {
            from: from.clone(),
            chat,
            text: inject::command_text(command, args),
        };
        self.inject_message(&message)
    }

    /// Injects a press of an inline button of a bot message.
    pub fn press_button(&self, press: &ButtonPress) -> Result<InjectedCallback, TelegramSimError> {
        self.with(|bot| inject::button_press(bot, press))?
    }

    /// Queues an update of `kind` with an arbitrary (possibly malformed) payload, as a misbehaving or newer
    /// Bot API might send it; returns its update id.
    pub fn inject_raw(&self, kind: &'static str, payload: Value) -> Result<i64, TelegramSimError> {
        self.with(|bot| bot.enqueue(kind, payload))
    }

    /// Makes a chat known to the bot without a message (as if the user had started the bot).
    pub fn add_chat(&self, chat: &ChatSpec) -> Result<(), TelegramSimError> {
        self.with(|bot| {
            bot.ensure_chat(chat);
        })
    }

    /// Bot messages of a chat in their current state (after edits, without deleted ones).
    pub fn sent_messages(&self, chat_id: i64) -> Vec<SentMessage> {
        self.read(|bot| bot.sent_messages(chat_id))
    }

    /// Bot messages and the ordered call log of a chat.
    pub fn transcript(&self, chat_id: i64) -> Transcript {
        self.with(|bot| bot.transcript(chat_id))
            .unwrap_or_else(|_| Transcript {
                chat_id,
                messages: Vec::new(),
                calls: Vec::new(),
            })
    }

    /// Every call the bot made except `getUpdates`, in order.
    pub fn calls(&self) -> Vec<BotCall> {
        self.read(|bot| bot.calls.clone())
    }

    /// Updates queued and not yet confirmed (or delivered to the webhook).
    pub fn pending_updates(&self) -> Vec<Value> {
        self.read(|bot| bot.queue.iter().map(|u| u.json.clone()).collect())
    }

    /// The `getWebhookInfo` result.
    pub fn webhook_info(&self) -> Value {
        self.read(|bot| webhook::info(bot))
    }

    /// Makes the next `count` `sendMessage` calls fail with `429 Too Many Requests` and
    /// `retry_after` seconds.
    pub fn fail_next_sends(&self, count: u32, retry_after: u64) -> Result<(), TelegramSimError> {
        self.with(|bot| {
            bot.forced_429 = (count > 0).then_some(Forced429 {
                remaining: count,
                retry_after,
            });
        })
    }

    /// Forgets chats, messages, queued updates, calls and the webhook of this bot.
    pub fn reset(&self) {
        self.read(BotState::reset);
    }

    /// Waits until the bot has sent at least `count` messages to the chat.
    pub async fn wait_for_messages(
        &self,
        chat_id: i64,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<SentMessage>, TelegramSimError> {
        let what = format!("{count} bot messages in chat {chat_id}");
        self.wait(timeout, what, |bot| {
            let messages = bot.sent_messages(chat_id);
            (messages.len() >= count).then_some(messages)
        })
        .await
    }

    /// Waits until `condition` holds for the chat's transcript.
    pub async fn wait_for_transcript(
        &self,
        chat_id: i64,
        timeout: Duration,
        condition: impl Fn(&Transcript) -> bool,
    ) -> Result<Transcript, TelegramSimError> {
        let what = format!("a transcript condition in chat {chat_id}");
        self.wait(timeout, what, |bot| {
            let transcript = bot.transcript(chat_id);
            condition(&transcript).then_some(transcript)
        })
        .await
    }

    /// Waits until a `getUpdates` long poll is being held for this bot.
    pub async fn wait_for_poller(&self, timeout: Duration) -> Result<(), TelegramSimError> {
        self.wait(timeout, "a held getUpdates".to_owned(), |bot| {
            (bot.active_polls > 0).then_some(())
        })
        .await
    }

    /// Waits until no update is pending (all confirmed by polling or delivered to the webhook).
    pub async fn wait_for_no_pending(&self, timeout: Duration) -> Result<(), TelegramSimError> {
        self.wait(timeout, "no pending updates".to_owned(), |bot| {
            bot.queue.is_empty().then_some(())
        })
        .await
    }

    async fn wait<T>(
        &self,
        timeout: Duration,
        what: String,
        mut check: impl FnMut(&mut BotState) -> Option<T>,
    ) -> Result<T, TelegramSimError> {
        let token = self.token.as_str();
        let deadline = Instant::now() + timeout;
        self.shared
            .wait_for(Some(deadline), |state| check(state.bots.get_mut(token)?))
            .await
            .ok_or(TelegramSimError::Timeout {
                what,
                waited: timeout,
            })
    }
}
