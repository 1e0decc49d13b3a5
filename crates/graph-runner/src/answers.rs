//! The person's answers to the build's questions (see [`crate::escalation`]): a button press, or a written
//! answer that goes to the oldest open question.
//!
//! - a failed task: 🔁 tries again, ⏭ skips it, a written answer is guidance for the next try;
//! - a pull request that needs a person: ✅ merges it (squash, only if its head is the one reviewed), 🗑 drops
//!   the task, a written answer is guidance for another round on the branch;
//! - a spent budget: 💰 doubles it, 🛑 stops starting tasks, a written answer is a new budget in dollars.
//!
//! An answer that is neither (a word or two, or no amount for the budget) is refused with an explanation and
//! the question stays open. A press on an answered question is answered with "already answered".

use orch_contracts::messages::chat::ChatAction;
use orch_github::{GithubError, MergeMethod, MergeRequest};
use orch_graph::{Ctx, NodeError};
use orch_store::{StoreError, usage};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::db;
use crate::develop::{TaskRow, select_tasks};
use crate::escalation::{self, Kind, Open};
use crate::nodes::Deps;
use crate::rework;
use crate::state::Conversation;
use crate::texts;

/// Words a written answer needs to count as guidance.
pub const MIN_GUIDANCE_WORDS: usize = 3;

/// What merging on the person's word came to (the recorded result of the merge effect).
#[derive(Debug, Clone, Serialize, Deserialize)]
enum MergeOutcome {
    /// Pull request `number` merged as commit `sha`.
    Merged {
        /// The pull request.
        number: u64,
        /// The merge commit.
        sha: String,
    },
    /// GitHub refused to merge pull request `number`; why.
    Refused {
        /// The pull request.
        number: u64,
        /// GitHub's reason.
        why: String,
    },
    /// Nothing to merge (no open pull request, or not a review question).
    Nothing,
}

impl Deps {
    /// Applies a button press under question `id`.
    pub(crate) async fn decided(
        &self,
        state: &Conversation,
        ctx: &Ctx,
        id: Uuid,
        approve: bool,
        callback_query_id: &str,
    ) -> Result<(), NodeError> {
        let merge = if approve {
            self.merge_on_request(state, ctx, id).await?
        } else {
            MergeOutcome::Nothing
        };
        let (owned, query) = (state.clone(), callback_query_id.to_owned());
        self.write_once(ctx, "decided", state, move |conn| {
            Box::pin(async move {
                let Some(question) = escalation::lock(conn, owned.run_id, id).await? else {
                    return Ok(stale(&query));
                };
                if !question.is_open() {
                    return Ok(stale(&query));
                }
                let text = apply_decision(conn, &owned, &question, approve, &merge).await?;
                let shown = if approve { "approved" } else { "declined" };
                escalation::answer(
                    conn,
                    &owned,
                    &question,
                    &serde_json::json!({ "approve": approve }),
                    shown,
                )
                .await?;
                Ok(vec![
                    texts::answer_button(&query, "Got it"),
                    texts::send(text),
                ])
            })
        })
        .await?;
        Ok(())
    }

    /// Applies a written answer to the oldest open question; returns false when no question is open.
    pub(crate) async fn written(
        &self,
        state: &Conversation,
        ctx: &Ctx,
        text: &str,
    ) -> Result<(), NodeError> {
        let (owned, text) = (state.clone(), text.trim().to_owned());
        self.write_once(ctx, "written", state, move |conn| {
            Box::pin(async move {
                let Some(question) = escalation::oldest_open(conn, owned.run_id).await? else {
                    return Ok(vec![texts::send(texts::NOTHING_ASKED)]);
                };
                let reply = match question.kind() {
                    Some(Kind::Budget) => budget_answer(conn, &owned, &question, &text).await?,
                    Some(Kind::TaskFailed | Kind::Review) => {
                        guidance(conn, &owned, &question, &text).await?
                    }
                    None => texts::NOTHING_ASKED.to_owned(),
                };
                Ok(vec![texts::send(reply)])
            })
        })
        .await?;
        Ok(())
    }

