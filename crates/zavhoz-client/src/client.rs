//! [`ZavhozClient`]: both zavhoz services over one channel, with this service's credentials on every call.

use std::time::Duration;

use orch_contracts::messages::worker::SecretHandle;
use secrecy::SecretString;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use uuid::Uuid;

use crate::auth::BearerAuth;
use crate::config::ZavhozClientConfig;
use crate::error::ClientError;
use crate::proto::allocate_request::Spec;
use crate::proto::resource_service_client::ResourceServiceClient;
use crate::proto::secret_service_client::SecretServiceClient;
use crate::proto::{
    AllocateRequest, GetRequest, ListRequest, ReleaseRequest, RenewRequest, ResolveRequest,
    Resource, StoreUserSecretRequest,
};

/// A channel that adds the caller's bearer token.
pub type AuthedChannel = InterceptedService<Channel, BearerAuth>;

/// A zavhoz client authenticated as one service. Cloning is cheap (one shared HTTP/2 connection).
#[derive(Clone, Debug)]
pub struct ZavhozClient {
    resources: ResourceServiceClient<AuthedChannel>,
    secrets: SecretServiceClient<AuthedChannel>,
}

/// What to allocate, for whom, under which idempotency key.
#[derive(Clone, Debug)]
pub struct Allocation {
    /// The person the resource is for (users.id).
    pub acting_user_id: i64,
    /// The project, owned by that person.
    pub project_id: Option<Uuid>,
    /// A retry with the same key returns the same resource.
    pub idempotency_key: String,
    /// The lease; `None` takes zavhoz's default.
    pub lease_ttl: Option<Duration>,
    /// The kind and its parameters.
    pub spec: Spec,
}

/// A resolved secret value: redacted in `Debug`, wiped on drop.
#[derive(Debug)]
pub struct ResolvedSecret {
    /// The value.
    pub value: SecretString,
    /// The resource the handle belongs to.
    pub resource_id: String,
}

impl ZavhozClient {
    /// Connects now, so a wrong URL or a zavhoz that is down fails here.
    pub async fn connect(config: &ZavhozClientConfig) -> Result<Self, ClientError> {
        let auth = BearerAuth::new(&config.token)?;
        let channel = endpoint(&config.url)?.connect().await?;
        Ok(Self::from_parts(channel, auth))
    }

    /// Builds a client that connects on first use (and reconnects after zavhoz restarts).
    pub fn connect_lazy(config: &ZavhozClientConfig) -> Result<Self, ClientError> {
        let auth = BearerAuth::new(&config.token)?;
        Ok(Self::from_parts(
            endpoint(&config.url)?.connect_lazy(),
            auth,
        ))
    }

    /// Wraps an existing channel with credentials.
    pub fn with_channel(channel: Channel, token: &SecretString) -> Result<Self, ClientError> {
        Ok(Self::from_parts(channel, BearerAuth::new(token)?))
    }

    fn from_parts(channel: Channel, auth: BearerAuth) -> Self {
        let authed = InterceptedService::new(channel, auth);
        Self {
            resources: ResourceServiceClient::new(authed.clone()),
            secrets: SecretServiceClient::new(authed),
        }
    }

    /// Returns the generated ResourceService client (credentials attached), for raw calls.
    pub fn resources(&self) -> ResourceServiceClient<AuthedChannel> {
        self.resources.clone()
    }

    /// Returns the generated SecretService client (credentials attached), for raw calls.
    pub fn secrets(&self) -> SecretServiceClient<AuthedChannel> {
        self.secrets.clone()
    }

    /// Allocates a resource (or returns the one an earlier call with the same key allocated).
    pub async fn allocate(&self, allocation: Allocation) -> Result<Resource, ClientError> {
        let request = AllocateRequest {
            acting_user_id: allocation.acting_user_id,
            project_id: uuid_text(allocation.project_id),
            idempotency_key: allocation.idempotency_key,
            lease_ttl_seconds: ttl_seconds(allocation.lease_ttl),
            spec: Some(allocation.spec),
        };
        Ok(self.resources().allocate(request).await?.into_inner())
    }

    /// Returns one of the acting person's resources.
    pub async fn get(&self, acting_user_id: i64, id: Uuid) -> Result<Resource, ClientError> {
        let request = GetRequest {
            acting_user_id,
            id: id.to_string(),
        };
        Ok(self.resources().get(request).await?.into_inner())
    }

    /// Lists the acting person's resources (of one project, if given).
    pub async fn list(
        &self,
        acting_user_id: i64,
        project_id: Option<Uuid>,
        include_released: bool,
    ) -> Result<Vec<Resource>, ClientError> {
        let request = ListRequest {
            acting_user_id,
            project_id: uuid_text(project_id),
            include_released,
        };
        Ok(self.resources().list(request).await?.into_inner().resources)
    }

    /// Releases a resource and revokes its handles (idempotent).
    pub async fn release(&self, acting_user_id: i64, id: Uuid) -> Result<Resource, ClientError> {
        let request = ReleaseRequest {
            acting_user_id,
            id: id.to_string(),
        };
        Ok(self.resources().release(request).await?.into_inner())
    }

    /// Extends a live resource's lease to `ttl` from now (`None`: zavhoz's default).
    pub async fn renew(
        &self,
        acting_user_id: i64,
        id: Uuid,
        ttl: Option<Duration>,
    ) -> Result<Resource, ClientError> {
        let request = RenewRequest {
            acting_user_id,
            id: id.to_string(),
            lease_ttl_seconds: ttl_seconds(ttl),
        };
        Ok(self.resources().renew(request).await?.into_inner())
    }

    /// Exchanges a handle for its value (worker-spawner and devops-runner only); `purpose` is audited.
    pub async fn resolve(
        &self,
        handle: &SecretHandle,
        purpose: &str,
        run_id: Option<Uuid>,
    ) -> Result<ResolvedSecret, ClientError> {
        let request = ResolveRequest {
            handle: handle.0.clone(),
            purpose: purpose.to_owned(),
            run_id: uuid_text(run_id),
        };
        let response = self.secrets().resolve(request).await?.into_inner();
        Ok(ResolvedSecret {
            value: SecretString::from(response.value),
            resource_id: response.resource_id,
        })
    }

    /// Stores a secret a person gave (age-encrypted by zavhoz); allocate a handle to it by name.
    pub async fn store_user_secret(
        &self,
        acting_user_id: i64,
        project_id: Option<Uuid>,
        name: &str,
        value: &SecretString,
    ) -> Result<(), ClientError> {
        let request = StoreUserSecretRequest {
            acting_user_id,
            project_id: uuid_text(project_id),
            name: name.to_owned(),
            value: secrecy::ExposeSecret::expose_secret(value).to_owned(),
        };
        self.secrets().store_user_secret(request).await?;
        Ok(())
    }

    /// Makes zavhoz re-read secrets.yaml; returns how many values it holds now.
    pub async fn reload_secrets(&self) -> Result<u32, ClientError> {
        let response = self
            .secrets()
            .reload_secrets(crate::proto::ReloadSecretsRequest {})
            .await?;
        Ok(response.into_inner().values)
    }
}

fn endpoint(url: &str) -> Result<Endpoint, ClientError> {
    Endpoint::from_shared(url.to_owned())
        .map(|e| e.connect_timeout(Duration::from_secs(5)))
        .map_err(|e| ClientError::Config(format!("bad zavhoz url `{url}`: {e}")))
}

fn uuid_text(id: Option<Uuid>) -> String {
    id.map(|id| id.to_string()).unwrap_or_default()
}

fn ttl_seconds(ttl: Option<Duration>) -> u32 {
    ttl.map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}
