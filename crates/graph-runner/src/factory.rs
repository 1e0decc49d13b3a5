//! The `architect` step after an approval: the build plan, the repository with its scaffold, the tasks.
//!
//! Each part is done once per thread, whatever crashes and retries happen:
//! - the plan is asked for once and recorded as an effect (a re-run reuses it, so the repository and the tasks
//!   always follow the same plan);
//! - the scaffold's commit date is recorded the same way, so a retried setup builds the same commit;
//! - the repository setup is idempotent by itself (an existing repository or `main` is adopted);
//! - the tasks rows and the message to the person commit together in one effect transaction;
//! - with zavhoz configured, the project's git token handle is allocated once ([`crate::git_token`]), before
//!   anything is planned or created.
//!
//! A plan the model cannot get right (garbage or an invalid plan twice) ends the step with a message to the
//! person instead of a retry loop; a spent budget pauses the step until the person writes again (after an
//! operator raised it); unreachable models and GitHub failures fail the step, so the event that led here is
//! retried by the bus like any other. Zavhoz failures are told to the person: unreachable → the step is
//! retried; refused (credentials, the secret's path) → the step waits for the person's next message.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use orch_contracts::plan::BuildPlan;
use orch_contracts::spec::ProjectSpec;
use orch_factory::{
    ARCHITECT_ROLE, ArchitectError, GitCredentials, RepositoryError, RepositorySetup,
    ensure_repository, plan_build,
};
use orch_github::{Github, GithubAuth, GithubConfig, GithubError};
use orch_graph::{Ctx, NodeError};
use orch_llm::{CallContext, LlmError, check_budget};
use sqlx::PgConnection;
use tokio::sync::OnceCell;

use crate::config::{GithubSettings, WorkerSettings};
use crate::git_token::{self, GitTokenError, GitTokens};
use crate::nodes::{Deps, current_spec};
use crate::state::{Answer, Conversation, ConversationUpdate, Next, RepositoryRef, Waiting};
use crate::texts;

/// GitHub, connected on first use (a GitHub outage at startup must not stop conversations).
#[derive(Clone)]
pub struct Factory {
    config: GithubConfig,
    credentials: GitCredentials,
    github: Arc<OnceCell<Github>>,
    /// How tasks run on coding workers.
    pub workers: WorkerSettings,
    /// Per-project git token handles from zavhoz; `None`: workers get `workers.git_token_handle`.
    pub git_tokens: Option<GitTokens>,
}

impl Factory {
    /// The factory for `settings`; `None` when GitHub is not configured. With `git_tokens`, each project's
    /// workers get their own git token handle from zavhoz.
    pub fn new(
        settings: Option<&GithubSettings>,
        workers: &WorkerSettings,
        git_tokens: Option<GitTokens>,
    ) -> Option<Self> {
        let settings = settings?;
        let auth = GithubAuth::Token {
            token: settings.token.clone(),
            org: settings.org.clone().filter(|o| !o.trim().is_empty()),
        };
        Some(Self {
            config: GithubConfig::new(settings.api_url.clone(), auth),
            credentials: GitCredentials {
                token: settings.token.clone(),
            },
            github: Arc::new(OnceCell::new()),
            workers: workers.clone(),
            git_tokens,
        })
    }

    /// The GitHub client, connected on first use.
    pub(crate) async fn github(&self) -> Result<&Github, GithubError> {
        self.github
            .get_or_try_init(|| Github::connect(&self.config))
            .await
    }
}

