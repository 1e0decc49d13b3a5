//! `review:request` (graph-runner → reviewer) and `review:result:<id>` (back).

use serde::{Deserialize, Serialize};

use super::LONG_TEXT_LIMIT;
use super::worker::{RepoRef, TaskSpec, is_sha};
use crate::envelope::Contract;
use crate::ids::{ProjectId, ReviewId};
use crate::validate::Violations;

/// How an approved pull request is merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeMethod {
    /// One commit on the base branch.
    #[default]
    Squash,
    /// A merge commit.
    Merge,
    /// The head commits replayed on the base.
    Rebase,
}

/// `review:request`: review one pull request against its task and the project spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// The review; its outcome arrives on `review:result:<id>`.
    pub review_id: ReviewId,
    /// The project.
    pub project_id: ProjectId,
    /// The repository.
    pub repo: RepoRef,
    /// The pull request number.
    pub pr_number: u64,
    /// The head commit the review is about; a moved head means a re-check.
    pub head_sha: String,
    /// The task the pull request implements.
    pub task: TaskSpec,
    /// The part of the approved spec the reviewer judges against.
    pub spec_summary: String,
    /// 1 for the first review of this pull request.
    pub iteration: u32,
    /// Merge when approved.
    pub merge_when_approved: bool,
    /// How to merge.
    #[serde(default)]
    pub merge_method: MergeMethod,
    /// A retried request with the same key posts one review and merges once.
    pub idempotency_key: String,
}

impl Contract for ReviewRequest {
    const TYPE: &'static str = "review.request";
    const VERSION: u16 = 1;

    fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::new();
        v.check(!self.review_id.is_nil(), || "review_id is nil".into());
        v.check(self.pr_number > 0, || "pr_number must be positive".into());
        v.check(is_sha(&self.head_sha), || {
            "head_sha is not a 40-character hex sha".into()
        });
        v.text("task.title", &self.task.title, 200).text(
            "task.body",
            &self.task.body,
            LONG_TEXT_LIMIT,
        );
        v.check(self.spec_summary.len() <= LONG_TEXT_LIMIT, || {
            "spec_summary too long".into()
        });
        v.check(self.iteration >= 1, || "iteration starts at 1".into());
        v.slug("idempotency_key", &self.idempotency_key, 200);
        v.into_result()
    }
}

/// The reviewer's judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Good to merge.
    Approved,
    /// The worker must change something (see comments).
    ChangesRequested,
    /// A person must decide (e.g. a breaking change).
    Escalate,
}

/// A review comment on one line of the diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineComment {
    /// File path in the repository.
    pub path: String,
    /// Line in the new version of the file.
    pub line: u32,
    /// The comment.
    pub body: String,
}

/// `review:result:<id>`: what the reviewer decided and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewResult {
    /// The review.
    pub review_id: ReviewId,
    /// The pull request.
    pub pr_number: u64,
    /// The judgement.
    pub verdict: Verdict,
    /// Summary for the person and for the worker.
    pub summary: String,
    /// Line comments.
    #[serde(default)]
    pub comments: Vec<LineComment>,
    /// Whether the pull request is now merged (checked on the git host, not assumed).
    pub merged: bool,
    /// The merge commit, when merged.
    pub merge_sha: Option<String>,
    /// Whether merging failed on a conflict with the base branch.
    pub conflict: bool,
}

impl Contract for ReviewResult {
    const TYPE: &'static str = "review.result";
    const VERSION: u16 = 1;

    fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::new();
        v.text("summary", &self.summary, LONG_TEXT_LIMIT);
        v.check(self.merged == self.merge_sha.is_some(), || {
            "merge_sha must be present exactly when merged".into()
        });
        v.check(!(self.merged && self.verdict != Verdict::Approved), || {
            "only an approved PR can be merged".into()
        });
        for c in &self.comments {
            v.text("comment.path", &c.path, 1000)
                .text("comment.body", &c.body, LONG_TEXT_LIMIT);
        }
        v.into_result()
    }
}
