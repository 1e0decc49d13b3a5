//! The tonic implementations of ResourceService and SecretService: authenticate (the interceptor put the
//! [`crate::auth::Caller`] in the extensions), convert, call [`Zavhoz`], convert back. Errors become statuses
//! in one place ([`ZavhozError`]'s `From` impl).

use std::sync::Arc;

use orch_zavhoz_client::proto::resource_service_server::ResourceService;
use orch_zavhoz_client::proto::secret_service_server::SecretService;
use orch_zavhoz_client::proto::{
    AllocateRequest, GetRequest, ListRequest, ListResponse, ReleaseRequest, ReloadSecretsRequest,
    ReloadSecretsResponse, RenewRequest, ResolveRequest, ResolveResponse, Resource,
    StoreUserSecretRequest, StoreUserSecretResponse,
};
use secrecy::{ExposeSecret, SecretString};
use tonic::{Request, Response, Status};

use super::convert;
use crate::auth::caller_of;
use crate::core::Zavhoz;
use crate::resolve::{ResolveParams, StoreParams};

/// ResourceService over [`Zavhoz`].
#[derive(Debug, Clone)]
pub struct Resources {
    zavhoz: Arc<Zavhoz>,
}

impl Resources {
    /// Wraps the operations.
    pub fn new(zavhoz: Arc<Zavhoz>) -> Self {
        Self { zavhoz }
    }

    fn view(&self, row: &crate::db::resources::ResourceRow) -> Resource {
        convert::resource(row, self.zavhoz.now())
    }
}

#[tonic::async_trait]
impl ResourceService for Resources {
    async fn allocate(
        &self,
        request: Request<AllocateRequest>,
    ) -> Result<Response<Resource>, Status> {
        let caller = caller_of(&request)?;
        let params = convert::allocate_params(request.into_inner())?;
        let row = self.zavhoz.allocate(caller, params).await?;
        Ok(Response::new(self.view(&row)))
    }

    async fn get(&self, request: Request<GetRequest>) -> Result<Response<Resource>, Status> {
        let caller = caller_of(&request)?;
        let request = request.into_inner();
        let user = convert::acting_user(request.acting_user_id)?;
        let id = convert::uuid("id", &request.id)?;
        let row = self.zavhoz.get(caller, user, id).await?;
        Ok(Response::new(self.view(&row)))
    }

    async fn list(&self, request: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        let caller = caller_of(&request)?;
        let request = request.into_inner();
        let user = convert::acting_user(request.acting_user_id)?;
        let project = convert::optional_uuid("project_id", &request.project_id)?;
        let rows = self
            .zavhoz
            .list(caller, user, project, request.include_released)
            .await?;
        let resources = rows.iter().map(|row| self.view(row)).collect();
        Ok(Response::new(ListResponse { resources }))
    }

    async fn release(
        &self,
        request: Request<ReleaseRequest>,
    ) -> Result<Response<Resource>, Status> {
        let caller = caller_of(&request)?;
        let request = request.into_inner();
        let user = convert::acting_user(request.acting_user_id)?;
        let id = convert::uuid("id", &request.id)?;
        let row = self.zavhoz.release(caller, user, id).await?;
        Ok(Response::new(self.view(&row)))
    }

    async fn renew(&self, request: Request<RenewRequest>) -> Result<Response<Resource>, Status> {
        let caller = caller_of(&request)?;
        let request = request.into_inner();
        let user = convert::acting_user(request.acting_user_id)?;
        let id = convert::uuid("id", &request.id)?;
        let row = self
            .zavhoz
            .renew(caller, user, id, request.lease_ttl_seconds)
            .await?;
        Ok(Response::new(self.view(&row)))
    }
}

/// SecretService over [`Zavhoz`].
#[derive(Debug, Clone)]
pub struct Secrets {
    zavhoz: Arc<Zavhoz>,
}

impl Secrets {
    /// Wraps the operations.
    pub fn new(zavhoz: Arc<Zavhoz>) -> Self {
        Self { zavhoz }
    }
}

#[tonic::async_trait]
impl SecretService for Secrets {
    async fn resolve(
        &self,
        request: Request<ResolveRequest>,
    ) -> Result<Response<ResolveResponse>, Status> {
        let caller = caller_of(&request)?;
        let request = request.into_inner();
        let params = ResolveParams {
            run_id: convert::optional_uuid("run_id", &request.run_id)?,
            handle: request.handle,
            purpose: request.purpose,
        };
        let resolved = self.zavhoz.resolve(caller, params).await?;
        Ok(Response::new(ResolveResponse {
            value: resolved.value.expose_secret().to_owned(),
            resource_id: resolved.resource_id.to_string(),
        }))
    }

    async fn store_user_secret(
        &self,
        request: Request<StoreUserSecretRequest>,
    ) -> Result<Response<StoreUserSecretResponse>, Status> {
        let caller = caller_of(&request)?;
        let request = request.into_inner();
        let params = StoreParams {
            acting_user_id: convert::acting_user(request.acting_user_id)?,
            project_id: convert::optional_uuid("project_id", &request.project_id)?,
            name: request.name,
            value: SecretString::from(request.value),
        };
        let name = params.name.clone();
        let stored_at = self.zavhoz.store_user_secret(caller, params).await?;
        Ok(Response::new(StoreUserSecretResponse {
            name,
            stored_at: Some(convert::timestamp(stored_at)),
        }))
    }

    async fn reload_secrets(
        &self,
        request: Request<ReloadSecretsRequest>,
    ) -> Result<Response<ReloadSecretsResponse>, Status> {
        let caller = caller_of(&request)?;
        let summary = self.zavhoz.reload_secrets(caller).await?;
        Ok(Response::new(ReloadSecretsResponse {
            values: summary.values,
            loaded_at: Some(convert::timestamp(summary.loaded_at)),
        }))
    }
}