    /// Merges the pull request of an open review question, once (the effect records the outcome).
    async fn merge_on_request(
        &self,
        state: &Conversation,
        ctx: &Ctx,
        id: Uuid,
    ) -> Result<MergeOutcome, NodeError> {
        let Some(pull) = self.pull_of_question(state, id).await? else {
            return Ok(MergeOutcome::Nothing);
        };
        let (Some(factory), Some(repo)) = (&self.factory, &state.repository) else {
            return Ok(MergeOutcome::Nothing);
        };
        let (owner, name) = repo
            .full_name
            .split_once('/')
            .ok_or_else(|| NodeError::msg("the repository name has no owner"))?;
        let request = MergeRequest {
            method: MergeMethod::Squash,
            expected_head_sha: pull.1,
            commit_title: None,
        };
        let number = u64::try_from(pull.0).unwrap_or_default();
        ctx.once("merge", |_| async {
            let github = factory.github().await?;
            match github.merge(owner, name, number, &request).await {
                Ok(merged) => Ok(MergeOutcome::Merged {
                    number,
                    sha: merged.sha,
                }),
                Err(
                    e @ (GithubError::NotMergeable { .. }
                    | GithubError::HeadMoved { .. }
                    | GithubError::Conflict { .. }),
                ) => Ok(MergeOutcome::Refused {
                    number,
                    why: e.to_string(),
                }),
                Err(e) => Err::<_, NodeError>(e.into()),
            }
        })
        .await
    }

    /// The open pull request (number, head) of an open review question.
    async fn pull_of_question(
        &self,
        state: &Conversation,
        id: Uuid,
    ) -> Result<Option<(i64, String)>, NodeError> {
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT pr.number, pr.head_sha FROM escalations e
             JOIN pull_requests pr ON pr.task_id = e.task_id AND pr.state = 'open'
             WHERE e.id = $1 AND e.run_id = $2 AND e.kind = 'review' AND e.status = 'open'",
        )
        .bind(id)
        .bind(state.run_id.0)
        .fetch_optional(self.store.pool())
        .await
        .map_err(db("reading the pull request of a question"))?;
        Ok(row)
    }
}

fn stale(query: &str) -> Vec<ChatAction> {
    vec![
        texts::answer_button(query, "Already answered"),
        texts::send(texts::ALREADY_ANSWERED),
    ]
}

/// What a press does; returns what to tell the person.
async fn apply_decision(
    conn: &mut PgConnection,
    state: &Conversation,
    question: &Open,
    approve: bool,
    merge: &MergeOutcome,
) -> Result<String, StoreError> {
    let task = match question.task_id {
        Some(id) => Some(task_by_id(conn, id).await?),
        None => None,
    };
    match (question.kind(), task, approve) {
        (Some(Kind::Budget), _, true) => raise_budget(conn, state, None).await,
        (Some(Kind::Budget), _, false) => stop_pending(conn, state).await,
        (Some(Kind::TaskFailed), Some(task), true) => {
            rework::send_back(conn, &task, "A person asked to try this task again.").await?;
            Ok(texts::task_trying_again(&task.title))
        }
        (Some(Kind::Review), Some(task), true) => merge_decided(conn, state, &task, merge).await,
        (Some(Kind::TaskFailed | Kind::Review), Some(task), false) => {
            rework::set_status(conn, &task, "cancelled").await?;
            Ok(texts::task_dropped(&task.title))
        }
        _ => Ok(texts::NOTHING_ASKED.to_owned()),
    }
}

/// Records the merge the person asked for, or sends the task back when GitHub refused it.
async fn merge_decided(
    conn: &mut PgConnection,
    state: &Conversation,
    task: &TaskRow,
    merge: &MergeOutcome,
) -> Result<String, StoreError> {
    match merge {
        MergeOutcome::Merged { number, sha } => {
            rework::mark_merged(conn, state, task, *number, Some(sha)).await?;
            Ok(texts::task_merged_as_decided(&task.title, *number, sha))
        }
        MergeOutcome::Refused { number, why } => {
            let feedback = format!(
                "A person approved pull request #{number}, but GitHub refused to merge it ({why}). Merge main \
                 into the branch and resolve any conflicts."
            );
            rework::send_back(conn, task, &feedback).await?;
            Ok(texts::merge_refused(&task.title, *number, why))
        }
        MergeOutcome::Nothing => {
            rework::set_status(conn, task, "cancelled").await?;
            Ok(texts::nothing_to_merge(&task.title))
        }
    }
}

