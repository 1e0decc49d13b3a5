//! [`Github`]: connecting (personal token or GitHub App) and knowing who we act as.

use octocrab::models::{AppId, InstallationId};
use octocrab::service::middleware::retry::RetryConfig;
use octocrab::{
    DefaultOctocrabBuilderConfig, EncodingKey, NoAuth, NoSvc, NotLayerReady, Octocrab,
    OctocrabBuilder,
};
use secrecy::ExposeSecret;

use crate::config::{GithubAuth, GithubConfig};
use crate::error::GithubError;
use crate::http::{Call, Transport};
use crate::models::{Account, App, Installation};

/// Who the client acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The login that authors reviews and comments (`<slug>[bot]` for an app installation).
    pub login: String,
    /// The account new repositories are created under (the installation's organization for an app).
    pub owner: String,
    /// True when `owner` is an organization (repositories go through `POST /orgs/{owner}/repos`).
    pub owner_is_org: bool,
}

/// A connected GitHub client; cheap to clone.
#[derive(Clone)]
pub struct Github {
    pub(crate) transport: Transport,
    identity: Identity,
}

impl std::fmt::Debug for Github {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Github")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl Github {
    /// Authenticates and learns who we are: `GET /user` for a token; for an app, its installation (the
    /// configured one, or the only one) and the organization it is installed on.
    #[tracing::instrument(skip_all, fields(api = %config.api_url))]
    pub async fn connect(config: &GithubConfig) -> Result<Self, GithubError> {
        match &config.auth {
            GithubAuth::Token { token, org } => {
                let octo = builder(config)?
                    .personal_token(token.clone())
                    .build()
                    .map_err(config_error)?;
                let transport = Transport {
                    octo,
                    retry: config.retry,
                };
                let me: Account = transport.json(Call::get("/user".into())).await?;
                let identity = Identity {
                    owner: org.clone().unwrap_or_else(|| me.login.clone()),
                    owner_is_org: org.is_some(),
                    login: me.login,
                };
                Ok(Self {
                    transport,
                    identity,
                })
            }
            GithubAuth::App {
                app_id,
                private_key_pem,
                installation_id,
            } => Self::connect_app(config, *app_id, private_key_pem, *installation_id).await,
        }
    }

    async fn connect_app(
        config: &GithubConfig,
        app_id: u64,
        pem: &secrecy::SecretString,
        installation_id: Option<u64>,
    ) -> Result<Self, GithubError> {
        let key = EncodingKey::from_rsa_pem(pem.expose_secret().as_bytes()).map_err(|e| {
            GithubError::Config {
                reason: format!("the app private key is not an RSA PEM key ({e})"),
            }
        })?;
        let app = builder(config)?
            .app(AppId(app_id), key)
            .build()
            .map_err(config_error)?;
        let app_transport = Transport {
            octo: app,
            retry: config.retry,
        };
        let installation = pick_installation(&app_transport, app_id, installation_id).await?;
        let about: App = app_transport.json(Call::get("/app".into())).await?;
        let octo = app_transport
            .octo
            .installation(InstallationId(installation.id))
            .map_err(config_error)?;
        let identity = Identity {
            login: format!("{}[bot]", about.slug),
            owner: installation.account.login,
            owner_is_org: true,
        };
        tracing::info!(installation = installation.id, owner = %identity.owner, "github app installation selected");
        Ok(Self {
            transport: Transport {
                octo,
                retry: config.retry,
            },
            identity,
        })
    }

    /// Returns who this client acts as.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
}

/// A fresh octocrab builder before authentication.
type Builder = OctocrabBuilder<NoSvc, DefaultOctocrabBuilderConfig, NoAuth, NotLayerReady>;

/// The base URL and timeouts; octocrab's retries are off (see [`crate::http`]).
fn builder(config: &GithubConfig) -> Result<Builder, GithubError> {
    let base = Octocrab::builder()
        .add_retry_config(RetryConfig::None)
        .set_connect_timeout(Some(config.connect_timeout))
        .set_read_timeout(Some(config.read_timeout));
    base.base_uri(config.api_url.as_str())
        .map_err(|e| GithubError::Config {
            reason: format!("invalid api url `{}` ({e})", config.api_url),
        })
}

async fn pick_installation(
    app: &Transport,
    app_id: u64,
    wanted: Option<u64>,
) -> Result<Installation, GithubError> {
    if let Some(id) = wanted {
        return app
            .json(Call::get(format!("/app/installations/{id}")))
            .await;
    }
    let all: Vec<Installation> = app
        .json(Call::get("/app/installations?per_page=100".into()))
        .await?;
    match <[Installation; 1]>::try_from(all) {
        Ok([only]) => Ok(only),
        Err(all) => Err(GithubError::Config {
            reason: format!(
                "github app {app_id} has {} installations; set the installation id to choose one",
                all.len()
            ),
        }),
    }
}

fn config_error(e: octocrab::Error) -> GithubError {
    GithubError::Config {
        reason: e.to_string(),
    }
}
