//! The `reviews` rows that make a review request idempotent, and the per-key lock.
//!
//! A row is keyed by the request's idempotency key and moves `started → judged → posted → done`; each step is
//! written right after its effect, so a redelivery skips what is done: the model is asked once, the review
//! is posted once (a crash between posting and recording is covered by the marker in the review body, see
//! [`crate::post`]) and the merge happens once (the pull request is read before merging).

use orch_contracts::ReviewId;
use orch_contracts::messages::review::{LineComment, ReviewRequest, ReviewResult, Verdict};
use orch_github::PullRequest;
use serde::{Deserialize, Serialize};
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};

use crate::judge::Judgement;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or is unreachable.
    #[error("database error while {action}: {source}")]
    Database {
        /// What was being done.
        action: &'static str,
        /// The cause.
        #[source]
        source: sqlx::Error,
    },
    /// The request's project is not in `projects`.
    #[error("project {0} does not exist")]
    UnknownProject(orch_contracts::ProjectId),
    /// A stored value does not parse (a bug or a manual edit).
    #[error("review {id} has an unreadable {what}")]
    Corrupt {
        /// The review.
        id: ReviewId,
        /// The column.
        what: &'static str,
    },
}

fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { action, source }
}

/// How far a review got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Recorded; the model has not answered.
    Started,
    /// The judgement is stored; the review is not known to be posted.
    Judged,
    /// The review is on the pull request.
    Posted,
    /// The result is stored (and published).
    Done,
}

impl Step {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "started" => Self::Started,
            "judged" => Self::Judged,
            "posted" => Self::Posted,
            "done" => Self::Done,
            _ => return None,
        })
    }
}

/// A line comment as stored, with whether it is on the diff.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredComment {
    path: String,
    line: u32,
    body: String,
    #[serde(default)]
    on_diff: bool,
}

/// A stored review.
#[derive(Debug, Clone)]
pub struct ReviewRow {
    /// The review id.
    pub id: ReviewId,
    /// Progress.
    pub step: Step,
    /// The head that is (being) reviewed.
    pub head_sha: String,
    /// The judgement, from `Judged` on.
    pub judgement: Option<Judgement>,
    /// The posted review, from `Posted` on.
    pub github_review_id: Option<i64>,
    /// The published result, when `Done`.
    pub result: Option<ReviewResult>,
}

/// Reads the review of an idempotency key.
pub async fn find(pool: &PgPool, key: &str) -> Result<Option<ReviewRow>, StoreError> {
    let row = sqlx::query!(
        "SELECT id, state, head_sha, verdict, summary, comments, reasons, github_review_id, result
         FROM reviews WHERE idempotency_key = $1",
        key
    )
    .fetch_optional(pool)
    .await
    .map_err(db("reading a review"))?;
    let Some(r) = row else { return Ok(None) };
    let id = ReviewId(r.id);
    let corrupt = |what| StoreError::Corrupt { id, what };
    let step = Step::parse(&r.state).ok_or_else(|| corrupt("state"))?;
    let judgement = match (r.verdict, r.summary) {
        (Some(verdict), Some(summary)) => Some(
            judgement(&verdict, summary, r.comments, r.reasons)
                .ok_or_else(|| corrupt("judgement"))?,
        ),
        _ => None,
    };
    let result = r
        .result
        .map(serde_json::from_value)
        .transpose()
        .map_err(|_| corrupt("result"))?;
    Ok(Some(ReviewRow {
        id,
        step,
        head_sha: r.head_sha,
        judgement,
        github_review_id: r.github_review_id,
        result,
    }))
}

fn judgement(
    verdict: &str,
    summary: String,
    comments: serde_json::Value,
    reasons: serde_json::Value,
) -> Option<Judgement> {
    let verdict: Verdict =
        serde_json::from_value(serde_json::Value::String(verdict.into())).ok()?;
    let comments: Vec<StoredComment> = serde_json::from_value(comments).ok()?;
    let (on, off): (Vec<_>, Vec<_>) = comments.into_iter().partition(|c| c.on_diff);
    let plain = |c: StoredComment| LineComment {
        path: c.path,
        line: c.line,
        body: c.body,
    };
    Some(Judgement {
        verdict,
        summary,
        inline: on.into_iter().map(plain).collect(),
        elsewhere: off.into_iter().map(plain).collect(),
        reasons: serde_json::from_value(reasons).ok()?,
    })
}

/// Records the pull request and a `started` review for the request; returns the key's row (which may be
/// another review's when the key or the iteration was used before).
pub async fn start(
    pool: &PgPool,
    request: &ReviewRequest,
    pr: &PullRequest,
) -> Result<Option<ReviewRow>, StoreError> {
    let mut tx = pool.begin().await.map_err(db("starting a transaction"))?;
    let number = request.pr_number as i64;
    sqlx::query!(
        "INSERT INTO pull_requests (project_id, number, head_branch, head_sha, state, review_iterations)
         VALUES ($1, $2, $3, $4, 'open', $5)
         ON CONFLICT (project_id, number) DO UPDATE SET head_branch = EXCLUDED.head_branch,
             head_sha = EXCLUDED.head_sha,
             review_iterations = GREATEST(pull_requests.review_iterations, EXCLUDED.review_iterations),
             updated_at = now()",
        request.project_id.0,
        number,
        pr.head.branch,
        pr.head.sha,
        request.iteration as i32
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            StoreError::UnknownProject(request.project_id)
        }
        _ => StoreError::Database {
            action: "recording a pull request",
            source: e,
        },
    })?;
    sqlx::query!(
        "INSERT INTO reviews (id, project_id, pr_number, iteration, head_sha, requested_head_sha, idempotency_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        request.review_id.0,
        request.project_id.0,
        number,
        request.iteration as i32,
        pr.head.sha,
        request.head_sha,
        request.idempotency_key
    )
    .execute(&mut *tx)
    .await
    .map_err(db("recording a review"))?;
    tx.commit().await.map_err(db("committing a review"))?;
    find(pool, &request.idempotency_key).await
}

