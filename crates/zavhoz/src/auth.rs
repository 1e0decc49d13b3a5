//! Authentication (per-service bearer tokens) and authorization (a fixed permission table).
//!
//! A caller sends `authorization: Bearer <token>`. Zavhoz keeps only SHA-256 digests of tokens
//! (`ZAVHOZ__CALLERS__<IDENTITY>=sha256:<hex>`); the presented token is digested and compared with every
//! configured digest in constant time (`subtle`), so neither timing nor the configuration reveals a token.
//! No or a wrong token is UNAUTHENTICATED; an identity without the permission is PERMISSION_DENIED.

use std::collections::BTreeMap;
use std::sync::Arc;

use subtle::ConstantTimeEq;
use tonic::metadata::MetadataMap;
use tracing::warn;

use crate::config::{CallerIdentity, TokenDigest};
use crate::error::ZavhozError;

/// What an RPC needs its caller to be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Allocate, get, list, release and renew resources for a person.
    Resources,
    /// Exchange a handle for its secret value.
    Resolve,
    /// Store a secret a person gave in chat.
    StoreUserSecret,
    /// Reload secrets.yaml.
    Reload,
}

impl Permission {
    fn action(self) -> &'static str {
        match self {
            Self::Resources => "manage resources",
            Self::Resolve => "resolve secret handles",
            Self::StoreUserSecret => "store user secrets",
            Self::Reload => "reload secrets",
        }
    }
}

/// Tells whether `identity` has `permission`. Only worker-spawner and devops-runner may resolve.
pub fn allows(identity: CallerIdentity, permission: Permission) -> bool {
    use CallerIdentity::*;
    match permission {
        Permission::Resources => matches!(
            identity,
            GraphRunner | WorkerSpawner | DevopsRunner | Api | Operator
        ),
        Permission::Resolve => matches!(identity, WorkerSpawner | DevopsRunner),
        Permission::StoreUserSecret => matches!(identity, GraphRunner | TelegramGateway),
        Permission::Reload => matches!(identity, Operator),
    }
}

/// An authenticated caller, put into each request's extensions by the interceptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// Who it is.
    pub identity: CallerIdentity,
}

impl Caller {
    /// Fails with PERMISSION_DENIED unless the caller has `permission`.
    pub fn require(self, permission: Permission) -> Result<(), ZavhozError> {
        if allows(self.identity, permission) {
            return Ok(());
        }
        warn!(caller = %self.identity, action = permission.action(), "permission denied");
        Err(ZavhozError::Forbidden {
            caller: self.identity,
            action: permission.action(),
        })
    }
}

/// Checks bearer tokens against the configured digests.
#[derive(Debug, Clone)]
pub struct Authenticator {
    callers: Arc<Vec<(CallerIdentity, TokenDigest)>>,
}

impl Authenticator {
    /// Builds it from the configured callers.
    pub fn new(callers: &BTreeMap<CallerIdentity, TokenDigest>) -> Self {
        Self {
            callers: Arc::new(callers.iter().map(|(i, d)| (*i, *d)).collect()),
        }
    }

    /// Authenticates the request metadata.
    pub fn authenticate(&self, metadata: &MetadataMap) -> Result<Caller, ZavhozError> {
        let header = metadata
            .get("authorization")
            .ok_or(ZavhozError::Unauthenticated("missing bearer token"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .filter(|t| !t.is_empty())
            .ok_or(ZavhozError::Unauthenticated(
                "malformed authorization header",
            ))?;
        self.identify(token)
            .map(|identity| Caller { identity })
            .ok_or(ZavhozError::Unauthenticated("invalid credentials"))
    }

    /// Returns the identity whose digest matches; every digest is compared, in constant time.
    fn identify(&self, token: &str) -> Option<CallerIdentity> {
        let presented = TokenDigest::of_token(token);
        let mut found = None;
        for (identity, digest) in self.callers.iter() {
            if bool::from(digest.0.ct_eq(&presented.0)) {
                found = Some(*identity);
            }
        }
        found
    }
}

/// The tonic interceptor: authenticates and stores the [`Caller`] in the request extensions.
#[derive(Debug, Clone)]
pub struct AuthInterceptor {
    authenticator: Authenticator,
}

impl AuthInterceptor {
    /// Wraps an authenticator.
    pub fn new(authenticator: Authenticator) -> Self {
        Self { authenticator }
    }
}

impl tonic::service::Interceptor for AuthInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        match self.authenticator.authenticate(request.metadata()) {
            Ok(caller) => {
                request.extensions_mut().insert(caller);
                Ok(request)
            }
            Err(error) => {
                warn!(peer = ?request.remote_addr(), reason = %error, "unauthenticated call refused");
                Err(error.into())
            }
        }
    }
}

/// Returns the caller the interceptor stored; a request without one is refused.
pub fn caller_of<T>(request: &tonic::Request<T>) -> Result<Caller, tonic::Status> {
    request
        .extensions()
        .get::<Caller>()
        .copied()
        .ok_or_else(|| tonic::Status::unauthenticated("missing bearer token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticator() -> Authenticator {
        let mut callers = BTreeMap::new();
        callers.insert(
            CallerIdentity::WorkerSpawner,
            TokenDigest::of_token("spawner-token"),
        );
        callers.insert(
            CallerIdentity::GraphRunner,
            TokenDigest::of_token("graph-token"),
        );
        Authenticator::new(&callers)
    }

    fn metadata(value: Option<&str>) -> MetadataMap {
        let mut map = MetadataMap::new();
        if let Some(value) = value {
            map.insert("authorization", value.parse().expect("ascii"));
        }
        map
    }

    #[test]
    fn tokens_map_to_identities() {
        let auth = authenticator();
        let caller = auth
            .authenticate(&metadata(Some("Bearer spawner-token")))
            .expect("known");
        assert_eq!(caller.identity, CallerIdentity::WorkerSpawner);
        for bad in [
            None,
            Some("Bearer "),
            Some("Basic xyz"),
            Some("Bearer nope"),
        ] {
            let error = auth.authenticate(&metadata(bad)).expect_err("refused");
            assert_eq!(
                error.code(),
                crate::error::ErrorCode::Unauthenticated,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn only_spawner_and_devops_resolve() {
        use CallerIdentity::*;
        for identity in [
            GraphRunner,
            WorkerSpawner,
            DevopsRunner,
            TelegramGateway,
            Api,
            Operator,
        ] {
            let expected = matches!(identity, WorkerSpawner | DevopsRunner);
            assert_eq!(
                allows(identity, Permission::Resolve),
                expected,
                "{identity}"
            );
        }
        let denied = Caller {
            identity: GraphRunner,
        }
        .require(Permission::Resolve)
        .expect_err("denied");
        assert_eq!(denied.code(), crate::error::ErrorCode::PermissionDenied);
    }
}
