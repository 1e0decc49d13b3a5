//! What a review's result does to its task: merged; sent back to a worker on the same branch with the review's
//! comments (or to merge `main` in after a conflict), up to the review-round cap; or a question to the person.

use orch_contracts::messages::chat::ChatAction;
use orch_contracts::messages::review::{ReviewResult, Verdict};
use orch_store::StoreError;
use sqlx::PgConnection;

use crate::db::db;
use crate::develop::TaskRow;
use crate::escalation::{self, Kind, Question};
use crate::state::Conversation;
use crate::texts;

/// Where a reviewed task goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewOutcome {
    /// Approved and merged.
    Merged,
    /// Back to a worker with this feedback appended to the task.
    Rework {
        /// What the worker is told.
        feedback: String,
    },
    /// A person decides.
    Ask,
}

/// Decides where a task goes after review round `round` of at most `max_rounds`.
pub fn outcome(result: &ReviewResult, round: u32, max_rounds: u32) -> ReviewOutcome {
    let more_rounds = round < max_rounds;
    match (result.verdict, result.merged) {
        (Verdict::Approved, true) => ReviewOutcome::Merged,
        _ if result.conflict && more_rounds => ReviewOutcome::Rework {
            feedback: conflict_feedback(result.pr_number),
        },
        (Verdict::ChangesRequested, _) if more_rounds => ReviewOutcome::Rework {
            feedback: review_feedback(result, round),
        },
        _ => ReviewOutcome::Ask,
    }
}

/// The review's summary and line comments as instructions (comment bodies start their own lines, so
/// directives in them reach an agent that reads line by line).
fn review_feedback(result: &ReviewResult, round: u32) -> String {
    let mut text = format!(
        "Review round {round} of pull request #{} asked for changes: {}",
        result.pr_number, result.summary
    );
    for comment in &result.comments {
        text.push_str(&format!(
            "\n{}:{}:\n{}",
            comment.path, comment.line, comment.body
        ));
    }
    text.push_str("\nChange the branch accordingly; the pull request stays open.");
    text
}

fn conflict_feedback(pr_number: u64) -> String {
    format!(
        "Pull request #{pr_number} could not be merged: it conflicts with main. Merge main into the branch, \
         resolve the conflicts keeping this task's changes, and make sure everything still works."
    )
}

/// Sends the task back to a worker with `feedback` appended; its consecutive failures start over.
pub async fn send_back(
    conn: &mut PgConnection,
    task: &TaskRow,
    feedback: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE tasks SET status = 'pending', failures = 0, body = body || E'\\n\\n' || $2, updated_at = now()
         WHERE id = $1",
    )
    .bind(task.id)
    .bind(feedback)
    .execute(&mut *conn)
    .await
    .map_err(db("sending a task back"))?;
    Ok(())
}

/// Applies a review's result to the task and its pull request; returns what to tell the person.
pub async fn record_review(
    conn: &mut PgConnection,
    state: &Conversation,
    thread_id: &str,
    task: &TaskRow,
    result: &ReviewResult,
    max_rounds: u32,
) -> Result<Vec<ChatAction>, StoreError> {
    let number = i64::try_from(result.pr_number).unwrap_or(i64::MAX);
    let round: i32 = sqlx::query_scalar(
        "SELECT review_iterations FROM pull_requests WHERE project_id = $1 AND number = $2 FOR UPDATE",
    )
    .bind(state.project_id.0)
    .bind(number)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db("reading a pull request's review round"))?
    .unwrap_or(1);
    let round = u32::try_from(round).unwrap_or(1);
    let summary = texts::clip(&result.summary, 300);
    let text = match outcome(result, round, max_rounds) {
        ReviewOutcome::Merged => {
            mark_merged(
                conn,
                state,
                task,
                result.pr_number,
                result.merge_sha.as_deref(),
            )
            .await?;
            texts::task_merged(&task.title, result.pr_number, result.merge_sha.as_deref())
        }
        ReviewOutcome::Rework { feedback } => {
            send_back(conn, task, &feedback).await?;
            if result.conflict {
                texts::task_conflicted(&task.title, result.pr_number)
            } else {
                let comments = result.comments.len();
                texts::task_reworking(&task.title, result.pr_number, &summary, comments, round + 1)
            }
        }
        ReviewOutcome::Ask => {
            set_status(conn, task, "escalated").await?;
            let question = Question {
                kind: Kind::Review,
                task_id: Some(task.id),
                subject: &format!("review:{}:{}:{round}", task.key, result.pr_number),
                text: texts::review_question(&task.title, result.pr_number, &summary, round),
                yes: "✅ Merge it",
                no: "🗑 Drop it",
            };
            return escalation::ask(conn, state, thread_id, &question).await;
        }
    };
    Ok(vec![texts::send(text)])
}

