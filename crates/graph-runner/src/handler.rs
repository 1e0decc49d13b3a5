//! The `chat:in` consumer's handler.
//!
//! Delivery guarantee: at-least-once from the bus, exactly-once effect. The consumer runs one chat's events
//! one after another (ordering key = chat id). The idempotency key is the event id: an event fully handled
//! is in the inbox (consumer `graph-runner`) and is skipped; one that died half-way is recognised by its
//! thread ([`crate::conversations`]). Replies are outbox rows committed with the change they report.
//!
//! Failures leave the event pending (`HandlerError::Retry`): it comes back after the claim timeout, until the
//! delivery limit dead-letters it. A model that cannot be reached is explained to the person once per event;
//! on the last delivery an event already recorded in its thread is acknowledged with a note instead of being
//! dead-lettered, because nothing of it would be lost.

use std::sync::Arc;

use orch_bus::{Delivery, HandlerError};
use orch_contracts::messages::chat::{ChatEvent, ChatIn};
use orch_graph::effects;
use orch_store::{inbox, users};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tracing::{Instrument, info_span, warn};

use crate::conversations::{CONSUMER, Conversations, Event, Handled, commit};
use crate::db::{self, RunStatus};
use crate::error::HandleError;
use crate::nodes::ModelUnavailable;
use crate::relay;
use crate::texts;

/// Events handled, by kind and outcome (`graph_runner_events_total`).
pub type EventCounter = Family<Vec<(String, String)>, Counter>;

/// Handles `chat:in` events.
pub struct ChatHandler {
    /// The threads.
    pub conversations: Arc<Conversations>,
    /// The bus's delivery limit (the last delivery is treated specially).
    pub max_deliveries: u64,
    /// Counts events.
    pub events: EventCounter,
}

impl ChatHandler {
    /// Handles one delivery.
    pub async fn handle(&self, delivery: Delivery<ChatIn>) -> Result<(), HandlerError> {
        let envelope = delivery.envelope;
        let kind = kind(&envelope.body.event);
        let span = info_span!("chat_in", event_id = %envelope.event_id, chat_id = envelope.body.chat_id, kind,
            deliveries = delivery.deliveries);
        let result = self
            .handle_event(envelope.event_id, envelope.body, delivery.deliveries)
            .instrument(span)
            .await;
        let outcome = match &result {
            Ok(outcome) => *outcome,
            Err(_) => "retry",
        };
        self.events
            .get_or_create(&vec![
                ("kind".into(), kind.into()),
                ("outcome".into(), outcome.into()),
            ])
            .inc();
        result.map(|_| ())
    }

