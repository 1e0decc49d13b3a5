//! The brainstorm graph's nodes.
//!
//! ```text
//! START ─► think ──question──► ask ──(person answers)──► think
//!            │                                  ▲
//!            └──spec──► review ──Approve──► approve ─► architect ─► develop ⟲ (worker results) ─► END
//!                          │ └──text──────────────┘ (a change request)
//!                          └──Change──► change ──(person says what)──► think
//! ```
//! - `think` asks the `brainstorm` model for the next question or the spec (structured JSON, validated, one
//!   repair). Garbage twice or an exhausted budget become a message to the person; an unreachable model fails
//!   the node ([`ModelUnavailable`]) so the message is retried.
//! - `ask`, `review` and `change` send their message as an exactly-once effect (the outbox row and the effect
//!   record commit together) and then wait in an interrupt; resumed, they run again from the start, find the
//!   effect done, and return the person's answer.
//! - `approve` stores the spec and the project, answers the button and says what happens next — one
//!   transaction, done once.
//! - `architect` (only when GitHub is configured): plans the repository and the tasks, creates the repository
//!   with its scaffold, stores the tasks and tells the person ([`crate::factory`]).

use std::sync::Arc;

use futures::future::BoxFuture;
use orch_contracts::messages::chat::ChatAction;
use orch_contracts::spec::{ProjectSpec, SPEC_SCHEMA_VERSION};
use orch_graph::effects::{self, EffectError};
use orch_graph::{Ctx, Node, NodeError};
use orch_llm::{CallContext, Llm, LlmError};
use orch_store::audit::{self, AuditEntry};
use orch_store::{Store, StoreError, projects};
use sqlx::PgConnection;

use crate::callback::approval_buttons;
use crate::db::{self, RunStatus};
use crate::prompt::{self, ModelAnswer};
use crate::relay::{self, Wake};
use crate::state::{Answer, Approved, Conversation, ConversationUpdate, Next, Turn, Waiting};
use crate::texts;

/// The `model_configs` role of the brainstorm model.
pub const ROLE: &str = "brainstorm";

/// What the nodes work with.
pub struct Deps {
    /// The database (effects, outbox, projects).
    pub store: Store,
    /// LLM clients.
    pub llm: Llm,
    /// Wakes the outbox relay.
    pub wake: Wake,
    /// The question budget of one brainstorm.
    pub max_questions: u32,
    /// Where repositories are created; `None` ends a conversation at the approved spec.
    pub factory: Option<crate::factory::Factory>,
}

/// The model could not be used; the message that led here is retried.
#[derive(Debug, thiserror::Error)]
#[error("the brainstorm model is unavailable: {source}")]
pub struct ModelUnavailable {
    /// True when an operator must fix the configuration (a retry alone will not help).
    pub misconfigured: bool,
    /// What the LLM client reported.
    #[source]
    pub source: LlmError,
}

impl ModelUnavailable {
    fn new(source: LlmError) -> Self {
        let misconfigured = matches!(
            source,
            LlmError::Config(_)
                | LlmError::Setup { .. }
                | LlmError::Unauthorized { .. }
                | LlmError::ModelNotFound { .. }
                | LlmError::Rejected { .. }
        );
        Self {
            misconfigured,
            source,
        }
    }
}

/// A node of the graph: which step, and the shared dependencies.
#[derive(Clone)]
pub struct Step {
    deps: Arc<Deps>,
    kind: StepKind,
}

/// The steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// Ask the model.
    Think,
    /// Send a question, wait for the answer.
    Ask,
    /// Show the spec, wait for Approve / Change.
    Review,
    /// Store the approved spec.
    Approve,
    /// Ask what to change, wait for the answer.
    Change,
    /// Plan the repository and the tasks, create the repository.
    Architect,
    /// Run the tasks on coding workers.
    Develop,
}

