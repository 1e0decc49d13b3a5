//! In-memory state of the simulated Bot API: per bot its update queue, chats, messages, call log
//! and webhook.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use serde_json::{Value, json};

use super::config::{BotIdentity, FloodLimit};
use super::types::{BotCall, ChatSpec, SentMessage, Transcript};

/// Update types delivered when `allowed_updates` was never set (Telegram's default).
const NOT_DEFAULT_UPDATES: &[&str] = &["chat_member", "message_reaction", "message_reaction_count"];

/// Whole simulator state, behind one mutex.
#[derive(Debug, Default)]
pub(crate) struct SimState {
    pub bots: HashMap<String, BotState>,
    pub closed: bool,
}

/// One queued update.
#[derive(Debug, Clone)]
pub(crate) struct QueuedUpdate {
    pub update_id: i64,
    pub kind: &'static str,
    pub json: Value,
}

/// An active webhook.
#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    pub url: String,
    pub secret_token: Option<String>,
    pub max_connections: u64,
    pub last_error: Option<(i64, String)>,
}

/// A callback query waiting for `answerCallbackQuery`.
#[derive(Debug, Clone)]
pub(crate) struct PendingCallback {
    pub chat_id: i64,
    pub answered: bool,
}

/// A message in a chat, written by a user or by the bot.
#[derive(Debug, Clone)]
pub(crate) struct StoredMessage {
    pub id: i32,
    pub from_bot: bool,
    pub from: Value,
    pub date: i64,
    pub edit_date: Option<i64>,
    pub text: String,
    pub raw_text: String,
    pub parse_mode: Option<String>,
    pub entities: Vec<Value>,
    pub reply_markup: Option<Value>,
    pub reply_to: Option<i32>,
    pub edits: u32,
}

/// A chat the bot knows.
#[derive(Debug, Clone)]
pub(crate) struct ChatState {
    pub spec: ChatSpec,
    pub next_message_id: i32,
    pub messages: BTreeMap<i32, StoredMessage>,
}

/// `429` answers forced on the next `sendMessage` calls.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Forced429 {
    pub remaining: u32,
    pub retry_after: u64,
}

/// State of one bot token.
#[derive(Debug)]
pub(crate) struct BotState {
    pub identity: BotIdentity,
    pub next_update_id: i64,
    pub queue: VecDeque<QueuedUpdate>,
    pub allowed_updates: Option<Vec<String>>,
    pub webhook: Option<Webhook>,
    pub webhook_gen: u64,
    pub poll_gen: u64,
    pub active_polls: u32,
    pub chats: BTreeMap<i64, ChatState>,
    pub callbacks: HashMap<String, PendingCallback>,
    pub next_callback: u64,
    pub forced_429: Option<Forced429>,
    pub flood: HashMap<i64, VecDeque<Instant>>,
    pub calls: Vec<BotCall>,
    pub commands: Value,
}

impl BotState {
    /// A fresh bot with no chats and an empty queue.
    pub fn new(identity: BotIdentity) -> Self {
        Self {
            identity,
            next_update_id: 1,
            queue: VecDeque::new(),
            allowed_updates: None,
            webhook: None,
            webhook_gen: 0,
            poll_gen: 0,
            active_polls: 0,
            chats: BTreeMap::new(),
            callbacks: HashMap::new(),
            next_callback: 1,
            forced_429: None,
            flood: HashMap::new(),
            calls: Vec::new(),
            commands: json!([]),
        }
    }

    /// Forgets everything but the identity and the counters a running client depends on
    /// (update ids stay monotonic; a held long poll is not disturbed).
    pub fn reset(&mut self) {
        let mut fresh = Self::new(self.identity.clone());
        fresh.next_update_id = self.next_update_id;
        fresh.poll_gen = self.poll_gen;
        fresh.active_polls = self.active_polls;
        fresh.webhook_gen = self.webhook_gen + 1;
        fresh.next_callback = self.next_callback;
        *self = fresh;
    }

    /// The `User` object of the bot itself.
    pub fn bot_user(&self) -> Value {
        json!({
            "id": self.identity.id,
            "is_bot": true,
            "first_name": self.identity.first_name,
            "username": self.identity.username,
        })
    }

