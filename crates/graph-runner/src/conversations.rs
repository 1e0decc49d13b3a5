//! Applying one `chat:in` event to its chat's thread: start a thread, settle it, resume it with the person's
//! answer, or reply without touching it.
//!
//! # Idempotency
//! An event changes a thread only through a graph input whose answer carries the event id; the node that
//! consumes the answer records the id in [`Conversation::applied`] in the same checkpoint. Before applying, a
//! thread is *settled*: a run left unfinished by a crash is continued first (that may apply an earlier
//! delivery of this very event), then the applied list decides. Replies that do not touch a thread are written
//! with the inbox claim in one transaction ([`Conversations::reply`]).

use std::time::Duration;

use chrono::Utc;
use orch_contracts::messages::chat::ChatAction;
use orch_contracts::{EventId, ProjectId};
use orch_graph::{
    Command, GraphError, Input, InputRefused, Outcome, Runner, ThreadKey, ThreadState,
};
use orch_store::projects::ProjectStatus;
use orch_store::{Store, StoreError, inbox};
use tokio::time::Instant;

use crate::callback::{ButtonData, Choice, DecisionData};
use crate::db::{self, ActiveThread, DerivedIds, NewThread};
use crate::error::HandleError;
use crate::escalation;
use crate::relay::{self, Wake};
use crate::state::{Answer, Conversation, ThreadIds, Waiting};
use crate::texts;

/// The inbox consumer name of this service.
pub const CONSUMER: &str = "graph-runner";

/// One `chat:in` event being handled.
#[derive(Debug, Clone)]
pub struct Event {
    /// Its id (the idempotency key).
    pub id: EventId,
    /// The Telegram chat.
    pub chat_id: i64,
    /// The person (`users.id`).
    pub user_id: i64,
    /// The chat's row (`chats.id`).
    pub chat_row: i64,
    /// The person's default budget for new projects.
    pub budget_usd_micros: i64,
}

/// How an event was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// It changed a thread (or was found applied); the handler claims the inbox afterwards.
    Applied {
        /// The thread's run.
        run: orch_contracts::RunId,
        /// Whether the thread now waits for the person.
        waiting: bool,
    },
    /// It was answered; the inbox was claimed with the reply.
    Replied,
}

/// The threads of every chat, driven by one runner.
pub struct Conversations {
    /// The database.
    pub store: Store,
    /// The graph runner (checkpoints and leases in PostgreSQL).
    pub runner: Runner<Conversation>,
    /// Wakes the outbox relay.
    pub wake: Wake,
    /// How long to wait for a lease held by a runner that died.
    pub lease_wait: Duration,
}

impl Conversations {
    /// Returns the chat's active thread.
    pub async fn active(&self, chat_id: i64) -> Result<Option<ActiveThread>, StoreError> {
        let mut conn = self.conn().await?;
        db::active_thread(&mut conn, chat_id).await
    }