impl Step {
    /// Creates the node for `kind`.
    pub fn new(deps: Arc<Deps>, kind: StepKind) -> Self {
        Self { deps, kind }
    }
}

impl Node<Conversation> for Step {
    fn call(
        &self,
        state: Arc<Conversation>,
        ctx: Ctx,
    ) -> BoxFuture<'static, Result<ConversationUpdate, NodeError>> {
        let (deps, kind) = (self.deps.clone(), self.kind);
        Box::pin(async move {
            match kind {
                StepKind::Think => deps.think(&state, &ctx).await,
                StepKind::Ask => deps.ask(&state, &ctx).await,
                StepKind::Review => deps.review(&state, &ctx).await,
                StepKind::Approve => deps.approve(&state, &ctx).await,
                StepKind::Change => deps.change(&state, &ctx).await,
                StepKind::Architect => deps.architect(&state, &ctx).await,
                StepKind::Develop => deps.develop(&state, &ctx).await,
            }
        })
    }
}

impl Deps {
    async fn think(
        &self,
        state: &Conversation,
        ctx: &Ctx,
    ) -> Result<ConversationUpdate, NodeError> {
        let answer = self.ask_model(state, ctx).await;
        if answer.is_ok() {
            self.warn_about_budget(state, ctx).await?;
        }
        match answer {
            Ok(ModelAnswer {
                question: Some(q), ..
            }) => Ok(ConversationUpdate {
                turns: vec![Turn::Question {
                    text: q.trim().to_owned(),
                }],
                next: Some(Next::Ask {
                    text: q.trim().to_owned(),
                }),
                asked: true,
                ..ConversationUpdate::default()
            }),
            Ok(ModelAnswer {
                spec: Some(spec), ..
            }) => Ok(ConversationUpdate {
                turns: vec![Turn::Spec {
                    rev: state.spec_rev + 1,
                }],
                spec: Some(spec),
                next: Some(Next::Review),
                ..ConversationUpdate::default()
            }),
            Ok(_) => Err(NodeError::msg(
                "the checked model answer has neither question nor spec",
            )),
            Err(LlmError::InvalidJson { reason, .. }) => {
                tracing::warn!(
                    reason,
                    "the model answered garbage twice; asking the person to rephrase"
                );
                Ok(ConversationUpdate::goto(Next::Ask {
                    text: texts::MODEL_GARBLED.to_owned(),
                }))
            }
            Err(LlmError::BudgetExceeded {
                spent_usd_micros,
                budget_usd_micros,
                ..
            }) => {
                let text = texts::over_budget(spent_usd_micros, budget_usd_micros);
                Ok(ConversationUpdate::goto(Next::Ask { text }))
            }
            Err(e) => Err(ModelUnavailable::new(e).into()),
        }
    }

    /// One brainstorm call; its idempotency key is stable across re-runs of the task, so a re-run after a
    /// crash records its usage once.
    async fn ask_model(&self, state: &Conversation, ctx: &Ctx) -> Result<ModelAnswer, LlmError> {
        let client = self.llm.client(ROLE).await?;
        let call = CallContext::new(ctx.effect_key("llm"))
            .with_user(state.owner_user_id)
            .with_project(state.project_id)
            .with_run(state.run_id);
        let request = prompt::request(state, self.max_questions);
        let answer = client
            .chat_json_validated(&call, request, |a: &ModelAnswer| a.check())
            .await?;
        Ok(answer.value)
    }

    async fn ask(&self, state: &Conversation, ctx: &Ctx) -> Result<ConversationUpdate, NodeError> {
        let Next::Ask { text } = &state.next else {
            return Err(NodeError::msg("ask ran without a question"));
        };
        self.send_once(ctx, "ask", state, vec![texts::send(text.clone())])
            .await?;
        let answer: Answer = ctx.interrupt(Waiting::Text {
            asked: text.clone(),
        })?;
        person_said(answer, |text| text)
    }

