//! Asking the model for a structured review, and what its answer must look like.
//!
//! The model answers one JSON object (`verdict`, `summary`, `comments`, `reasons`). Garbage gets one repair
//! request with the parse error (`orch-llm`'s `chat_json_validated`); garbage again becomes an `escalate`
//! verdict with a summary saying so — never a crash and never an approval nobody made.

use std::collections::HashSet;

use orch_contracts::messages::review::{LineComment, ReviewRequest, Verdict};
use orch_contracts::{ProjectId, RunId};
use orch_llm::chat::{ChatMessage, ChatRequest};
use orch_llm::{CallContext, Llm, LlmError};
use serde::Deserialize;

use crate::diff::ShownDiff;

/// The `reviewer` role's system prompt when the reviewer seeds its model row.
pub const ROLE_PROMPT: &str = "You are a senior software engineer reviewing a pull request written by an AI \
coding agent. Judge whether the change implements its task correctly and safely, within the approved spec. \
Be concrete: point at lines, say what is wrong and what to do instead. Do not nitpick style that a formatter \
would fix.";

/// Longest summary accepted from the model.
const SUMMARY_LIMIT: usize = 8_000;
/// Most line comments accepted from the model.
const COMMENT_LIMIT: usize = 50;
/// Longest line comment accepted from the model.
const COMMENT_BODY_LIMIT: usize = 4_000;

/// One line comment as the model gives it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ModelComment {
    /// File path.
    pub path: String,
    /// Line in the new file.
    pub line: u32,
    /// The comment.
    pub body: String,
}

/// The model's answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ModelReview {
    /// `approved`, `changes_requested` or `escalate`.
    pub verdict: Verdict,
    /// What the reviewer thinks, for the person and the worker.
    pub summary: String,
    /// Line comments.
    #[serde(default)]
    pub comments: Vec<ModelComment>,
    /// Why (for changes or an escalation).
    #[serde(default)]
    pub reasons: Vec<String>,
}

impl ModelReview {
    /// Checks the parts JSON parsing cannot; the message goes back to the model in the repair request.
    pub fn check(&self) -> Result<(), String> {
        if self.summary.trim().is_empty() {
            return Err("summary is empty".into());
        }
        if self.summary.len() > SUMMARY_LIMIT {
            return Err(format!("summary is longer than {SUMMARY_LIMIT} bytes"));
        }
        if self.comments.len() > COMMENT_LIMIT {
            return Err(format!("more than {COMMENT_LIMIT} comments"));
        }
        for c in &self.comments {
            if c.path.trim().is_empty() || c.line == 0 || c.body.trim().is_empty() {
                return Err("every comment needs a path, a line >= 1 and a body".into());
            }
            if c.body.len() > COMMENT_BODY_LIMIT || c.path.len() > 500 {
                return Err(format!(
                    "a comment is longer than {COMMENT_BODY_LIMIT} bytes"
                ));
            }
        }
        if self.verdict == Verdict::ChangesRequested
            && self.comments.is_empty()
            && self.reasons.is_empty()
        {
            return Err("changes_requested needs comments or reasons saying what to change".into());
        }
        Ok(())
    }
}

/// The reviewer's judgement, ready to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// The verdict.
    pub verdict: Verdict,
    /// The summary (with notes the reviewer adds: a moved head, a truncated diff).
    pub summary: String,
    /// Comments on lines of the diff.
    pub inline: Vec<LineComment>,
    /// Comments whose line is not in the diff (posted in the review body instead).
    pub elsewhere: Vec<LineComment>,
    /// Reasons.
    pub reasons: Vec<String>,
}

impl Judgement {
    /// An escalation that did not come from the model.
    pub fn escalate(summary: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Escalate,
            summary: summary.into(),
            inline: Vec::new(),
            elsewhere: Vec::new(),
            reasons: Vec::new(),
        }
    }

    /// Every comment, inline ones first.
    pub fn all_comments(&self) -> Vec<LineComment> {
        self.inline.iter().chain(&self.elsewhere).cloned().collect()
    }

    /// Splits the model's comments by whether GitHub accepts them on the diff.
    pub fn from_model(review: ModelReview, commentable: &HashSet<(String, u32)>) -> Self {
        let (inline, elsewhere) = review
            .comments
            .into_iter()
            .map(|c| LineComment {
                path: c.path,
                line: c.line,
                body: c.body,
            })
            .partition(|c| commentable.contains(&(c.path.clone(), c.line)));
        Self {
            verdict: review.verdict,
            summary: review.summary.trim().to_owned(),
            inline,
            elsewhere,
            reasons: review.reasons,
        }
    }
}

/// What a model call is about.
pub struct Question<'a> {
    /// The request.
    pub request: &'a ReviewRequest,
    /// The head being reviewed.
    pub head_sha: &'a str,
    /// The diff as shown.
    pub diff: &'a ShownDiff,
    /// The iteration cap.
    pub max_iterations: u32,
    /// The run, for usage records.
    pub run_id: Option<RunId>,
}

/// What went wrong asking the model, by what the handler does about it.
#[derive(Debug)]
pub enum AskError {
    /// The model cannot judge this (garbage twice, budget spent): escalate with this summary.
    Escalate(String),
    /// May pass later (provider down, model not configured yet).
    Transient(LlmError),
}