impl Deps {
    /// Plans, sets up the repository, stores the tasks and tells the person.
    pub(crate) async fn architect(
        &self,
        state: &Conversation,
        ctx: &Ctx,
    ) -> Result<ConversationUpdate, NodeError> {
        let Some(factory) = &self.factory else {
            return Ok(ConversationUpdate::goto(Next::Done));
        };
        let spec = approved_spec(state)?;
        // A spent budget pauses before the plan is asked for. (A re-run after a crash that follows a plan call
        // which itself used up the budget pauses here too: conservative, nothing is lost.)
        if let Err(LlmError::BudgetExceeded {
            spent_usd_micros,
            budget_usd_micros,
            ..
        }) = check_budget(&self.store, state.project_id, 1).await
        {
            return self
                .wait_for_budget(state, ctx, spent_usd_micros, budget_usd_micros)
                .await;
        }
        let git_token_handle = match self.git_token(state, ctx, factory).await? {
            Ok(handle) => handle,
            Err(error) => return self.git_token_failed(state, ctx, error).await,
        };
        let plan = match self.plan(state, &spec, ctx).await? {
            PlanOutcome::Planned(plan) => plan,
            PlanOutcome::Invalid(reason) => return self.plan_failed(state, ctx, &reason).await,
        };
        self.warn_about_budget(state, ctx).await?;
        let committed_at: DateTime<Utc> = ctx
            .once("scaffold-date", |_| async {
                Ok::<_, NodeError>(Utc::now())
            })
            .await?;
        let outcome = ctx
            .once("repository", |_| async {
                let github = factory.github().await?;
                match ensure_repository(github, &factory.credentials, &spec, &plan, committed_at)
                    .await
                {
                    Ok(setup) => Ok(RepositoryOutcome::Ready(setup)),
                    Err(RepositoryError::Github(e)) if !e.is_transient() => {
                        Ok(RepositoryOutcome::Refused(e.to_string()))
                    }
                    Err(e) => Err::<_, NodeError>(e.into()),
                }
            })
            .await;
        let setup = match outcome {
            Ok(RepositoryOutcome::Ready(setup)) => setup,
            Ok(RepositoryOutcome::Refused(why)) => {
                tracing::warn!(%why, "GitHub refused to set up the repository");
                let text = texts::repository_refused(&why);
                return self
                    .wait_for_text(state, ctx, "repository-refused", text)
                    .await;
            }
            Err(e) => {
                let text = texts::GITHUB_UNAVAILABLE.to_owned();
                self.send_once(ctx, "github-unavailable", state, vec![texts::send(text)])
                    .await?;
                return Err(e);
            }
        };
        let repository = self
            .record(state, ctx, &plan, setup, git_token_handle)
            .await?;
        Ok(ConversationUpdate {
            repository: Some(repository),
            next: Some(Next::Develop),
            ..ConversationUpdate::default()
        })
    }

    /// The plan, asked for once (the outcome is recorded, whatever it is).
    async fn plan(
        &self,
        state: &Conversation,
        spec: &ProjectSpec,
        ctx: &Ctx,
    ) -> Result<PlanOutcome, NodeError> {
        let llm = self.llm.clone();
        let call = |key: String| {
            CallContext::new(key)
                .with_user(state.owner_user_id)
                .with_project(state.project_id)
                .with_run(state.run_id)
        };
        ctx.once("plan", |key| async move {
            let client = llm.client(ARCHITECT_ROLE).await?;
            match plan_build(&client, &call(key), spec, &spec.name).await {
                Ok(plan) => Ok(PlanOutcome::Planned(plan)),
                Err(ArchitectError::Model(LlmError::InvalidJson { reason, .. })) => {
                    Ok(PlanOutcome::Invalid(reason))
                }
                Err(e) => Err(NodeError::from(e)),
            }
        })
        .await
    }

    /// The project's git token handle from zavhoz, allocated once per step (a re-run reuses the recorded
    /// handle; zavhoz returns the same resource for the project's key anyway). `Ok(None)` without zavhoz;
    /// `Ok(Err(_))` when zavhoz gave none (nothing is recorded, so the next run asks again).
    async fn git_token(
        &self,
        state: &Conversation,
        ctx: &Ctx,
        factory: &Factory,
    ) -> Result<Result<Option<String>, GitTokenError>, NodeError> {
        let Some(tokens) = &factory.git_tokens else {
            return Ok(Ok(None));
        };
        let mut failure = None;
        let slot = &mut failure;
        let allocated = ctx
            .once("git-token", |_| async move {
                let allocated = tokens.allocate(state.owner_user_id, state.project_id).await;
                allocated.map_err(|error| {
                    let node_error = NodeError::msg(&error);
                    *slot = Some(error);
                    node_error
                })
            })
            .await;
        match (allocated, failure) {
            (Ok(handle), _) => Ok(Ok(Some(handle))),
            (Err(_), Some(error)) => Ok(Err(error)),
            (Err(error), None) => Err(error),
        }
    }

    /// Zavhoz gave no git token handle: tell the person once. Unreachable → fail the step, so the bus retries
    /// it; refused → wait for the person's next message (after an operator fixed the cause).
    async fn git_token_failed(
        &self,
        state: &Conversation,
        ctx: &Ctx,
        error: GitTokenError,
    ) -> Result<ConversationUpdate, NodeError> {
        tracing::warn!(
            project_id = %state.project_id,
            error = %error,
            "zavhoz gave the project no git token handle"
        );
        if git_token::is_transient(&error) {
            let text = git_token::unavailable_text();
            self.send_once(ctx, "git-token-unavailable", state, vec![texts::send(text)])
                .await?;
            return Err(NodeError::from(error));
        }
        let text = git_token::refused_text(&error);
        self.wait_for_text(state, ctx, "git-token-refused", text)
            .await
    }

