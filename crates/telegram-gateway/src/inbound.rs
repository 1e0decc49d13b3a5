//! From Telegram updates to `chat:in`: who may talk to the bot, what a message means, and what happens to
//! everything else (refusals and skipped updates are audited — nothing disappears silently).
//!
//! Delivery guarantee: an update is confirmed to Telegram (polling) or answered 200 (webhook) only after
//! [`Intake::accept`] succeeded. Its event id is derived from the bot and update id, so an update accepted twice
//! (a crash before confirming) is the same event to every consumer's inbox.

use orch_bus::Bus;
use orch_contracts::messages::chat::{ChatEvent, ChatIn, ChatUser};
use orch_contracts::{Envelope, EventId, StreamKey, streams};
use orch_store::Store;
use orch_store::audit::{self, AuditEntry};
use serde_json::{Value, json};
use teloxide::prelude::*;
use teloxide::types::{CallbackQuery, Message, Update, UpdateKind, User};
use tracing::{info, warn};
use uuid::Uuid;

use crate::telegram::{RawUpdate, Telegram};

/// Namespace of the event ids derived from Telegram updates.
const UPDATE_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_3f0e_8a4e_4c1d_9d55_6b7f_1e2a_c0de);

/// What an update asks the gateway to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// Pass it on to the graph.
    Publish(ChatIn),
    /// Someone not on the allowlist: refuse politely and audit.
    Refuse {
        /// Where to answer.
        chat_id: i64,
        /// Who it was.
        user: ChatUser,
    },
    /// An allowed person sent something other than text (a photo, a sticker).
    Unsupported {
        /// Where to answer.
        chat_id: i64,
    },
    /// A button press without data (an old keyboard): stop the spinner.
    ExpiredButton {
        /// The query to answer.
        callback_query_id: String,
    },
    /// Nothing to act on (malformed, or a kind the bot does not handle); audited.
    Skip {
        /// Why.
        reason: String,
    },
}

/// Decides what an update means for a bot with this allowlist.
pub fn classify(update: &Update, allowlist: &[i64]) -> Inbound {
    let update_id = i64::from(update.id.0);
    match &update.kind {
        UpdateKind::Message(message) => classify_message(update_id, message, allowlist),
        UpdateKind::CallbackQuery(query) => classify_button(update_id, query, allowlist),
        UpdateKind::Error(_) => Inbound::Skip {
            reason: "malformed update".into(),
        },
        _ => Inbound::Skip {
            reason: "update kind the bot does not handle".into(),
        },
    }
}

fn chat_user(user: &User) -> ChatUser {
    ChatUser {
        id: user.id.0 as i64,
        username: user.username.clone(),
        first_name: user.first_name.clone(),
    }
}

fn classify_message(update_id: i64, message: &Message, allowlist: &[i64]) -> Inbound {
    let chat_id = message.chat.id.0;
    let Some(from) = message.from.as_ref() else {
        return Inbound::Skip {
            reason: "message without a sender".into(),
        };
    };
    let user = chat_user(from);
    if !allowlist.contains(&user.id) {
        return Inbound::Refuse { chat_id, user };
    }
    let Some(text) = message.text() else {
        return Inbound::Unsupported { chat_id };
    };
    let event = text_event(message.id.0, text);
    Inbound::Publish(ChatIn {
        update_id,
        chat_id,
        user,
        event,
    })
}

/// A `/command args` text becomes a command; anything else (including a malformed command) stays text.
fn text_event(message_id: i32, text: &str) -> ChatEvent {
    if let Some(rest) = text.strip_prefix('/') {
        let (head, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let command = head.split('@').next().unwrap_or(head).to_ascii_lowercase();
        let valid = !command.is_empty()
            && command.len() <= 32
            && command
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if valid {
            return ChatEvent::Command {
                message_id,
                command,
                args: args.trim().to_owned(),
            };
        }
    }
    ChatEvent::Text {
        message_id,
        text: text.to_owned(),
    }
}

fn classify_button(update_id: i64, query: &CallbackQuery, allowlist: &[i64]) -> Inbound {
    let user = chat_user(&query.from);
    let chat_id = query.message.as_ref().map_or(user.id, |m| m.chat().id.0);
    if !allowlist.contains(&user.id) {
        return Inbound::Refuse { chat_id, user };
    }
    let callback_query_id = query.id.0.clone();
    let Some(data) = query.data.clone().filter(|d| !d.is_empty()) else {
        return Inbound::ExpiredButton { callback_query_id };
    };
    let message_id = query.message.as_ref().map(|m| m.id().0);
    Inbound::Publish(ChatIn {
        update_id,
        chat_id,
        user,
        event: ChatEvent::Button {
            callback_query_id,
            message_id,
            data,
        },
    })
}

/// Why an update could not be accepted (it will be offered again).
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// Publishing to `chat:in` failed.
    #[error("failed to publish update {update_id}: {source}")]
    Publish {
        /// The update.
        update_id: i64,
        /// The bus error.
        #[source]
        source: orch_bus::BusError,
    },
    /// Writing the audit log failed.
    #[error("failed to audit update {update_id}: {source}")]
    Audit {
        /// The update.
        update_id: i64,
        /// The store error.
        #[source]
        source: orch_store::StoreError,
    },
}