    async fn review(
        &self,
        state: &Conversation,
        ctx: &Ctx,
    ) -> Result<ConversationUpdate, NodeError> {
        let spec = current_spec(state)?;
        let (project, rev) = (state.project_id, state.spec_rev);
        let buttons = approval_buttons(project, rev);
        let present = vec![
            texts::send_markdown(texts::render_spec(spec, rev)),
            texts::approval_prompt(&project.0, rev, &spec.name, buttons),
        ];
        self.send_once(ctx, "present", state, present).await?;
        match ctx.interrupt::<Answer>(Waiting::Approval { rev })? {
            Answer::Approve {
                callback_query_id,
                event_id,
            } => Ok(ConversationUpdate {
                next: Some(Next::Approve { callback_query_id }),
                applied: Some(event_id),
                ..ConversationUpdate::default()
            }),
            Answer::Change {
                callback_query_id,
                event_id,
            } => Ok(ConversationUpdate {
                next: Some(Next::Change { callback_query_id }),
                applied: Some(event_id),
                ..ConversationUpdate::default()
            }),
            text @ Answer::Text { .. } => {
                let decided = texts::approval_decided(&project.0, rev, "changes requested ✏️");
                self.send_once(ctx, "decided", state, vec![decided]).await?;
                person_said(text, |text| text)
            }
            other @ (Answer::WorkerFinished { .. }
            | Answer::ReviewFinished { .. }
            | Answer::Decision { .. }) => Err(NodeError::msg(format!(
                "a spec review was resumed with a factory answer: {other:?}"
            ))),
        }
    }

    async fn change(
        &self,
        state: &Conversation,
        ctx: &Ctx,
    ) -> Result<ConversationUpdate, NodeError> {
        let Next::Change { callback_query_id } = &state.next else {
            return Err(NodeError::msg("change ran without a button press"));
        };
        let (project, rev) = (state.project_id, state.spec_rev);
        let actions = vec![
            texts::answer_button(callback_query_id, "OK, let's change it"),
            texts::approval_decided(&project.0, rev, "changes requested ✏️"),
            texts::send(texts::WHAT_TO_CHANGE),
        ];
        self.send_once(ctx, "ask", state, actions).await?;
        let answer: Answer = ctx.interrupt(Waiting::Text {
            asked: texts::WHAT_TO_CHANGE.to_owned(),
        })?;
        person_said(answer, |text| format!("Please change the spec: {text}"))
    }

    async fn approve(
        &self,
        state: &Conversation,
        ctx: &Ctx,
    ) -> Result<ConversationUpdate, NodeError> {
        let Next::Approve { callback_query_id } = &state.next else {
            return Err(NodeError::msg("approve ran without a button press"));
        };
        let building = self.factory.is_some();
        let approval = Approval {
            state: state.clone(),
            spec: current_spec(state)?.clone(),
            callback_query_id: callback_query_id.clone(),
            building,
        };
        let approved: Approved =
            effects::once_in_tx(self.store.pool(), &ctx.effect_key("approve"), move |conn| {
                Box::pin(async move { approval.store(conn).await.map_err(Into::into) })
            })
            .await?;
        self.wake.notify();
        Ok(ConversationUpdate {
            approved: Some(approved),
            next: Some(if building {
                Next::Architect
            } else {
                Next::Done
            }),
            ..ConversationUpdate::default()
        })
    }

    /// Queues `actions` on `chat:out` exactly once per task: the outbox rows and the effect record of
    /// `<task>/<name>` commit together, so a node that runs again (a resume, a crash) sends nothing twice.
    pub(crate) async fn send_once(
        &self,
        ctx: &Ctx,
        name: &str,
        state: &Conversation,
        actions: Vec<ChatAction>,
    ) -> Result<(), EffectError> {
        self.write_once(ctx, name, state, move |_| {
            Box::pin(async move { Ok(actions) })
        })
        .await
    }