    async fn handle_event(
        &self,
        event_id: orch_contracts::EventId,
        body: ChatIn,
        deliveries: u64,
    ) -> Result<&'static str, HandlerError> {
        if self
            .already_handled(event_id)
            .await
            .map_err(HandlerError::retry)?
        {
            return Ok("duplicate");
        }
        let event = self
            .identify(event_id, &body)
            .await
            .map_err(HandlerError::retry)?;
        match self.apply(&event, body.event).await {
            Ok(Handled::Applied { run, waiting }) => {
                self.finish(&event, run, waiting)
                    .await
                    .map_err(HandlerError::retry)?;
                Ok("applied")
            }
            Ok(Handled::Replied) => Ok("replied"),
            Err(e) => self.failed(&event, deliveries, e).await,
        }
    }

    async fn apply(&self, event: &Event, what: ChatEvent) -> Result<Handled, HandleError> {
        let c = &self.conversations;
        match what {
            ChatEvent::Command { command, args, .. } => c.on_command(event, &command, &args).await,
            ChatEvent::Text { text, .. } => match c.active(event.chat_id).await? {
                // A thread this very event created (a delivery that died before the first checkpoint) is
                // started again with the text as its idea, not handed the text as an answer.
                Some(thread) if !created_by(&thread, event) => {
                    c.on_text(event, &thread, text).await
                }
                Some(_) | None => c.start(event, Some(text), None).await,
            },
            ChatEvent::Button {
                callback_query_id,
                data,
                ..
            } => c.on_button(event, &callback_query_id, &data).await,
        }
    }

    async fn already_handled(&self, event: orch_contracts::EventId) -> Result<bool, HandleError> {
        let mut conn = self.conversations.conn().await?;
        Ok(inbox::contains(&mut conn, CONSUMER, event).await?)
    }

    /// Records the person and the chat (idempotent upserts).
    async fn identify(
        &self,
        id: orch_contracts::EventId,
        body: &ChatIn,
    ) -> Result<Event, HandleError> {
        let mut conn = self.conversations.conn().await?;
        let user =
            users::upsert_telegram(&mut conn, body.user.id, &body.user.first_name, true).await?;
        let chat_row = db::upsert_chat(&mut conn, body.chat_id, user.id).await?;
        Ok(Event {
            id,
            chat_id: body.chat_id,
            user_id: user.id,
            chat_row,
            budget_usd_micros: user.default_budget_usd_micros,
        })
    }

    /// Marks an applied event handled, and the run waiting for the person (or running) accordingly.
    async fn finish(
        &self,
        event: &Event,
        run: orch_contracts::RunId,
        waiting: bool,
    ) -> Result<(), HandleError> {
        let mut tx = self.conversations.store.begin().await?;
        inbox::claim(&mut tx, CONSUMER, event.id).await?;
        let status = if waiting {
            RunStatus::WaitingForHuman
        } else {
            RunStatus::Running
        };
        db::set_run_status(&mut tx, run, status).await?;
        commit(tx).await?;
        Ok(())
    }

    async fn failed(
        &self,
        event: &Event,
        deliveries: u64,
        error: HandleError,
    ) -> Result<&'static str, HandlerError> {
        let Some(model) = error.model_unavailable() else {
            warn!(error.cause_chain = ?error, "handling failed; the event will be retried");
            return Err(HandlerError::retry(error));
        };
        warn!(error.cause_chain = ?model.source, misconfigured = model.misconfigured, "the model is unavailable");
        match self.model_trouble(event, deliveries, model).await {
            Ok(true) => Ok("gave_up"),
            Ok(false) => Err(HandlerError::retry(error)),
            Err(e) => Err(HandlerError::retry(e)),
        }
    }

    /// Tells the person (once per event); returns true when the event was acknowledged instead of retried.
    async fn model_trouble(
        &self,
        event: &Event,
        deliveries: u64,
        model: &ModelUnavailable,
    ) -> Result<bool, HandleError> {
        let c = &self.conversations;
        if deliveries >= self.max_deliveries && self.recorded(event).await? {
            c.reply(event, vec![texts::send(texts::MODEL_GAVE_UP)])
                .await?;
            return Ok(true);
        }
        let text = if model.misconfigured {
            texts::MODEL_MISCONFIGURED
        } else {
            texts::MODEL_TROUBLE
        };
        let (chat, key) = (event.chat_id, format!("event:{}:model-trouble", event.id));
        effects::once_in_tx(c.store.pool(), &key, move |conn| {
            Box::pin(async move {
                relay::enqueue(conn, chat, None, vec![texts::send(text)])
                    .await
                    .map_err(Into::into)
            })
        })
        .await?;
        c.wake.notify();
        Ok(false)
    }

    /// Whether the event is part of its chat's thread already.
    async fn recorded(&self, event: &Event) -> Result<bool, HandleError> {
        let c = &self.conversations;
        let Some(thread) = c.active(event.chat_id).await? else {
            return Ok(false);
        };
        let view = c.runner.get_state(&thread.thread).await?;
        Ok(view.is_some_and(|v| v.state.has_applied(event.id)))
    }
}

fn kind(event: &ChatEvent) -> &'static str {
    match event {
        ChatEvent::Text { .. } => "text",
        ChatEvent::Command { .. } => "command",
        ChatEvent::Button { .. } => "button",
    }
}

/// True when `thread` was created by `event` (thread ids derive from the creating event).
fn created_by(thread: &crate::db::ActiveThread, event: &Event) -> bool {
    thread.thread == crate::db::ids_for_event(event.chat_id, event.id).thread
}
