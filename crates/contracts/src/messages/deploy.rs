//! `deploy:request` (graph-runner → devops-runner) and `deploy:result:<id>` (back).

use serde::{Deserialize, Serialize};

use super::LONG_TEXT_LIMIT;
use super::worker::{RepoRef, SecretInjection, is_sha};
use crate::envelope::Contract;
use crate::ids::{DeploymentId, ProjectId};
use crate::validate::Violations;

/// `deploy:request`: deploy one commit of a project to a server allocated by zavhoz.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// The deployment; its outcome arrives on `deploy:result:<id>`.
    pub deployment_id: DeploymentId,
    /// The project.
    pub project_id: ProjectId,
    /// The repository.
    pub repo: RepoRef,
    /// The commit to deploy.
    pub commit_sha: String,
    /// The zavhoz resource id of the target server.
    pub server_resource: String,
    /// The public host name to point at the server.
    pub domain: String,
    /// The port the service listens on.
    pub port: u16,
    /// The path answering 200 when the service is healthy.
    pub health_path: String,
    /// Secrets the service needs, as handles.
    #[serde(default)]
    pub secrets: Vec<SecretInjection>,
    /// A retried request with the same key deploys once.
    pub idempotency_key: String,
}

impl Contract for DeployRequest {
    const TYPE: &'static str = "deploy.request";
    const VERSION: u16 = 1;

    fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::new();
        v.check(is_sha(&self.commit_sha), || {
            "commit_sha is not a 40-character hex sha".into()
        });
        v.slug("server_resource", &self.server_resource, 200);
        v.check(is_hostname(&self.domain), || {
            format!("domain `{}` is not a host name", self.domain)
        });
        v.check(self.port > 0, || "port must be positive".into());
        v.check(self.health_path.starts_with('/'), || {
            "health_path must start with /".into()
        });
        for s in &self.secrets {
            v.check(s.handle.is_well_formed(), || {
                format!("secret for `{}` is not a handle", s.env)
            });
        }
        v.slug("idempotency_key", &self.idempotency_key, 200);
        v.into_result()
    }
}

/// How a deployment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployStatus {
    /// Deployed and answering its health check.
    Deployed,
    /// The new version failed its health check and the previous one was restored.
    RolledBack,
    /// The deployment failed and nothing could be restored.
    Failed,
}

/// `deploy:result:<id>`: how one deployment ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployResult {
    /// The deployment.
    pub deployment_id: DeploymentId,
    /// The outcome.
    pub status: DeployStatus,
    /// The public URL, when deployed.
    pub url: Option<String>,
    /// What happened, for the person.
    pub summary: String,
    /// The last lines of the ansible log.
    pub log_tail: String,
}

impl Contract for DeployResult {
    const TYPE: &'static str = "deploy.result";
    const VERSION: u16 = 1;

    fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::new();
        v.text("summary", &self.summary, LONG_TEXT_LIMIT);
        v.check(
            (self.status == DeployStatus::Deployed) == self.url.is_some(),
            || "url must be present exactly when deployed".into(),
        );
        v.check(self.log_tail.len() <= LONG_TEXT_LIMIT, || {
            "log_tail longer than 64 KiB".into()
        });
        v.into_result()
    }
}

fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}