/// A written answer to a task's question: guidance for another try, or a refusal when it is too short.
async fn guidance(
    conn: &mut PgConnection,
    state: &Conversation,
    question: &Open,
    text: &str,
) -> Result<String, StoreError> {
    if text.split_whitespace().count() < MIN_GUIDANCE_WORDS {
        return Ok(texts::not_an_answer(&question.question));
    }
    let Some(task_id) = question.task_id else {
        return Ok(texts::NOTHING_ASKED.to_owned());
    };
    let task = task_by_id(conn, task_id).await?;
    rework::send_back(conn, &task, &format!("Guidance from the person: {text}")).await?;
    let shown = format!("guidance: {}", texts::clip(text, 200));
    escalation::answer(
        conn,
        state,
        question,
        &serde_json::json!({ "guidance": text }),
        &shown,
    )
    .await?;
    Ok(texts::task_guided(&task.title))
}

/// A written answer to the budget question: a new budget in dollars, above what was spent.
async fn budget_answer(
    conn: &mut PgConnection,
    state: &Conversation,
    question: &Open,
    text: &str,
) -> Result<String, StoreError> {
    let spent = usage::project_spend(conn, state.project_id).await?;
    match parse_dollars(text) {
        Some(micros) if micros > spent => {
            let reply = raise_budget(conn, state, Some(micros)).await?;
            let shown = format!("new budget {}", texts::dollars(micros));
            escalation::answer(
                conn,
                state,
                question,
                &serde_json::json!({ "budget_usd_micros": micros }),
                &shown,
            )
            .await?;
            Ok(reply)
        }
        _ => Ok(texts::not_a_budget(spent)),
    }
}

/// Sets the budget to `to` (or doubles it); returns what to tell the person.
async fn raise_budget(
    conn: &mut PgConnection,
    state: &Conversation,
    to: Option<i64>,
) -> Result<String, StoreError> {
    let budget: i64 = sqlx::query_scalar(
        "UPDATE projects SET budget_usd_micros = COALESCE($2, budget_usd_micros * 2), updated_at = now()
         WHERE id = $1 RETURNING budget_usd_micros",
    )
    .bind(state.project_id.0)
    .bind(to)
    .fetch_one(&mut *conn)
    .await
    .map_err(db("raising the budget"))?;
    Ok(texts::budget_raised(budget))
}

/// No pending task starts any more.
async fn stop_pending(conn: &mut PgConnection, state: &Conversation) -> Result<String, StoreError> {
    let stopped = sqlx::query(
        "UPDATE tasks SET status = 'cancelled', updated_at = now() WHERE run_id = $1 AND status = 'pending'",
    )
    .bind(state.run_id.0)
    .execute(&mut *conn)
    .await
    .map_err(db("stopping pending tasks"))?;
    Ok(texts::build_stopped(stopped.rows_affected()))
}

async fn task_by_id(conn: &mut PgConnection, id: Uuid) -> Result<TaskRow, StoreError> {
    sqlx::query_as::<_, TaskRow>(select_tasks!("WHERE id = $1"))
        .bind(id)
        .fetch_one(conn)
        .await
        .map_err(db("reading a task"))
}

/// Parses "5", "$5", "5.50 USD" or "$ 12.5" into micro-dollars.
pub fn parse_dollars(text: &str) -> Option<i64> {
    let cleaned: String = text
        .trim()
        .trim_start_matches('$')
        .trim()
        .trim_end_matches("USD")
        .trim_end_matches("usd")
        .trim()
        .replace(',', "");
    let value: f64 = cleaned.parse().ok()?;
    (value.is_finite() && value > 0.0 && value < 1e9).then(|| (value * 1_000_000.0).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_parse_in_the_ways_people_write_them() {
        assert_eq!(parse_dollars("5"), Some(5_000_000));
        assert_eq!(parse_dollars("$5.50"), Some(5_500_000));
        assert_eq!(parse_dollars(" $ 12.5 USD "), Some(12_500_000));
        assert_eq!(parse_dollars("1,000"), Some(1_000_000_000));
        for bad in ["", "five", "-3", "0", "$", "NaN", "inf", "1e12"] {
            assert_eq!(parse_dollars(bad), None, "{bad:?}");
        }
    }
}
