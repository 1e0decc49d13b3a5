//! Putting the judgement on GitHub: the review (once), and the merge (once, guarded by the reviewed head).

use orch_contracts::messages::review::{MergeMethod, ReviewRequest, Verdict};
use orch_github::{Github, GithubError, MergeRequest, NewReview, ReviewEvent};

use crate::judge::Judgement;

/// Returns the marker hidden in a review's body; finding it on the pull request means the review is posted.
pub fn marker(idempotency_key: &str) -> String {
    format!("<!-- orch-review:{idempotency_key} -->")
}

/// The review text: the summary, the reasons, comments that could not go on a line, and the marker.
pub fn body(j: &Judgement, key: &str, inline: bool) -> String {
    let mut text = j.summary.clone();
    if !j.reasons.is_empty() {
        text.push_str("\n\n**Reasons**\n");
        for r in &j.reasons {
            text.push_str(&format!("- {r}\n"));
        }
    }
    let off: Vec<_> = if inline {
        j.elsewhere.iter().collect()
    } else {
        j.inline.iter().chain(&j.elsewhere).collect()
    };
    if !off.is_empty() {
        text.push_str("\n\n**Comments**\n");
        for c in off {
            text.push_str(&format!("- `{}:{}`: {}\n", c.path, c.line, c.body));
        }
    }
    text.push_str(&format!("\n\n{}", marker(key)));
    text
}

fn event(v: Verdict) -> ReviewEvent {
    match v {
        Verdict::Approved => ReviewEvent::Approve,
        Verdict::ChangesRequested => ReviewEvent::RequestChanges,
        Verdict::Escalate => ReviewEvent::Comment,
    }
}

/// Posts the review unless the pull request already has one with this request's marker; returns its id.
///
/// When GitHub refuses the review (422: a line it does not accept, or approving one's own pull request), it
/// is posted once more as a plain comment review with every comment in the body, so the verdict is still on
/// record for people.
pub async fn review(
    gh: &Github,
    request: &ReviewRequest,
    head_sha: &str,
    j: &Judgement,
) -> Result<u64, GithubError> {
    let (owner, repo, n) = (&request.repo.owner, &request.repo.name, request.pr_number);
    let mark = marker(&request.idempotency_key);
    let existing = gh.reviews(owner, repo, n).await?;
    if let Some(found) = existing
        .iter()
        .find(|r| r.body.as_deref().is_some_and(|b| b.contains(&mark)))
    {
        tracing::info!(
            review = found.id,
            "the review is on the pull request already"
        );
        return Ok(found.id);
    }
    let full = NewReview {
        commit_id: head_sha.to_owned(),
        body: body(j, &request.idempotency_key, true),
        event: event(j.verdict),
        comments: j.inline.iter().map(line).collect(),
    };
    match gh.create_review(owner, repo, n, &full).await {
        Ok(posted) => Ok(posted.id),
        Err(GithubError::Unprocessable {
            message, errors, ..
        }) => {
            tracing::warn!(%message, ?errors, "github refused the review; posting it as a comment");
            let plain = NewReview {
                body: body(j, &request.idempotency_key, false),
                event: ReviewEvent::Comment,
                comments: Vec::new(),
                ..full
            };
            Ok(gh.create_review(owner, repo, n, &plain).await?.id)
        }
        Err(e) => Err(e),
    }
}

fn line(c: &orch_contracts::messages::review::LineComment) -> orch_github::LineComment {
    orch_github::LineComment {
        path: c.path.clone(),
        line: c.line,
        body: c.body.clone(),
    }
}

/// How a merge attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    /// Merged (verified on the host) into this commit.
    Merged(String),
    /// The pull request conflicts with its base.
    Conflict(String),
    /// Not merged for another reason (the head moved, closed, blocked); the text says why.
    NotMerged(String),
}

/// Merges the reviewed head unless the pull request is merged already (by an earlier delivery), then checks
/// on the host that it is merged.
pub async fn merge(
    gh: &Github,
    request: &ReviewRequest,
    head_sha: &str,
) -> Result<MergeOutcome, GithubError> {
    let (owner, repo, n) = (&request.repo.owner, &request.repo.name, request.pr_number);
    let before = gh.pull_request(owner, repo, n).await?;
    if before.merged {
        return merged_on_host(gh, request).await;
    }
    let wanted = MergeRequest {
        method: method(request.merge_method),
        expected_head_sha: head_sha.to_owned(),
        commit_title: None,
    };
    match gh.merge(owner, repo, n, &wanted).await {
        Ok(_) => merged_on_host(gh, request).await,
        Err(GithubError::HeadMoved { .. }) => Ok(MergeOutcome::NotMerged(format!(
            "Not merged: the branch moved after the review (reviewed {}); a new review is needed.",
            short(head_sha)
        ))),
        Err(GithubError::NotMergeable { message, .. }) => {
            let pr = gh.pull_request(owner, repo, n).await?;
            Ok(if pr.merged {
                merged_on_host(gh, request).await?
            } else if pr.is_open() && pr.mergeable != Some(true) {
                MergeOutcome::Conflict(format!(
                    "Not merged: the pull request conflicts with `{}` ({message}).",
                    pr.base.branch
                ))
            } else {
                MergeOutcome::NotMerged(format!("Not merged: {message}."))
            })
        }
        Err(e) => Err(e),
    }
}

async fn merged_on_host(gh: &Github, request: &ReviewRequest) -> Result<MergeOutcome, GithubError> {
    let (owner, repo, n) = (&request.repo.owner, &request.repo.name, request.pr_number);
    let pr = gh.pull_request(owner, repo, n).await?;
    match (pr.merged, pr.merge_commit_sha) {
        (true, Some(sha)) => Ok(MergeOutcome::Merged(sha)),
        _ => Err(GithubError::Decode {
            request: format!("GET /repos/{owner}/{repo}/pulls/{n}"),
            reason: "the merge was accepted but the pull request does not read as merged".into(),
        }),
    }
}

fn method(m: MergeMethod) -> orch_github::MergeMethod {
    match m {
        MergeMethod::Squash => orch_github::MergeMethod::Squash,
        MergeMethod::Merge => orch_github::MergeMethod::Merge,
        MergeMethod::Rebase => orch_github::MergeMethod::Rebase,
    }
}

/// The first 7 characters of a sha.
pub fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use orch_contracts::messages::review::LineComment;

    use super::*;

    #[test]
    fn the_body_carries_reasons_off_diff_comments_and_the_marker() {
        let j = Judgement {
            verdict: Verdict::ChangesRequested,
            summary: "Needs work.".into(),
            inline: vec![LineComment {
                path: "a.rs".into(),
                line: 1,
                body: "here".into(),
            }],
            elsewhere: vec![LineComment {
                path: "b.rs".into(),
                line: 9,
                body: "there".into(),
            }],
            reasons: vec!["no tests".into()],
        };
        let with_lines = body(&j, "k-1", true);
        assert!(with_lines.starts_with("Needs work."));
        assert!(with_lines.contains("- no tests") && with_lines.contains("`b.rs:9`: there"));
        assert!(!with_lines.contains("a.rs:1"));
        assert!(with_lines.ends_with(&marker("k-1")));
        assert!(body(&j, "k-1", false).contains("`a.rs:1`: here"));
    }
}
