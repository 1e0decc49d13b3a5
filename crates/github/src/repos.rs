//! Repositories and branches: what the architect needs to set a project up.

use http::Method;

use crate::client::Github;
use crate::error::GithubError;
use crate::http::Call;
use crate::models::{Branch, BranchBody, NewRepository, Repository};

impl Github {
    /// Creates a repository under [`Identity::owner`](crate::Identity::owner) (an organization, or the token's
    /// user), idempotently: when a repository of that name already exists there, it is returned.
    #[tracing::instrument(skip_all, fields(owner = %self.identity().owner, name = %new.name))]
    pub async fn create_repository(&self, new: &NewRepository) -> Result<Repository, GithubError> {
        let identity = self.identity();
        let path = if identity.owner_is_org {
            format!("/orgs/{}/repos", identity.owner)
        } else {
            "/user/repos".to_owned()
        };
        match self
            .transport
            .json(Call::with_body(Method::POST, path, new))
            .await
        {
            Ok(created) => Ok(created),
            Err(GithubError::Unprocessable {
                request,
                message,
                errors,
            }) if errors.iter().any(|e| e.contains("already exists")) => {
                tracing::info!("the repository exists already; using it");
                let existing = self.repository(&identity.owner, &new.name).await?;
                if existing.owner.login.eq_ignore_ascii_case(&identity.owner) {
                    Ok(existing)
                } else {
                    Err(GithubError::Unprocessable {
                        request,
                        message,
                        errors,
                    })
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Reads a repository.
    pub async fn repository(&self, owner: &str, name: &str) -> Result<Repository, GithubError> {
        self.transport
            .json(Call::get(format!("/repos/{owner}/{name}")))
            .await
    }

    /// Reads where a branch points; `None` when the branch does not exist.
    pub async fn branch(
        &self,
        owner: &str,
        repo: &str,
        branch: &str,
    ) -> Result<Option<Branch>, GithubError> {
        let path = format!("/repos/{owner}/{repo}/branches/{branch}");
        match self.transport.json::<BranchBody, _>(Call::get(path)).await {
            Ok(found) => Ok(Some(Branch {
                name: found.name,
                sha: found.commit.sha,
            })),
            Err(GithubError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