    /// The project has spent its budget: say so once and wait for the person; their next message (after an
    /// operator raised the budget) runs the architect again.
    async fn wait_for_budget(
        &self,
        state: &Conversation,
        ctx: &Ctx,
        spent: i64,
        budget: i64,
    ) -> Result<ConversationUpdate, NodeError> {
        let text = texts::over_budget(spent, budget);
        self.wait_for_text(state, ctx, "over-budget", text).await
    }

    /// Sends `text` once (effect `name`) and waits for the person's next message, which runs the architect
    /// again.
    async fn wait_for_text(
        &self,
        state: &Conversation,
        ctx: &Ctx,
        name: &str,
        text: String,
    ) -> Result<ConversationUpdate, NodeError> {
        self.send_once(ctx, name, state, vec![texts::send(text.clone())])
            .await?;
        let answer: Answer = ctx.interrupt(Waiting::Text { asked: text })?;
        let Answer::Text { event_id, .. } = answer else {
            return Err(NodeError::msg(format!(
                "expected a text while the architect waits ({name}), got {answer:?}"
            )));
        };
        Ok(ConversationUpdate {
            next: Some(Next::Architect),
            applied: Some(event_id),
            ..ConversationUpdate::default()
        })
    }

    async fn plan_failed(
        &self,
        state: &Conversation,
        ctx: &Ctx,
        reason: &str,
    ) -> Result<ConversationUpdate, NodeError> {
        tracing::warn!(%reason, "the architect produced no valid plan");
        let text = texts::plan_failed(reason);
        self.send_once(ctx, "plan-failed", state, vec![texts::send(text)])
            .await?;
        Ok(ConversationUpdate::goto(Next::Done))
    }

    /// Stores the tasks and queues the message, once.
    async fn record(
        &self,
        state: &Conversation,
        ctx: &Ctx,
        plan: &BuildPlan,
        setup: RepositorySetup,
        git_token_handle: Option<String>,
    ) -> Result<RepositoryRef, NodeError> {
        let repository = RepositoryRef {
            full_name: format!("{}/{}", setup.owner, setup.name),
            clone_url: setup.clone_url.clone(),
            main_sha: setup.main_sha.clone(),
            tasks: u32::try_from(plan.tasks.len()).unwrap_or(u32::MAX),
            git_token_handle,
        };
        let text = texts::repository_ready(&repository, setup.html_url.as_deref(), plan);
        let (owned, plan) = (state.clone(), plan.clone());
        self.write_once(ctx, "record", state, move |conn| {
            Box::pin(async move {
                insert_tasks(&mut *conn, &owned, &plan).await?;
                Ok(vec![texts::send(text)])
            })
        })
        .await?;
        Ok(repository)
    }
}

/// What setting up the repository came to (the effect's recorded result).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
enum RepositoryOutcome {
    /// Created (or adopted) with its scaffold.
    Ready(RepositorySetup),
    /// GitHub refused for good (no permission, a name it rejects …); why.
    Refused(String),
}

/// What asking for the plan came to.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
enum PlanOutcome {
    /// A valid plan.
    Planned(BuildPlan),
    /// The model could not produce a valid plan; the reason.
    Invalid(String),
}

/// The spec as approved: under the project's final name.
fn approved_spec(state: &Conversation) -> Result<ProjectSpec, NodeError> {
    let approved = state
        .approved
        .as_ref()
        .ok_or_else(|| NodeError::msg("the architect ran before an approval"))?;
    Ok(ProjectSpec {
        name: approved.name.clone(),
        ..current_spec(state)?.clone()
    })
}

/// One `tasks` row per planned task, branch `task/<key>`; a re-run inserts nothing twice.
async fn insert_tasks(
    conn: &mut PgConnection,
    state: &Conversation,
    plan: &BuildPlan,
) -> Result<(), sqlx::Error> {
    for task in &plan.tasks {
        sqlx::query(
            "INSERT INTO tasks (id, project_id, run_id, key, title, body, depends_on, branch)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (run_id, key) DO NOTHING",
        )
        .bind(uuid::Uuid::now_v7())
        .bind(state.project_id.0)
        .bind(state.run_id.0)
        .bind(&task.key)
        .bind(&task.title)
        .bind(&task.body)
        .bind(&task.depends_on)
        .bind(format!("task/{}", task.key))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