/// Asks the role's model; its usage is recorded under `review:<review_id>` (once, even on redelivery).
pub async fn ask(llm: &Llm, role: &str, q: &Question<'_>) -> Result<ModelReview, AskError> {
    let client = llm.client(role).await.map_err(AskError::Transient)?;
    let ctx = context(q.request.project_id, q.run_id, q.request);
    match client
        .chat_json_validated(&ctx, request(q), ModelReview::check)
        .await
    {
        Ok(answer) => Ok(answer.value),
        Err(LlmError::InvalidJson { reason, .. }) => Err(AskError::Escalate(format!(
            "The review model answered twice with something that is not a valid review ({reason}). A person \
             must review this pull request."
        ))),
        Err(LlmError::BudgetExceeded {
            spent_usd_micros,
            budget_usd_micros,
            ..
        }) => Err(AskError::Escalate(format!(
            "The project's LLM budget is spent ({:.2} of {:.2} USD), so the pull request was not reviewed. A \
             person must review it or raise the budget.",
            spent_usd_micros as f64 / 1e6,
            budget_usd_micros as f64 / 1e6
        ))),
        Err(e) => Err(AskError::Transient(e)),
    }
}

fn context(project: ProjectId, run_id: Option<RunId>, request: &ReviewRequest) -> CallContext {
    let ctx = CallContext::new(format!("review:{}", request.review_id)).with_project(project);
    match run_id {
        Some(run) => ctx.with_run(run),
        None => ctx,
    }
}

/// The user message: the task, the spec, the diff and the answer format.
pub fn request(q: &Question<'_>) -> ChatRequest {
    let r = q.request;
    let note = if q.diff.truncated {
        format!(
            "\nThe diff was cut to its first {} of {} bytes. Judge what you see; if the rest could change your \
             verdict, say so and escalate.\n",
            q.diff.text.len(),
            q.diff.total_bytes
        )
    } else {
        String::new()
    };
    let text = format!(
        "Review pull request #{pr} of {owner}/{repo} at commit {head} (review iteration {it} of at most {max}).\n\n\
         ## Task: {title}\n{body}\n\n## The approved spec (the part this task implements)\n{spec}\n\n\
         ## Diff\n```diff\n{diff}```\n{note}\n{FORMAT}",
        pr = r.pr_number,
        owner = r.repo.owner,
        repo = r.repo.name,
        head = q.head_sha,
        it = r.iteration,
        max = q.max_iterations,
        title = r.task.title,
        body = r.task.body,
        spec = r.spec_summary,
        diff = q.diff.text,
    );
    ChatRequest::new(vec![ChatMessage::user(text)])
}

/// The answer format, in every request (the system prompt is the dashboard's to edit).
const FORMAT: &str = r#"Answer with one JSON object:
{"verdict": "approved" | "changes_requested" | "escalate",
 "summary": "what you found, for the person and for the developer",
 "comments": [{"path": "file path", "line": <line number in the new file>, "body": "what to change"}],
 "reasons": ["why, one item per problem"]}
- approved: the change does the task correctly and safely; nothing must change before merging.
- changes_requested: something must change; say exactly what in comments (on lines of the diff) or reasons.
- escalate: a person must decide (the spec is unclear or contradicted, a breaking or risky change, secrets in
  the code, or you cannot judge the change)."#;

#[cfg(test)]
mod tests {
    use super::*;

    fn review(verdict: Verdict, comments: Vec<ModelComment>) -> ModelReview {
        ModelReview {
            verdict,
            summary: "ok".into(),
            comments,
            reasons: Vec::new(),
        }
    }

    fn comment(path: &str, line: u32) -> ModelComment {
        ModelComment {
            path: path.into(),
            line,
            body: "fix".into(),
        }
    }

    #[test]
    fn answers_are_checked() {
        assert!(review(Verdict::Approved, vec![]).check().is_ok());
        assert!(review(Verdict::ChangesRequested, vec![]).check().is_err());
        assert!(
            review(Verdict::ChangesRequested, vec![comment("a.rs", 1)])
                .check()
                .is_ok()
        );
        assert!(
            review(Verdict::Approved, vec![comment("a.rs", 0)])
                .check()
                .is_err()
        );
        let blank = ModelReview {
            summary: "  ".into(),
            ..review(Verdict::Approved, vec![])
        };
        assert!(blank.check().is_err());
        let parsed: ModelReview =
            serde_json::from_str(r#"{"verdict":"escalate","summary":"s","extra":1}"#)
                .expect("lenient");
        assert_eq!(parsed.verdict, Verdict::Escalate);
        assert!(
            serde_json::from_str::<ModelReview>(r#"{"verdict":"lgtm","summary":"s"}"#).is_err()
        );
    }

    #[test]
    fn comments_off_the_diff_move_to_the_body() {
        let lines: HashSet<(String, u32)> = [("a.rs".to_owned(), 2)].into();
        let j = Judgement::from_model(
            review(
                Verdict::ChangesRequested,
                vec![comment("a.rs", 2), comment("a.rs", 9)],
            ),
            &lines,
        );
        assert_eq!(j.inline.len(), 1);
        assert_eq!(j.elsewhere[0].line, 9);
        assert_eq!(j.all_comments().len(), 2);
    }
}
