//! Opening a pull request idempotently: a retry after a crash finds the pull request it opened before.

use http::Method;
use serde::Serialize;

use crate::client::Github;
use crate::error::GithubError;
use crate::http::Call;
use crate::models::PullRequest;

/// A pull request to open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewPullRequest {
    /// The title.
    pub title: String,
    /// The branch with the changes (in the same repository).
    pub head: String,
    /// The branch to merge into.
    pub base: String,
    /// The description.
    pub body: String,
}

impl Github {
    /// Opens a pull request from `new.head` into `new.base`; when one is open already for that head and base
    /// (an earlier attempt opened it), returns that one instead.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), head = %new.head))]
    pub async fn open_pull_request(
        &self,
        owner: &str,
        repo: &str,
        new: &NewPullRequest,
    ) -> Result<PullRequest, GithubError> {
        let path = format!("/repos/{owner}/{repo}/pulls");
        match self
            .transport
            .json(Call::with_body(Method::POST, path, new))
            .await
        {
            Ok(opened) => Ok(opened),
            Err(GithubError::Unprocessable {
                request,
                message,
                errors,
            }) if errors.iter().any(|e| e.contains("already exists")) => {
                match self.open_pull_for(owner, repo, new).await? {
                    Some(existing) => {
                        tracing::info!(
                            number = existing.number,
                            "the pull request is open already"
                        );
                        Ok(existing)
                    }
                    None => Err(GithubError::Unprocessable {
                        request,
                        message,
                        errors,
                    }),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The open pull request from `new.head` into `new.base`, if any.
    async fn open_pull_for(
        &self,
        owner: &str,
        repo: &str,
        new: &NewPullRequest,
    ) -> Result<Option<PullRequest>, GithubError> {
        let path = format!(
            "/repos/{owner}/{repo}/pulls?state=open&head={owner}:{}&base={}",
            new.head, new.base
        );
        let open: Vec<PullRequest> = self.transport.json(Call::get(path)).await?;
        Ok(open
            .into_iter()
            .find(|p| p.head.branch == new.head && p.base.branch == new.base))
    }
}