    /// The `getMe` result.
    pub fn me(&self) -> Value {
        let mut me = self.bot_user();
        for flag in [
            "can_join_groups",
            "can_read_all_group_messages",
            "supports_inline_queries",
            "can_connect_to_business",
            "has_main_web_app",
        ] {
            me[flag] = json!(flag == "can_join_groups");
        }
        me
    }

    /// Registers a chat (idempotent) and returns it.
    pub fn ensure_chat(&mut self, spec: &ChatSpec) -> &mut ChatState {
        self.chats.entry(spec.id()).or_insert_with(|| ChatState {
            spec: spec.clone(),
            next_message_id: 1,
            messages: BTreeMap::new(),
        })
    }

    /// Appends an update to the queue and returns its id.
    pub fn enqueue(&mut self, kind: &'static str, payload: Value) -> i64 {
        let update_id = self.next_update_id;
        self.next_update_id += 1;
        let json = json!({ "update_id": update_id, kind: payload });
        self.queue.push_back(QueuedUpdate {
            update_id,
            kind,
            json,
        });
        update_id
    }

    /// Whether an update of `kind` is delivered under the current `allowed_updates`.
    pub fn allows(&self, kind: &str) -> bool {
        match &self.allowed_updates {
            Some(list) => list.iter().any(|allowed| allowed == kind),
            None => !NOT_DEFAULT_UPDATES.contains(&kind),
        }
    }

    /// Drops queued updates that the bot does not accept, as Telegram never creates them.
    pub fn drop_disallowed(&mut self) {
        let queue = std::mem::take(&mut self.queue);
        self.queue = queue.into_iter().filter(|u| self.allows(u.kind)).collect();
    }

    /// Appends to the call log.
    pub fn record_call(&mut self, call: BotCall) {
        self.calls.push(call);
    }

    /// Next sequence number of the call log.
    pub fn next_call_seq(&self) -> u64 {
        self.calls.len() as u64 + 1
    }

    /// Bot messages of a chat in their current state.
    pub fn sent_messages(&self, chat_id: i64) -> Vec<SentMessage> {
        let Some(chat) = self.chats.get(&chat_id) else {
            return Vec::new();
        };
        chat.messages
            .values()
            .filter(|message| message.from_bot)
            .map(|message| message.to_sent(chat_id))
            .collect()
    }

    /// Messages and calls of a chat.
    pub fn transcript(&self, chat_id: i64) -> Transcript {
        Transcript {
            chat_id,
            messages: self.sent_messages(chat_id),
            calls: self
                .calls
                .iter()
                .filter(|call| call.chat_id == Some(chat_id))
                .cloned()
                .collect(),
        }
    }

    /// Applies the flood limit to a send in `chat_id`; `Err(retry_after)` when exceeded.
    pub fn check_flood(&mut self, chat_id: i64, limit: FloodLimit) -> Result<(), u64> {
        let now = Instant::now();
        let window = self.flood.entry(chat_id).or_default();
        while window
            .front()
            .is_some_and(|sent| now.duration_since(*sent) >= limit.window)
        {
            window.pop_front();
        }
        if window.len() < limit.max_messages as usize {
            window.push_back(now);
            return Ok(());
        }
        let oldest = window.front().copied().unwrap_or(now);
        let wait = limit.window.saturating_sub(now.duration_since(oldest));
        Err(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
    }

    /// Takes one forced `429`, if any is pending.
    pub fn take_forced_429(&mut self) -> Option<u64> {
        let forced = self.forced_429.as_mut()?;
        forced.remaining -= 1;
        let retry_after = forced.retry_after;
        if forced.remaining == 0 {
            self.forced_429 = None;
        }
        Some(retry_after)
    }
}

impl ChatState {
    /// Stores a message under the next message id and returns the id.
    pub fn store(&mut self, mut message: StoredMessage) -> i32 {
        let id = self.next_message_id;
        self.next_message_id += 1;
        message.id = id;
        self.messages.insert(id, message);
        id
    }

