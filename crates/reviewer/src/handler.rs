//! The `review:request` handler.
//!
//! Delivery guarantee: at-least-once (the bus redelivers an entry whose handler failed or whose consumer
//! died). Idempotency key: the request's `idempotency_key`. Deliveries of one key are serialized by an
//! advisory lock, and the key's `reviews` row records each finished step (see [`crate::store`]), so a
//! redelivery resumes: it republishes a stored result, never asks the model twice, posts one review and
//! merges once.
//!
//! A transient failure (GitHub or the model down, rate limits) leaves the entry for a redelivery; on the last
//! delivery the reviewer publishes an `escalate` result saying what failed, so the graph never waits forever.

use std::sync::Arc;

use orch_bus::{Bus, Delivery, HandlerError};
use orch_contracts::messages::review::{ReviewRequest, ReviewResult, Verdict};
use orch_contracts::{Envelope, RunId, streams};
use orch_github::{Github, GithubConfig, GithubError, PullRequest};
use orch_llm::Llm;
use sqlx::PgPool;
use tokio::sync::OnceCell;
use tracing::{info, instrument, warn};

use crate::config::ReviewerConfig;
use crate::diff;
use crate::judge::{self, AskError, Judgement, Question};
use crate::post::{self, MergeOutcome, short};
use crate::store::{self, KeyLock, ReviewRow, Step};

/// Why a review did not finish, by what happens next.
#[derive(Debug)]
enum Failure {
    /// Try again on a later delivery.
    Transient(String),
    /// The request can never be handled (dead-lettered).
    Reject(String),
}

impl From<GithubError> for Failure {
    fn from(e: GithubError) -> Self {
        Self::Transient(format!("github: {e}"))
    }
}

impl From<store::StoreError> for Failure {
    fn from(e: store::StoreError) -> Self {
        Self::Transient(e.to_string())
    }
}

impl From<orch_bus::BusError> for Failure {
    fn from(e: orch_bus::BusError) -> Self {
        Self::Transient(format!("redis: {e}"))
    }
}

/// The GitHub client, connected on first use: an unreachable GitHub delays reviews (they are retried), it does
/// not stop the service from starting.
#[derive(Clone)]
pub struct GithubHandle {
    config: Arc<GithubConfig>,
    client: Arc<OnceCell<Github>>,
}

impl GithubHandle {
    /// A handle that connects with `config` when first needed.
    pub fn new(config: GithubConfig) -> Self {
        Self {
            config: Arc::new(config),
            client: Arc::new(OnceCell::new()),
        }
    }

    /// Returns the connected client, connecting (and learning who we are) the first time.
    pub async fn get(&self) -> Result<&Github, GithubError> {
        self.client
            .get_or_try_init(|| Github::connect(&self.config))
            .await
    }
}

/// Everything a review needs; cheap to clone.
#[derive(Clone)]
pub struct Reviewer {
    /// The GitHub client.
    pub github: GithubHandle,
    /// The LLM clients.
    pub llm: Llm,
    /// The database.
    pub pool: PgPool,
    /// The bus results are published on.
    pub bus: Bus,
    /// Settings.
    pub config: Arc<ReviewerConfig>,
}