/// Stores the judgement of the head `head_sha` (`started → judged`).
pub async fn judged(
    pool: &PgPool,
    id: ReviewId,
    head_sha: &str,
    j: &Judgement,
) -> Result<(), StoreError> {
    let stored: Vec<StoredComment> = j
        .inline
        .iter()
        .map(|c| (c, true))
        .chain(j.elsewhere.iter().map(|c| (c, false)))
        .map(|(c, on_diff)| StoredComment {
            path: c.path.clone(),
            line: c.line,
            body: c.body.clone(),
            on_diff,
        })
        .collect();
    let comments = serde_json::to_value(stored).unwrap_or_default();
    let reasons = serde_json::to_value(&j.reasons).unwrap_or_default();
    let verdict = verdict_text(j.verdict);
    sqlx::query!(
        "UPDATE reviews SET state = 'judged', head_sha = $2, verdict = $3, summary = $4, comments = $5,
             reasons = $6, updated_at = now()
         WHERE id = $1 AND state = 'started'",
        id.0,
        head_sha,
        verdict,
        j.summary,
        comments,
        reasons
    )
    .execute(pool)
    .await
    .map_err(db("storing a judgement"))?;
    Ok(())
}

/// Returns the verdict's wire name (`approved`, …).
pub fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Approved => "approved",
        Verdict::ChangesRequested => "changes_requested",
        Verdict::Escalate => "escalate",
    }
}

/// Records the posted review (`judged → posted`).
pub async fn posted(pool: &PgPool, id: ReviewId, github_review_id: u64) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE reviews SET state = 'posted', github_review_id = $2, updated_at = now()
         WHERE id = $1 AND state = 'judged'",
        id.0,
        github_review_id as i64
    )
    .execute(pool)
    .await
    .map_err(db("recording a posted review"))?;
    Ok(())
}

/// Stores the result (`→ done`; a review that never started has no row and nothing to update) and marks a
/// merged pull request.
pub async fn done(
    pool: &PgPool,
    request: &ReviewRequest,
    result: &ReviewResult,
) -> Result<(), StoreError> {
    let value = serde_json::to_value(result).unwrap_or_default();
    let mut tx = pool.begin().await.map_err(db("starting a transaction"))?;
    sqlx::query!(
        "UPDATE reviews SET state = 'done', merged = $2, merge_sha = $3, conflict = $4, result = $5,
             verdict = $6, summary = $7, updated_at = now()
         WHERE idempotency_key = $1 AND state <> 'done'",
        request.idempotency_key,
        result.merged,
        result.merge_sha,
        result.conflict,
        value,
        verdict_text(result.verdict),
        result.summary
    )
    .execute(&mut *tx)
    .await
    .map_err(db("storing a review result"))?;
    if result.merged {
        sqlx::query!(
            "UPDATE pull_requests SET state = 'merged', merge_sha = $3, updated_at = now()
             WHERE project_id = $1 AND number = $2",
            request.project_id.0,
            request.pr_number as i64,
            result.merge_sha
        )
        .execute(&mut *tx)
        .await
        .map_err(db("marking a pull request merged"))?;
    }
    tx.commit().await.map_err(db("committing a review result"))
}

/// A session advisory lock on one idempotency key: two deliveries of the same request (a duplicate entry, a
/// reclaim) never work at once. Released by [`KeyLock::release`], or by PostgreSQL when the process dies.
pub struct KeyLock {
    conn: PoolConnection<Postgres>,
    key: String,
}

impl KeyLock {
    /// Waits for the lock of `key`.
    pub async fn acquire(pool: &PgPool, key: &str) -> Result<Self, StoreError> {
        let mut conn = pool.acquire().await.map_err(db("acquiring a connection"))?;
        sqlx::query!(
            "SELECT 1 AS \"locked!\" FROM (SELECT pg_advisory_lock(hashtextextended($1, 0))) AS l",
            key
        )
        .fetch_one(&mut *conn)
        .await
        .map_err(db("locking a review key"))?;
        Ok(Self {
            conn,
            key: key.to_owned(),
        })
    }

    /// Releases the lock; a connection that cannot unlock is closed instead (which releases it too).
    pub async fn release(mut self) {
        let unlocked = sqlx::query!(
            "SELECT pg_advisory_unlock(hashtextextended($1, 0)) AS \"unlocked!\"",
            self.key
        )
        .fetch_one(&mut *self.conn)
        .await;
        if !matches!(unlocked, Ok(r) if r.unlocked) {
            drop(self.conn.detach());
        }
    }
}