/// Accepts updates: publishes, refuses, or audits them.
pub struct Intake {
    /// The bus (`chat:in`).
    pub bus: Bus,
    /// The audit log.
    pub store: Store,
    /// The bot (for refusals and expired buttons).
    pub telegram: Telegram,
    /// Allowed Telegram user ids.
    pub allowlist: Vec<i64>,
    /// What refused people are told (`{id}` → their id).
    pub refusal_text: String,
}

impl Intake {
    /// Handles one update; `Ok` means it may be confirmed to Telegram.
    pub async fn accept(&self, update: &RawUpdate) -> Result<(), IntakeError> {
        let inbound = match &update.parsed {
            Ok(parsed) => classify(parsed, &self.allowlist),
            Err(reason) => Inbound::Skip {
                reason: format!("update does not parse: {reason}"),
            },
        };
        match inbound {
            Inbound::Publish(chat_in) => self.publish(update.update_id, chat_in).await,
            Inbound::Refuse { chat_id, user } => {
                self.refuse(update.update_id, chat_id, &user).await
            }
            Inbound::Unsupported { chat_id } => {
                self.reply(chat_id, "I can read text messages and button presses only.")
                    .await;
                Ok(())
            }
            Inbound::ExpiredButton { callback_query_id } => {
                let _ = self
                    .telegram
                    .bot()
                    .answer_callback_query(teloxide::types::CallbackQueryId(callback_query_id))
                    .text("This button has expired.")
                    .await;
                Ok(())
            }
            Inbound::Skip { reason } => self.skip(update, &reason).await,
        }
    }

    /// Handles updates in order like [`Intake::accept`], but publishes each run of consecutive `chat:in`
    /// messages in one pipeline: one Redis round trip (and, with `appendfsync always`, one fsync) instead of one
    /// per update, which bounds a burst's intake rate. On failure returns how many updates, from the first,
    /// were accepted; a pipeline that failed half-way is published again with the same event ids (deduplicated).
    pub async fn accept_many(&self, updates: &[RawUpdate]) -> Result<(), (usize, IntakeError)> {
        let mut run: Vec<(usize, Envelope<ChatIn>)> = Vec::new();
        for (i, update) in updates.iter().enumerate() {
            if let Some(envelope) = self.publishable(update) {
                run.push((i, envelope));
                continue;
            }
            self.publish_run(&mut run, updates).await?;
            self.accept(update).await.map_err(|e| (i, e))?;
        }
        self.publish_run(&mut run, updates).await
    }

    /// The `chat:in` envelope of an update that is published as is (valid contract); `None` for the rest.
    fn publishable(&self, update: &RawUpdate) -> Option<Envelope<ChatIn>> {
        let Inbound::Publish(chat_in) = classify(update.parsed.as_ref().ok()?, &self.allowlist)
        else {
            return None;
        };
        let envelope = Envelope::new(chat_in).with_event_id(self.event_id(update.update_id));
        envelope.to_fields().is_ok().then_some(envelope)
    }

    async fn publish_run(
        &self,
        run: &mut Vec<(usize, Envelope<ChatIn>)>,
        updates: &[RawUpdate],
    ) -> Result<(), (usize, IntakeError)> {
        let Some(&(first, _)) = run.first() else {
            return Ok(());
        };
        let envelopes: Vec<Envelope<ChatIn>> = run.drain(..).map(|(_, e)| e).collect();
        self.bus
            .publish_batch(&StreamKey::from(streams::CHAT_IN), &envelopes)
            .await
            .map(|_| ())
            .map_err(|source| {
                let update_id = updates[first].update_id;
                (first, IntakeError::Publish { update_id, source })
            })
    }

    async fn publish(&self, update_id: i64, chat_in: ChatIn) -> Result<(), IntakeError> {
        let event_id = self.event_id(update_id);
        let envelope = Envelope::new(chat_in).with_event_id(event_id);
        match self
            .bus
            .publish(&StreamKey::from(streams::CHAT_IN), &envelope)
            .await
        {
            Ok(_) => Ok(()),
            // A body breaking the contract (e.g. blank text) can never be published: audit and move on.
            Err(orch_bus::BusError::Contract(e)) => {
                self.skip_reason(update_id, &e.to_string(), Value::Null)
                    .await
            }
            Err(source) => Err(IntakeError::Publish { update_id, source }),
        }
    }

    /// Returns the deterministic event id of an update of this bot.
    pub fn event_id(&self, update_id: i64) -> EventId {
        let name = format!("telegram:{}:{update_id}", self.telegram.bot_id());
        EventId(Uuid::new_v5(&UPDATE_NAMESPACE, name.as_bytes()))
    }