/// The task and its pull request are merged.
pub async fn mark_merged(
    conn: &mut PgConnection,
    state: &Conversation,
    task: &TaskRow,
    pr_number: u64,
    merge_sha: Option<&str>,
) -> Result<(), StoreError> {
    set_status(conn, task, "merged").await?;
    sqlx::query(
        "UPDATE pull_requests SET state = 'merged', merge_sha = $3, updated_at = now()
         WHERE project_id = $1 AND number = $2",
    )
    .bind(state.project_id.0)
    .bind(i64::try_from(pr_number).unwrap_or(i64::MAX))
    .bind(merge_sha)
    .execute(&mut *conn)
    .await
    .map_err(db("recording a merge"))?;
    Ok(())
}

/// Sets a task's status.
pub async fn set_status(
    conn: &mut PgConnection,
    task: &TaskRow,
    status: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE tasks SET status = $2::task_status, updated_at = now() WHERE id = $1")
        .bind(task.id)
        .bind(status)
        .execute(&mut *conn)
        .await
        .map_err(db("updating a task"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use orch_contracts::ReviewId;
    use orch_contracts::messages::review::LineComment;

    fn result(verdict: Verdict, merged: bool, conflict: bool) -> ReviewResult {
        ReviewResult {
            review_id: ReviewId::new(),
            pr_number: 7,
            verdict,
            summary: "Needs a docstring.".into(),
            comments: vec![LineComment {
                path: "bot/commands.py".into(),
                line: 1,
                body: "@append bot/commands.py # documented".into(),
            }],
            merged,
            merge_sha: None,
            conflict,
        }
    }

    #[test]
    fn changes_go_back_until_the_cap_then_ask() {
        let changes = result(Verdict::ChangesRequested, false, false);
        let ReviewOutcome::Rework { feedback } = outcome(&changes, 1, 3) else {
            panic!("round 1 of 3 goes back to a worker");
        };
        assert!(feedback.contains("Review round 1 of pull request #7"));
        assert!(
            feedback.contains("\n@append bot/commands.py # documented\n"),
            "{feedback}"
        );
        assert!(matches!(
            outcome(&changes, 2, 3),
            ReviewOutcome::Rework { .. }
        ));
        assert_eq!(outcome(&changes, 3, 3), ReviewOutcome::Ask);
    }

    #[test]
    fn merges_conflicts_and_escalations() {
        assert_eq!(
            outcome(&result(Verdict::Approved, true, false), 1, 3),
            ReviewOutcome::Merged
        );
        let ReviewOutcome::Rework { feedback } =
            outcome(&result(Verdict::Approved, false, true), 1, 3)
        else {
            panic!("a conflict goes back to a worker");
        };
        assert!(feedback.contains("conflicts with main"));
        assert_eq!(
            outcome(&result(Verdict::Approved, false, false), 1, 3),
            ReviewOutcome::Ask,
            "approved but not merged without a conflict needs a person"
        );
        assert_eq!(
            outcome(&result(Verdict::Escalate, false, false), 1, 3),
            ReviewOutcome::Ask
        );
    }
}
