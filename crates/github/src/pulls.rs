//! Pull requests: read one and its diff, review it, comment on it, merge it.

use http::Method;
use serde::Serialize;
use serde_json::json;

use crate::client::Github;
use crate::error::GithubError;
use crate::http::{Call, DIFF};
use crate::models::{
    IssueComment, LineComment, MergeRequest, Merged, NewReview, PullRequest, Review,
};

/// Reviews read per page when listing.
const PAGE: usize = 100;
/// Pages read at most when listing reviews (a pull request with 1000 reviews is not ours to handle).
const MAX_PAGES: usize = 10;

/// The body of `POST …/pulls/{n}/reviews`.
#[derive(Serialize)]
struct ReviewBody<'a> {
    commit_id: &'a str,
    body: &'a str,
    event: crate::models::ReviewEvent,
    comments: Vec<ReviewLine<'a>>,
}

#[derive(Serialize)]
struct ReviewLine<'a> {
    path: &'a str,
    line: u32,
    side: &'static str,
    body: &'a str,
}

impl<'a> From<&'a LineComment> for ReviewLine<'a> {
    fn from(c: &'a LineComment) -> Self {
        Self {
            path: &c.path,
            line: c.line,
            side: "RIGHT",
            body: &c.body,
        }
    }
}

fn pull_path(owner: &str, repo: &str, number: u64) -> String {
    format!("/repos/{owner}/{repo}/pulls/{number}")
}

impl Github {
    /// Reads a pull request (head and base commits, merge state, mergeability).
    pub async fn pull_request(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
    ) -> Result<PullRequest, GithubError> {
        self.transport
            .json(Call::get(pull_path(owner, repo, number)))
            .await
    }

    /// Reads the unified diff of a pull request (base…head).
    pub async fn pull_request_diff(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
    ) -> Result<String, GithubError> {
        let call = Call {
            accept: DIFF,
            ..Call::get(pull_path(owner, repo, number))
        };
        self.transport.send(call).await
    }

    /// Posts a review with its line comments in one request (all or nothing).
    pub async fn create_review(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        review: &NewReview,
    ) -> Result<Review, GithubError> {
        let body = ReviewBody {
            commit_id: &review.commit_id,
            body: &review.body,
            event: review.event,
            comments: review.comments.iter().map(ReviewLine::from).collect(),
        };
        let path = format!("{}/reviews", pull_path(owner, repo, number));
        self.transport
            .json(Call::with_body(Method::POST, path, &body))
            .await
    }

    /// Lists the reviews of a pull request, oldest first.
    pub async fn reviews(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
    ) -> Result<Vec<Review>, GithubError> {
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let path = format!(
                "{}/reviews?per_page={PAGE}&page={page}",
                pull_path(owner, repo, number)
            );
            let batch: Vec<Review> = self.transport.json(Call::get(path)).await?;
            let last = batch.len() < PAGE;
            all.extend(batch);
            if last {
                break;
            }
        }
        Ok(all)
    }

    /// Posts a conversation comment on an issue or pull request.
    pub async fn create_issue_comment(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        body: &str,
    ) -> Result<IssueComment, GithubError> {
        let path = format!("/repos/{owner}/{repo}/issues/{number}/comments");
        let body = json!({ "body": body });
        self.transport
            .json(Call::with_body(Method::POST, path, &body))
            .await
    }

    /// Merges a pull request if its head is still `expected_head_sha`.
    ///
    /// Errors: [`GithubError::NotMergeable`] (conflicts, closed, already merged),
    /// [`GithubError::HeadMoved`] (the head is not the expected commit), [`GithubError::Conflict`] (the base
    /// moved during the merge; try again).
    pub async fn merge(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        merge: &MergeRequest,
    ) -> Result<Merged, GithubError> {
        let mut body = json!({
            "merge_method": merge.method,
            "sha": merge.expected_head_sha,
        });
        if let Some(title) = &merge.commit_title {
            body["commit_title"] = json!(title);
        }
        let path = format!("{}/merge", pull_path(owner, repo, number));
        self.transport
            .json(Call::with_body(Method::PUT, path, &body))
            .await
    }
}