    /// Starts a thread for `event` (setting `previous` aside), or finds the one it started before a crash.
    pub async fn start(
        &self,
        event: &Event,
        idea: Option<String>,
        previous: Option<ActiveThread>,
    ) -> Result<Handled, HandleError> {
        let ids = db::ids_for_event(event.chat_id, event.id);
        if !self.create_rows(event, &ids, previous).await? {
            let Some(active) = self.active(event.chat_id).await? else {
                return Ok(applied(&ids, false)); // created, then closed by a later event
            };
            if active.thread != ids.thread {
                return Ok(applied(&ids, false));
            }
        }
        let thread_ids = ThreadIds {
            chat_id: event.chat_id,
            owner_user_id: event.user_id,
            project_id: ids.project_id,
            run_id: ids.run_id,
        };
        let fresh = Conversation::new(thread_ids, idea.clone().map(|text| (text, event.id)));
        match self
            .invoke(&ids.thread, || Input::Start(fresh.clone()))
            .await
        {
            Ok(outcome) => Ok(applied(&ids, !outcome.is_done())),
            Err(GraphError::Input {
                reason: InputRefused::AlreadyStarted,
                ..
            }) => {
                let thread = self
                    .active(event.chat_id)
                    .await?
                    .ok_or_else(|| gone(&ids.thread))?;
                match idea {
                    Some(text) => self.on_text(event, &thread, text).await,
                    None => Ok(applied(&ids, true)),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the project, thread and run of `ids` (closing `previous`); false when they existed already.
    async fn create_rows(
        &self,
        event: &Event,
        ids: &DerivedIds,
        previous: Option<ActiveThread>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.store.begin().await?;
        if db::thread_exists(&mut tx, &ids.thread).await? {
            return Ok(false);
        }
        if let Some(previous) = previous {
            let keep = [
                ProjectStatus::SpecApproved,
                ProjectStatus::Building,
                ProjectStatus::Live,
            ];
            db::close_thread(&mut tx, &previous, &keep).await?;
            let notice = format!("Set aside `{}` — starting a new project.", previous.name);
            relay::enqueue(
                &mut tx,
                event.chat_id,
                None,
                vec![texts::send_markdown(notice)],
            )
            .await?;
        }
        let new = NewThread {
            ids,
            chat_row: event.chat_row,
            owner_user_id: event.user_id,
            budget_usd_micros: event.budget_usd_micros,
        };
        db::open_thread(&mut tx, &new).await?;
        commit(tx).await?;
        self.wake.notify();
        Ok(true)
    }

    /// Applies a text to the chat's active thread.
    pub async fn on_text(
        &self,
        event: &Event,
        thread: &ActiveThread,
        text: String,
    ) -> Result<Handled, HandleError> {
        let view = self.settle(event, thread).await?;
        if view.state.has_applied(event.id) {
            return Ok(applied_to(thread, &view));
        }
        match waiting(&view) {
            Some(_) => {
                self.resume(
                    thread,
                    Answer::Text {
                        text,
                        event_id: event.id,
                    },
                )
                .await
            }
            None => {
                let name = view.state.approved.map_or(thread.name.clone(), |a| a.name);
                self.reply(
                    event,
                    vec![texts::send_markdown(texts::already_approved(&name))],
                )
                .await
            }
        }
    }

    /// Applies a button press.
    pub async fn on_button(
        &self,
        event: &Event,
        query: &str,
        data: &str,
    ) -> Result<Handled, HandleError> {
        if let Some(decision) = DecisionData::parse(data) {
            return self.on_decision(event, query, decision).await;
        }
        let Some(button) = ButtonData::parse(data) else {
            let text = "I don't recognise that button. /status shows where we are.";
            return self
                .reply(
                    event,
                    vec![
                        texts::answer_button(query, "Unknown button"),
                        texts::send(text),
                    ],
                )
                .await;
        };
        let (thread, view) = match self.pressed_in(event, query, Some(button.project)).await? {
            Pressed::Live(thread, view) => (thread, view),
            Pressed::Handled(handled) => return Ok(handled),
        };
        match waiting(&view) {
            Some(Waiting::Approval { rev }) if rev == button.rev => {
                let (callback_query_id, event_id) = (query.to_owned(), event.id);
                let answer = match button.choice {
                    Choice::Approve => Answer::Approve {
                        callback_query_id,
                        event_id,
                    },
                    Choice::Change => Answer::Change {
                        callback_query_id,
                        event_id,
                    },
                };
                self.resume(&thread, answer).await
            }
            Some(Waiting::Approval { rev }) => {
                let text = format!(
                    "That button belongs to spec v{}; the current draft is v{rev} — use the buttons under it.",
                    button.rev
                );
                self.expired(event, query, &text).await
            }
            Some(Waiting::Text { .. } | Waiting::Workers { .. }) => {
                let text =
                    "That spec is no longer waiting for a decision. /status shows where we are.";
                self.expired(event, query, text).await
            }
            None => {
                self.expired(event, query, "That spec is already approved.")
                    .await
            }
        }
    }

    /// Applies a press under a question: to the active thread's open question only.
    async fn on_decision(
        &self,
        event: &Event,
        query: &str,
        decision: DecisionData,
    ) -> Result<Handled, HandleError> {
        let project = {
            let mut conn = self.conn().await?;
            escalation::project_of(&mut conn, decision.escalation).await?
        };
        let (thread, view) = match self
            .pressed_in(event, query, project.map(ProjectId))
            .await?
        {
            Pressed::Live(thread, view) => (thread, view),
            Pressed::Handled(handled) => return Ok(handled),
        };
        match waiting(&view) {
            Some(Waiting::Workers { .. }) => {
                let answer = Answer::Decision {
                    escalation: decision.escalation,
                    approve: decision.approve,
                    callback_query_id: query.to_owned(),
                    event_id: event.id,
                };
                self.resume(&thread, answer).await
            }
            _ => self.expired(event, query, texts::ALREADY_ANSWERED).await,
        }
    }

    /// The chat's active thread, settled, when a button of `project` was pressed in it; a button of another
    /// project (closed or set aside) is answered as expired, a press applied before as such.
    async fn pressed_in(
        &self,
        event: &Event,
        query: &str,
        project: Option<ProjectId>,
    ) -> Result<Pressed, HandleError> {
        let thread = match self.active(event.chat_id).await? {
            Some(thread) if Some(thread.project_id) == project => thread,
            _ => {
                let text = "That button belongs to a project that is closed or was set aside. /status shows \
                            the current one.";
                return Ok(Pressed::Handled(self.expired(event, query, text).await?));
            }
        };
        let view = self.settle(event, &thread).await?;
        if view.state.has_applied(event.id) {
            return Ok(Pressed::Handled(applied_to(&thread, &view)));
        }
        Ok(Pressed::Live(thread, Box::new(view)))
    }

    async fn expired(
        &self,
        event: &Event,
        query: &str,
        text: &str,
    ) -> Result<Handled, HandleError> {
        let actions = vec![
            texts::answer_button(query, "This button has expired"),
            texts::send(text),
        ];
        self.reply(event, actions).await
    }

    /// Loads the thread, first starting it (if it has no checkpoint yet) or continuing an unfinished run.
    pub async fn settle(
        &self,
        event: &Event,
        thread: &ActiveThread,
    ) -> Result<ThreadState<Conversation>, HandleError> {
        let key = &thread.thread;
        let result = match self.runner.get_state(key).await? {
            Some(view) if view.next.is_empty() || !view.interrupts.is_empty() => return Ok(view),
            Some(_) => self.invoke(key, || Input::Continue).await,
            None => {
                let ids = ThreadIds {
                    chat_id: event.chat_id,
                    owner_user_id: thread.owner_user_id,
                    project_id: thread.project_id,
                    run_id: thread.run_id,
                };
                self.invoke(key, || Input::Start(Conversation::new(ids, None)))
                    .await
            }
        };
        match result {
            Ok(_)
            | Err(GraphError::Input {
                reason: InputRefused::AlreadyStarted,
                ..
            }) => {}
            Err(e) => return Err(e.into()),
        }
        self.runner.get_state(key).await?.ok_or_else(|| gone(key))
    }

    /// Hands a factory result (a worker's or a review's, as `answer`, keyed by `event_id`) to the chat's
    /// thread when it waits for one; returns whether it was applied now (false when it was applied before, or
    /// the thread is not waiting for results yet).
    pub async fn on_factory_result(
        &self,
        chat_id: i64,
        event_id: EventId,
        answer: Answer,
    ) -> Result<bool, HandleError> {
        let Some(thread) = self.active(chat_id).await? else {
            return Ok(false);
        };
        let Some(mut view) = self.runner.get_state(&thread.thread).await? else {
            return Ok(false);
        };
        if !view.next.is_empty() && view.interrupts.is_empty() {
            // A step that failed (a transient GitHub error, a crash) after taking its answer: run it again with
            // that answer first, as `settle` does for the person's events. A step running right now (its lease
            // is held) is left alone: the next pass looks again.
            match self.runner.invoke(&thread.thread, Input::Continue).await {
                Err(GraphError::LeaseHeld { .. }) => return Ok(false),
                other => {
                    other?;
                }
            }
            view = match self.runner.get_state(&thread.thread).await? {
                Some(view) => view,
                None => return Ok(false),
            };
        }
        if view.state.has_applied(event_id)
            || !matches!(waiting(&view), Some(Waiting::Workers { .. }))
        {
            return Ok(false);
        }
        self.resume(&thread, answer).await?;
        Ok(true)
    }

    async fn resume(&self, thread: &ActiveThread, answer: Answer) -> Result<Handled, HandleError> {
        let value = serde_json::to_value(&answer).map_err(|e| HandleError::Inconsistent {
            thread: thread.thread.to_string(),
            reason: format!("the answer does not serialize: {e}"),
        })?;
        let outcome = self
            .invoke(&thread.thread, || {
                Input::Resume(Command::resume(value.clone()))
            })
            .await?;
        Ok(Handled::Applied {
            run: thread.run_id,
            waiting: !outcome.is_done(),
        })
    }

    /// Invokes the runner, waiting (up to `lease_wait`) for a lease still held by a runner that died.
    pub async fn invoke(
        &self,
        thread: &ThreadKey,
        input: impl Fn() -> Input<Conversation>,
    ) -> Result<Outcome<Conversation>, GraphError> {
        let deadline = Instant::now() + self.lease_wait;
        loop {
            match self.runner.invoke(thread, input()).await {
                Err(GraphError::LeaseHeld {
                    expires_at, owner, ..
                }) if Instant::now() < deadline => {
                    tracing::info!(%thread, owner, %expires_at, "thread leased by another runner; waiting");
                    let left = (expires_at - Utc::now()).to_std().unwrap_or_default();
                    tokio::time::sleep(
                        left.clamp(Duration::from_millis(50), Duration::from_secs(1)),
                    )
                    .await;
                }
                other => return other,
            }
        }
    }

    /// Answers an event without touching a thread: the inbox claim and the replies commit together.
    pub async fn reply(
        &self,
        event: &Event,
        actions: Vec<ChatAction>,
    ) -> Result<Handled, HandleError> {
        let mut tx = self.store.begin().await?;
        if inbox::claim(&mut tx, CONSUMER, event.id).await? {
            relay::enqueue(&mut tx, event.chat_id, None, actions).await?;
            commit(tx).await?;
            self.wake.notify();
        }
        Ok(Handled::Replied)
    }

    /// A connection from the pool.
    pub async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>, StoreError> {
        self.store
            .pool()
            .acquire()
            .await
            .map_err(|source| StoreError::Database {
                action: "acquiring a connection",
                source,
            })
    }
}

/// Where a button press landed.
enum Pressed {
    /// In the chat's active thread, which has not applied it yet.
    Live(ActiveThread, Box<ThreadState<Conversation>>),
    /// Answered already (expired, or applied before).
    Handled(Handled),
}

/// Returns what the thread waits for, if anything.
pub fn waiting(view: &ThreadState<Conversation>) -> Option<Waiting> {
    let interrupt = view.interrupts.first()?;
    serde_json::from_value(interrupt.payload.clone()).ok()
}

fn applied(ids: &DerivedIds, waiting: bool) -> Handled {
    Handled::Applied {
        run: ids.run_id,
        waiting,
    }
}

fn applied_to(thread: &ActiveThread, view: &ThreadState<Conversation>) -> Handled {
    Handled::Applied {
        run: thread.run_id,
        waiting: !view.interrupts.is_empty(),
    }
}

fn gone(thread: &ThreadKey) -> HandleError {
    HandleError::Inconsistent {
        thread: thread.to_string(),
        reason: "the thread has no checkpoint after it was started".into(),
    }
}

/// Commits, naming the failure.
pub async fn commit(
    tx: orch_store::Transaction<'static, orch_store::Postgres>,
) -> Result<(), StoreError> {
    tx.commit().await.map_err(|source| StoreError::Database {
        action: "committing",
        source,
    })
}
