//! Each project's git token for its coding workers, as a zavhoz handle.
//!
//! With `GRAPH_RUNNER__ZAVHOZ__*` configured, the architect step allocates for the project's owner a
//! `secret { sops_path }` resource pointing at the workers' token in secrets.yaml, under the idempotency key
//! `git-token:<project id>`, and keeps only the handle (in `RepositoryRef.git_token_handle`, which the develop
//! step injects as `GIT_TOKEN`). The graph-runner authenticates as `graph_runner`: it may allocate, never
//! resolve — the value stays between zavhoz and the worker-spawner.
//!
//! The handle is reusable (every worker of the project uses it) and lives for the configured lease. A retried
//! or restarted step gets the same handle twice over: the allocation is a recorded effect of the step, and
//! zavhoz itself returns the first resource for a repeated key.

use std::time::Duration;

use orch_contracts::ProjectId;
use orch_zavhoz_client::proto::{SecretSpec, secret_spec};
use orch_zavhoz_client::{Allocation, ClientError, Spec, ZavhozClient, ZavhozClientConfig};
use secrecy::ExposeSecret;

use crate::config::ZavhozSettings;

/// Upper bound of one Allocate call; a zavhoz that does not answer in time counts as unavailable.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Allocates projects' git token handles through zavhoz.
#[derive(Clone, Debug)]
pub struct GitTokens {
    client: ZavhozClient,
    sops_path: String,
    lease: Duration,
}

/// Why a project got no git token handle.
#[derive(Debug, thiserror::Error)]
#[error("no git token handle from zavhoz: {0}")]
pub struct GitTokenError(#[from] pub ClientError);

impl GitTokens {
    /// The allocator for the configured settings: `None` without a zavhoz section or with neither a token nor a
    /// secret path in it (workers then get `GRAPH_RUNNER__WORKERS__GIT_TOKEN_HANDLE`); one without the other
    /// is a configuration error.
    pub fn from_settings(settings: Option<&ZavhozSettings>) -> anyhow::Result<Option<Self>> {
        let Some(settings) = settings else {
            return Ok(None);
        };
        let has_token = !settings.token.expose_secret().trim().is_empty();
        let has_path = !settings.git_token_sops_path.trim().is_empty();
        match (has_token, has_path) {
            (false, false) => Ok(None),
            (true, true) => Self::new(settings).map(Some),
            (true, false) => anyhow::bail!(
                "GRAPH_RUNNER__ZAVHOZ__TOKEN is set but GRAPH_RUNNER__ZAVHOZ__GIT_TOKEN_SOPS_PATH is not"
            ),
            (false, true) => anyhow::bail!(
                "GRAPH_RUNNER__ZAVHOZ__GIT_TOKEN_SOPS_PATH is set but GRAPH_RUNNER__ZAVHOZ__TOKEN is empty"
            ),
        }
    }

    /// A client for `settings` that connects on first use (zavhoz being down at startup must not stop
    /// conversations). An empty token or a malformed URL is a configuration error.
    pub fn new(settings: &ZavhozSettings) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !settings.git_token_sops_path.trim().is_empty(),
            "GRAPH_RUNNER__ZAVHOZ__GIT_TOKEN_SOPS_PATH is empty"
        );
        let config = ZavhozClientConfig {
            url: settings.url.clone(),
            token: settings.token.clone(),
        };
        let client = ZavhozClient::connect_lazy(&config)
            .map_err(|e| anyhow::anyhow!("GRAPH_RUNNER__ZAVHOZ__URL/TOKEN are not usable: {e}"))?;
        Ok(Self {
            client,
            sops_path: settings.git_token_sops_path.trim().to_owned(),
            lease: Duration::from_secs(settings.git_token_lease_secs.max(1)),
        })
    }

    /// The handle of `project`'s git token, allocated for its `owner` (the same handle for every call).
    pub async fn allocate(&self, owner: i64, project: ProjectId) -> Result<String, GitTokenError> {
        let allocation = Allocation {
            acting_user_id: owner,
            project_id: Some(project.0),
            idempotency_key: idempotency_key(project),
            lease_ttl: Some(self.lease),
            spec: Spec::Secret(SecretSpec {
                source: Some(secret_spec::Source::SopsPath(self.sops_path.clone())),
                single_use: false,
            }),
        };
        let resource = tokio::time::timeout(CALL_TIMEOUT, self.client.allocate(allocation))
            .await
            .map_err(|_| ClientError::Unavailable {
                message: format!("no answer within {} s", CALL_TIMEOUT.as_secs()),
            })??;
        if resource.handle.is_empty() {
            return Err(GitTokenError(ClientError::Server {
                code: tonic::Code::Internal,
                message: "the allocated secret resource carries no handle".into(),
            }));
        }
        Ok(resource.handle)
    }
}