impl Reviewer {
    /// Handles one `review:request` delivery.
    #[instrument(skip_all, fields(review_id = %delivery.envelope.body.review_id,
        pr = delivery.envelope.body.pr_number, key = %delivery.envelope.body.idempotency_key))]
    pub async fn handle(&self, delivery: Delivery<ReviewRequest>) -> Result<(), HandlerError> {
        let request = &delivery.envelope.body;
        let run_id = delivery.envelope.run_id;
        let lock = KeyLock::acquire(&self.pool, &request.idempotency_key)
            .await
            .map_err(HandlerError::retry)?;
        let outcome = self.review(request, run_id).await;
        lock.release().await;
        match outcome {
            Ok(()) => Ok(()),
            Err(Failure::Reject(reason)) => Err(HandlerError::Reject(reason)),
            Err(Failure::Transient(reason)) if self.last_delivery(delivery.deliveries) => {
                warn!(%reason, "giving up on the review; escalating");
                let summary = format!(
                    "The review could not be completed after {} attempts: {reason}. A person must look at \
                     this pull request.",
                    delivery.deliveries
                );
                self.conclude(request, run_id, Judgement::escalate(summary), None)
                    .await
                    .map_err(|f| HandlerError::Retry(failure_text(f)))
            }
            Err(Failure::Transient(reason)) => Err(HandlerError::Retry(reason)),
        }
    }

    fn last_delivery(&self, deliveries: u64) -> bool {
        deliveries >= u64::from(self.bus.config().max_deliveries)
    }

    async fn review(&self, request: &ReviewRequest, run_id: Option<RunId>) -> Result<(), Failure> {
        let existing = store::find(&self.pool, &request.idempotency_key).await?;
        if let Some(row) = &existing {
            if row.id != request.review_id {
                return Err(Failure::Reject(format!(
                    "idempotency key `{}` belongs to review {}, not {}",
                    request.idempotency_key, row.id, request.review_id
                )));
            }
            if let (Step::Done, Some(result)) = (row.step, &row.result) {
                info!("reviewed before; republishing the stored result if missing");
                return self.publish_if_missing(result.clone(), run_id).await;
            }
        }
        if request.iteration > self.config.max_iterations {
            let summary = format!(
                "Review iteration {} exceeds the limit of {}: the pull request went back and forth too often. \
                 A person must decide.",
                request.iteration, self.config.max_iterations
            );
            return self
                .conclude(request, run_id, Judgement::escalate(summary), None)
                .await;
        }
        let row = match existing {
            Some(row) => row,
            None => match self.start(request, run_id).await? {
                Some(row) => row,
                None => return Ok(()),
            },
        };
        self.resume(request, run_id, row).await
    }

    /// Reads the pull request and records the review; `None` when the request was answered without one.
    async fn start(
        &self,
        request: &ReviewRequest,
        run_id: Option<RunId>,
    ) -> Result<Option<ReviewRow>, Failure> {
        let (owner, repo) = (&request.repo.owner, &request.repo.name);
        let gh = self.github.get().await?;
        let pr = match gh.pull_request(owner, repo, request.pr_number).await {
            Ok(pr) => pr,
            Err(GithubError::NotFound { .. }) => {
                let summary = format!(
                    "Pull request #{} of {owner}/{repo} does not exist (or the reviewer cannot see it).",
                    request.pr_number
                );
                self.conclude(request, run_id, Judgement::escalate(summary), None)
                    .await?;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(summary) = not_reviewable(&pr) {
            self.conclude(request, run_id, Judgement::escalate(summary), None)
                .await?;
            return Ok(None);
        }
        match store::start(&self.pool, request, &pr).await {
            Ok(Some(row)) if row.id == request.review_id => Ok(Some(row)),
            Ok(_) => Err(Failure::Reject(format!(
                "iteration {} of pull request #{} is already reviewed under another idempotency key, or review \
                 id {} is taken",
                request.iteration, request.pr_number, request.review_id
            ))),
            Err(store::StoreError::UnknownProject(project)) => {
                let summary =
                    format!("Project {project} is not known to the orchestrator; not reviewed.");
                self.conclude(request, run_id, Judgement::escalate(summary), None)
                    .await?;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Runs the steps the row has not done yet.
    async fn resume(
        &self,
        request: &ReviewRequest,
        run_id: Option<RunId>,
        mut row: ReviewRow,
    ) -> Result<(), Failure> {
        let gh = self.github.get().await?;
        if row.step == Step::Started {
            let (head, judgement) = self.judge(gh, request, run_id).await?;
            store::judged(&self.pool, row.id, &head, &judgement).await?;
            row.head_sha = head;
            row.judgement = Some(judgement);
            row.step = Step::Judged;
        }
        let judgement = row.judgement.clone().ok_or_else(|| {
            Failure::Transient(format!("review {} has no stored judgement", row.id))
        })?;
        if row.step == Step::Judged {
            let posted = post::review(gh, request, &row.head_sha, &judgement).await?;
            store::posted(&self.pool, row.id, posted).await?;
            info!(github_review = posted, verdict = ?judgement.verdict, "review posted");
        }
        let merge = if judgement.verdict == Verdict::Approved && request.merge_when_approved {
            Some(post::merge(gh, request, &row.head_sha).await?)
        } else {
            None
        };
        self.conclude(request, run_id, judgement, merge).await
    }

    /// Reads the current head and its diff and asks the model; returns the reviewed head and the judgement.
    async fn judge(
        &self,
        gh: &Github,
        request: &ReviewRequest,
        run_id: Option<RunId>,
    ) -> Result<(String, Judgement), Failure> {
        let (owner, repo, n) = (&request.repo.owner, &request.repo.name, request.pr_number);
        let head = gh.pull_request(owner, repo, n).await?.head.sha;
        let diff_text = gh.pull_request_diff(owner, repo, n).await?;
        let shown = diff::shown(&diff_text, self.config.max_diff_bytes);
        let question = Question {
            request,
            head_sha: &head,
            diff: &shown,
            max_iterations: self.config.max_iterations,
            run_id,
        };
        let mut judgement = match judge::ask(&self.llm, &self.config.model_role, &question).await {
            Ok(review) => Judgement::from_model(review, &diff::commentable_lines(&diff_text)),
            Err(AskError::Escalate(summary)) => Judgement::escalate(summary),
            Err(AskError::Transient(e)) => return Err(Failure::Transient(format!("llm: {e}"))),
        };
        if head != request.head_sha {
            judgement.summary = format!(
                "The branch moved from {} to {} after the review was requested; this review is of {}.\n\n{}",
                short(&request.head_sha),
                short(&head),
                short(&head),
                judgement.summary
            );
        }
        if shown.truncated {
            judgement.summary.push_str(&format!(
                "\n\n(The diff has {} bytes; the model saw the first {}.)",
                shown.total_bytes,
                shown.text.len()
            ));
        }
        Ok((head, judgement))
    }

    /// Builds the result, stores it (when the review has a row) and publishes it.
    async fn conclude(
        &self,
        request: &ReviewRequest,
        run_id: Option<RunId>,
        judgement: Judgement,
        merge: Option<MergeOutcome>,
    ) -> Result<(), Failure> {
        let result = result_of(request, judgement, merge);
        store::done(&self.pool, request, &result).await?;
        info!(verdict = ?result.verdict, merged = result.merged, conflict = result.conflict, "review finished");
        self.publish_if_missing(result, run_id).await
    }

    /// Publishes on `review:result:<id>` unless a result is there already (a redelivery after publishing).
    async fn publish_if_missing(
        &self,
        result: ReviewResult,
        run_id: Option<RunId>,
    ) -> Result<(), Failure> {
        let stream = streams::review_result(result.review_id);
        if self.bus.len(&stream).await? > 0 {
            return Ok(());
        }
        let mut envelope = Envelope::new(result);
        envelope.run_id = run_id;
        self.bus.publish_result(&stream, &envelope).await?;
        Ok(())
    }
}

/// Why a pull request cannot be reviewed at all, if so.
fn not_reviewable(pr: &PullRequest) -> Option<String> {
    if pr.merged {
        return Some(format!(
            "Pull request #{} is already merged (outside this review); nothing to review.",
            pr.number
        ));
    }
    (!pr.is_open()).then(|| format!("Pull request #{} is closed; nothing to review.", pr.number))
}

fn result_of(request: &ReviewRequest, j: Judgement, merge: Option<MergeOutcome>) -> ReviewResult {
    let comments = j.all_comments();
    let mut summary = j.summary;
    let (merged, conflict) = match merge {
        Some(MergeOutcome::Merged(sha)) => (Some(sha), false),
        Some(MergeOutcome::Conflict(note)) => {
            summary.push_str(&format!("\n\n{note}"));
            (None, true)
        }
        Some(MergeOutcome::NotMerged(note)) => {
            summary.push_str(&format!("\n\n{note}"));
            (None, false)
        }
        None => (None, false),
    };
    ReviewResult {
        review_id: request.review_id,
        pr_number: request.pr_number,
        verdict: j.verdict,
        summary,
        comments,
        merged: merged.is_some(),
        merge_sha: merged,
        conflict,
    }
}

fn failure_text(f: Failure) -> String {
    match f {
        Failure::Transient(r) | Failure::Reject(r) => r,
    }
}
