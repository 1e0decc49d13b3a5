//! Checking a claimed push against the git host: where does the branch point on the remote?
//!
//! Uses the GitHub REST API (`GET /repos/{owner}/{repo}/git/ref/heads/{branch}`) with the worker's own git
//! token, so the spawner needs no credential of its own and sees exactly what that token may see.

use std::time::Duration;

use octocrab::Octocrab;
use orch_contracts::messages::worker::RepoRef;
use secrecy::SecretString;
use serde::Deserialize;

use crate::classify::Remote;

/// Attempts before a verification error is reported.
const ATTEMPTS: u32 = 3;

/// Why the remote could not be checked.
#[derive(Debug, thiserror::Error)]
#[error("cannot read branch {branch} of {repo} from {api}: {reason}")]
pub struct VerifyError {
    /// `owner/name`.
    pub repo: String,
    /// The branch.
    pub branch: String,
    /// The API base URL.
    pub api: String,
    /// What went wrong.
    pub reason: String,
}

#[derive(Deserialize)]
struct GitRef {
    object: GitObject,
}

#[derive(Deserialize)]
struct GitObject {
    sha: String,
}

/// Reads branch heads from the git host's API.
#[derive(Debug, Clone)]
pub struct Verifier {
    api_url: String,
}

impl Verifier {
    /// Uses the API at `api_url` (`https://api.github.com`, or a simulator).
    pub fn new(api_url: impl Into<String>) -> Self {
        Self {
            api_url: api_url.into(),
        }
    }

    /// Returns where `branch` points on the remote, retrying transient failures.
    pub async fn branch_head(
        &self,
        repo: &RepoRef,
        branch: &str,
        token: Option<&SecretString>,
    ) -> Result<Remote, VerifyError> {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            }
            match self.read_once(repo, branch, token).await {
                Ok(remote) => return Ok(remote),
                Err(reason) => last = reason,
            }
        }
        Err(VerifyError {
            repo: format!("{}/{}", repo.owner, repo.name),
            branch: branch.to_owned(),
            api: self.api_url.clone(),
            reason: last,
        })
    }

    async fn read_once(
        &self,
        repo: &RepoRef,
        branch: &str,
        token: Option<&SecretString>,
    ) -> Result<Remote, String> {
        let client = self.client(token).map_err(|e| e.to_string())?;
        let route = format!("/repos/{}/{}/git/ref/heads/{branch}", repo.owner, repo.name);
        match client.get::<GitRef, _, ()>(route, None).await {
            Ok(found) => Ok(Remote::At(found.object.sha)),
            Err(octocrab::Error::GitHub { source, .. }) if source.status_code.as_u16() == 404 => {
                Ok(Remote::Missing)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    fn client(&self, token: Option<&SecretString>) -> octocrab::Result<Octocrab> {
        let mut builder = Octocrab::builder()
            .base_uri(self.api_url.as_str())?
            .set_connect_timeout(Some(Duration::from_secs(5)))
            .set_read_timeout(Some(Duration::from_secs(10)));
        if let Some(token) = token {
            builder = builder.personal_token(token.clone());
        }
        builder.build()
    }
}