/// Zavhoz's idempotency key of a project's git token: one resource per project, whatever thread asks.
pub fn idempotency_key(project: ProjectId) -> String {
    format!("git-token:{}", project.0)
}

/// True when a retry alone may help (zavhoz down, slow or failing internally); false when an operator has to
/// change something first (credentials, the secret's path, a quota).
pub fn is_transient(error: &GitTokenError) -> bool {
    matches!(
        error.0,
        ClientError::Unavailable { .. } | ClientError::Server { .. }
    )
}

/// What the person reads when zavhoz is down: the step is retried by itself.
pub fn unavailable_text() -> String {
    "I can't reach the resource service (zavhoz) to get this project's git access for the coding workers. \
     I'm retrying by myself; nothing is lost."
        .to_owned()
}

/// What the person reads when zavhoz refused: an operator has to act, then any message continues.
/// Names the reason (a code such as `SECRET_MISSING` or the gRPC status), never a value or a token.
pub fn refused_text(error: &GitTokenError) -> String {
    let reason = match &error.0 {
        ClientError::Refused { refusal, .. } => refusal.to_string(),
        ClientError::Rejected { code, .. } => format!("{code:?}"),
        ClientError::Config(_) => "configuration".to_owned(),
        ClientError::Unavailable { .. } | ClientError::Server { .. } => "unavailable".to_owned(),
    };
    format!(
        "The resource service (zavhoz) refused this project's git access for the coding workers ({reason}), \
         so building can't start yet. An operator has to fix the graph-runner's zavhoz settings or \
         secrets.yaml; then send any message to try again."
    )
}

#[cfg(test)]
mod tests {
    use orch_zavhoz_client::Refusal;
    use secrecy::SecretString;

    use super::*;

    fn settings(token: &str) -> ZavhozSettings {
        ZavhozSettings {
            url: "http://127.0.0.1:1".into(),
            token: SecretString::from(token.to_owned()),
            git_token_sops_path: "git.workers_token".into(),
            git_token_lease_secs: 60,
        }
    }

    #[tokio::test]
    async fn an_empty_token_is_a_configuration_error_and_debug_hides_the_token() {
        assert!(GitTokens::new(&settings("")).is_err());
        let tokens = GitTokens::new(&settings("zvh_canary_tok")).expect("valid settings");
        assert!(!format!("{tokens:?}").contains("zvh_canary_tok"));
        assert!(!format!("{:?}", settings("zvh_canary_tok")).contains("zvh_canary_tok"));
    }

    #[tokio::test]
    async fn zavhoz_is_used_only_with_both_a_token_and_a_secret_path() {
        assert!(GitTokens::from_settings(None).expect("fine").is_none());
        let url_only = ZavhozSettings::default();
        assert!(
            GitTokens::from_settings(Some(&url_only))
                .expect("fine")
                .is_none()
        );
        assert!(
            GitTokens::from_settings(Some(&settings("zvh_t")))
                .expect("fine")
                .is_some()
        );
        let no_path = ZavhozSettings {
            git_token_sops_path: String::new(),
            ..settings("zvh_t")
        };
        let error = GitTokens::from_settings(Some(&no_path)).expect_err("incomplete");
        assert!(error.to_string().contains("GIT_TOKEN_SOPS_PATH"), "{error}");
        let no_token = settings("");
        let error = GitTokens::from_settings(Some(&no_token)).expect_err("incomplete");
        assert!(error.to_string().contains("__TOKEN is empty"), "{error}");
        let defaults: ZavhozSettings = serde_json::from_str("{}").expect("all keys default");
        assert_eq!(defaults.git_token_lease_secs, 2_592_000);
    }

    #[test]
    fn the_key_names_the_project_only() {
        let project = ProjectId(uuid::Uuid::nil());
        assert_eq!(
            idempotency_key(project),
            "git-token:00000000-0000-0000-0000-000000000000"
        );
    }

    #[test]
    fn failures_are_classified_and_explained_without_zavhoz_messages() {
        let down = GitTokenError(ClientError::Unavailable {
            message: "tcp connect error".into(),
        });
        assert!(is_transient(&down));
        let missing = GitTokenError(ClientError::Refused {
            refusal: Refusal::SecretMissing,
            code: tonic::Code::FailedPrecondition,
            message: "secret-detail-from-zavhoz".into(),
        });
        assert!(!is_transient(&missing));
        let text = refused_text(&missing);
        assert!(text.contains("SECRET_MISSING"), "{text}");
        assert!(!text.contains("secret-detail-from-zavhoz"), "{text}");
        let denied = GitTokenError(ClientError::Rejected {
            code: tonic::Code::Unauthenticated,
            message: "unknown token".into(),
        });
        assert!(!is_transient(&denied));
        assert!(refused_text(&denied).contains("Unauthenticated"));
    }
}