    /// Runs `write` and queues the actions it returns on `chat:out`, exactly once per task: the writes, the
    /// outbox rows and the effect record of `<task>/<name>` commit in one transaction.
    pub(crate) async fn write_once<F>(
        &self,
        ctx: &Ctx,
        name: &str,
        state: &Conversation,
        write: F,
    ) -> Result<(), EffectError>
    where
        F: for<'c> FnOnce(&'c mut PgConnection) -> effects::TxEffect<'c, Vec<ChatAction>>
            + Send
            + 'static,
    {
        let (chat, run) = (state.chat_id, state.run_id);
        effects::once_in_tx(self.store.pool(), &ctx.effect_key(name), move |conn| {
            Box::pin(async move {
                let actions = write(&mut *conn).await?;
                relay::enqueue(conn, chat, Some(run), actions).await?;
                Ok(())
            })
        })
        .await?;
        self.wake.notify();
        Ok(())
    }
}

pub(crate) fn current_spec(state: &Conversation) -> Result<&ProjectSpec, NodeError> {
    state
        .spec
        .as_ref()
        .ok_or_else(|| NodeError::msg("no spec has been proposed yet"))
}

/// The update of a node resumed with the person's text: the turn (shaped by `turn`), the event, then think.
fn person_said(
    answer: Answer,
    turn: impl FnOnce(String) -> String,
) -> Result<ConversationUpdate, NodeError> {
    let Answer::Text { text, event_id } = answer else {
        return Err(NodeError::msg(format!(
            "expected a text answer, got {answer:?}"
        )));
    };
    Ok(ConversationUpdate {
        turns: vec![Turn::Person { text: turn(text) }],
        next: Some(Next::Think),
        applied: Some(event_id),
        ..ConversationUpdate::default()
    })
}

/// Everything the approval transaction needs.
struct Approval {
    state: Conversation,
    spec: ProjectSpec,
    callback_query_id: String,
    building: bool,
}

impl Approval {
    /// Names the project (unique among its owner's), stores the spec version, finishes the run, audits, and
    /// queues the replies — in the caller's transaction.
    async fn store(self, conn: &mut PgConnection) -> Result<Approved, StoreError> {
        let s = &self.state;
        let name =
            db::unique_name(&mut *conn, s.project_id, s.owner_user_id, &self.spec.name).await?;
        db::rename_project(&mut *conn, s.project_id, &name).await?;
        let stored = ProjectSpec {
            name: name.clone(),
            ..self.spec.clone()
        };
        let value = serde_json::to_value(&stored).map_err(|e| StoreError::Database {
            action: "serializing the approved spec",
            source: sqlx::Error::Decode(Box::new(e)),
        })?;
        let version = projects::approve_spec(
            &mut *conn,
            s.project_id,
            i32::from(SPEC_SCHEMA_VERSION),
            &value,
        )
        .await?;
        db::set_run_status(&mut *conn, s.run_id, RunStatus::Succeeded).await?;
        self.audit(conn, &name, version).await?;
        let replies = vec![
            texts::answer_button(&self.callback_query_id, "Approved ✅"),
            texts::approval_decided(&s.project_id.0, s.spec_rev, "approved ✅"),
            texts::send_markdown(texts::approved(&self.spec, &name, version, self.building)),
        ];
        relay::enqueue(conn, s.chat_id, Some(s.run_id), replies).await?;
        Ok(Approved { name, version })
    }

    async fn audit(
        &self,
        conn: &mut PgConnection,
        name: &str,
        version: i32,
    ) -> Result<(), StoreError> {
        let s = &self.state;
        let entry = AuditEntry {
            actor: &format!("user:{}", s.owner_user_id),
            action: "project.spec_approved",
            subject: &format!("project:{}", s.project_id),
            detail: serde_json::json!({ "name": name, "version": version, "rev": s.spec_rev }),
            run_id: Some(s.run_id),
        };
        audit::append(conn, &entry).await?;
        Ok(())
    }
}