    async fn refuse(
        &self,
        update_id: i64,
        chat_id: i64,
        user: &ChatUser,
    ) -> Result<(), IntakeError> {
        let detail =
            json!({ "chat_id": chat_id, "username": user.username, "update_id": update_id });
        self.audit(
            update_id,
            &format!("telegram:{}", user.id),
            "chat.refused",
            &format!("chat:{chat_id}"),
            detail,
        )
        .await?;
        info!(
            user_id = user.id,
            chat_id, "refused a person not on the allowlist"
        );
        self.reply(
            chat_id,
            &self.refusal_text.replace("{id}", &user.id.to_string()),
        )
        .await;
        Ok(())
    }

    async fn skip(&self, update: &RawUpdate, reason: &str) -> Result<(), IntakeError> {
        self.skip_reason(update.update_id, reason, truncate(&update.raw))
            .await
    }

    async fn skip_reason(
        &self,
        update_id: i64,
        reason: &str,
        raw: Value,
    ) -> Result<(), IntakeError> {
        warn!(update_id, reason, "skipping an update");
        let detail = json!({ "update_id": update_id, "reason": reason, "update": raw });
        self.audit(
            update_id,
            "telegram-gateway",
            "telegram.update_skipped",
            &format!("update:{update_id}"),
            detail,
        )
        .await
    }

    async fn audit(
        &self,
        update_id: i64,
        actor: &str,
        action: &str,
        subject: &str,
        detail: Value,
    ) -> Result<(), IntakeError> {
        let entry = AuditEntry {
            actor,
            action,
            subject,
            detail,
            run_id: None,
        };
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(|e| IntakeError::Audit {
                update_id,
                source: orch_store::StoreError::Database {
                    action: "acquiring a connection",
                    source: e,
                },
            })?;
        audit::append(&mut conn, &entry)
            .await
            .map_err(|source| IntakeError::Audit { update_id, source })?;
        Ok(())
    }

    /// Best-effort direct reply (refusals, unsupported content): failures are logged, not retried.
    async fn reply(&self, chat_id: i64, text: &str) {
        if let Err(e) = self
            .telegram
            .bot()
            .send_message(ChatId(chat_id), text)
            .await
        {
            warn!(chat_id, error = %e, "could not send a direct reply");
        }
    }
}

/// Keeps audit details small: at most 2 KiB of the raw update.
fn truncate(raw: &Value) -> Value {
    let text = raw.to_string();
    if text.len() <= 2048 {
        raw.clone()
    } else {
        Value::String(text.chars().take(2048).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(json: Value) -> Update {
        crate::telegram::RawUpdate::from_value(json)
            .expect("has an id")
            .parsed
            .expect("parses")
    }

    fn message(user_id: i64, text: &str) -> Update {
        update(
            json!({"update_id": 9, "message": {"message_id": 3, "date": 1,
            "chat": {"id": user_id, "type": "private", "first_name": "A"},
            "from": {"id": user_id, "is_bot": false, "first_name": "A"}, "text": text}}),
        )
    }

    #[test]
    fn allowed_text_commands_and_strangers() {
        match classify(&message(42, "build me a bot"), &[42]) {
            Inbound::Publish(c) => assert_eq!(
                c.event,
                ChatEvent::Text {
                    message_id: 3,
                    text: "build me a bot".into()
                }
            ),
            other => panic!("{other:?}"),
        }
        match classify(&message(42, "/New@my_bot a weather bot"), &[42]) {
            Inbound::Publish(c) => assert_eq!(
                c.event,
                ChatEvent::Command {
                    message_id: 3,
                    command: "new".into(),
                    args: "a weather bot".into()
                }
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify(&message(7, "hi"), &[42]),
            Inbound::Refuse { chat_id: 7, .. }
        ));
        assert!(
            matches!(classify(&message(7, "hi"), &[]), Inbound::Refuse { .. }),
            "empty allowlist refuses all"
        );
    }

    #[test]
    fn a_malformed_command_stays_text() {
        assert!(matches!(text_event(1, "/!!"), ChatEvent::Text { .. }));
        assert!(matches!(text_event(1, "/"), ChatEvent::Text { .. }));
    }

    #[test]
    fn buttons_and_malformed_updates() {
        let press = update(
            json!({"update_id": 10, "callback_query": {"id": "cb1", "chat_instance": "ci",
            "from": {"id": 42, "is_bot": false, "first_name": "A"}, "data": "approve:1",
            "message": {"message_id": 5, "date": 1, "chat": {"id": 42, "type": "private", "first_name": "A"}, "text": "spec"}}}),
        );
        match classify(&press, &[42]) {
            Inbound::Publish(c) => assert_eq!(
                c.event,
                ChatEvent::Button {
                    callback_query_id: "cb1".into(),
                    message_id: Some(5),
                    data: "approve:1".into()
                }
            ),
            other => panic!("{other:?}"),
        }
        let broken = update(json!({"update_id": 11, "message": {"garbage": true}}));
        assert!(matches!(classify(&broken, &[42]), Inbound::Skip { .. }));
    }
}