    /// The `Message` object as the Bot API renders it.
    pub fn message_json(&self, id: i32) -> Option<Value> {
        let message = self.messages.get(&id)?;
        let mut json = message.to_json(&self.spec.to_json());
        if let Some(reply) = message.reply_to.and_then(|r| self.messages.get(&r)) {
            json["reply_to_message"] = reply.to_json(&self.spec.to_json());
        }
        Some(json)
    }
}

impl StoredMessage {
    /// A message with no edits, entities or markup yet; `id` is assigned by [`ChatState::store`].
    pub fn new(from_bot: bool, from: Value, text: String) -> Self {
        Self {
            id: 0,
            from_bot,
            from,
            date: chrono::Utc::now().timestamp(),
            edit_date: None,
            raw_text: text.clone(),
            text,
            parse_mode: None,
            entities: Vec::new(),
            reply_markup: None,
            reply_to: None,
            edits: 0,
        }
    }

    fn to_json(&self, chat: &Value) -> Value {
        let mut json = json!({
            "message_id": self.id,
            "from": self.from,
            "chat": chat,
            "date": self.date,
            "text": self.text,
        });
        if !self.entities.is_empty() {
            json["entities"] = json!(self.entities);
        }
        if let Some(date) = self.edit_date {
            json["edit_date"] = json!(date);
        }
        // Only inline keyboards are part of a `Message`; reply keyboards live on the client.
        if let Some(markup) = self
            .reply_markup
            .as_ref()
            .filter(|m| m.get("inline_keyboard").is_some())
        {
            json["reply_markup"] = markup.clone();
        }
        json
    }

    fn to_sent(&self, chat_id: i64) -> SentMessage {
        SentMessage {
            message_id: self.id,
            chat_id,
            text: self.text.clone(),
            raw_text: self.raw_text.clone(),
            parse_mode: self.parse_mode.clone(),
            entities: self.entities.clone(),
            reply_markup: self.reply_markup.clone(),
            reply_to_message_id: self.reply_to,
            date: self.date,
            edit_date: self.edit_date,
            edits: self.edits,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::telegram::types::TgUser;

    fn bot() -> BotState {
        BotState::new(BotIdentity::from_token("1:x"))
    }

    #[test]
    fn update_ids_are_sequential_and_survive_reset() {
        let mut bot = bot();
        assert_eq!(bot.enqueue("message", json!({})), 1);
        assert_eq!(bot.enqueue("message", json!({})), 2);
        bot.reset();
        assert!(bot.queue.is_empty());
        assert_eq!(bot.enqueue("message", json!({})), 3);
    }

    #[test]
    fn default_allowed_updates_exclude_chat_member() {
        let mut bot = bot();
        assert!(bot.allows("message"));
        assert!(!bot.allows("chat_member"));
        bot.allowed_updates = Some(vec!["callback_query".into()]);
        assert!(!bot.allows("message"));
    }

    #[test]
    fn flood_limit_reports_wait() {
        let mut bot = bot();
        let limit = FloodLimit {
            max_messages: 2,
            window: Duration::from_secs(3),
        };
        assert!(bot.check_flood(1, limit).is_ok());
        assert!(bot.check_flood(1, limit).is_ok());
        assert_eq!(bot.check_flood(1, limit), Err(3));
        assert!(bot.check_flood(2, limit).is_ok());
    }

    #[test]
    fn forced_429_counts_down() {
        let mut bot = bot();
        bot.forced_429 = Some(Forced429 {
            remaining: 2,
            retry_after: 5,
        });
        assert_eq!(bot.take_forced_429(), Some(5));
        assert_eq!(bot.take_forced_429(), Some(5));
        assert_eq!(bot.take_forced_429(), None);
    }

    #[test]
    fn message_json_includes_inline_keyboard_only() {
        let user = TgUser::new(7, "Bob");
        let mut chat = ChatState {
            spec: ChatSpec::Private { user },
            next_message_id: 1,
            messages: BTreeMap::new(),
        };
        let mut message = StoredMessage::new(true, json!({"id": 1}), "hi".into());
        message.reply_markup = Some(json!({"keyboard": [[{"text": "a"}]]}));
        let id = chat.store(message);
        let json = chat.message_json(id).expect("stored");
        assert!(json.get("reply_markup").is_none());
        assert_eq!(json["chat"]["id"], 7);
    }
}
