//! The production secret backend: zavhoz's SecretService, called with worker-spawner's own credentials
//! (`WORKER_SPAWNER__ZAVHOZ__URL` / `__TOKEN`; zavhoz holds the token's digest in
//! `ZAVHOZ__CALLERS__WORKER_SPAWNER`).
//!
//! Every resolution is audited by zavhoz (`secret.resolve`, with the purpose `worker <id> env <NAME>` and the
//! run id) in the transaction that redeems the handle. How zavhoz's answers become [`SecretError`]s:
//! - NOT_FOUND (no such handle) → [`SecretError::Unknown`];
//! - a refusal (HANDLE_EXPIRED, HANDLE_REVOKED, HANDLE_REDEEMED, SECRET_MISSING), PERMISSION_DENIED,
//!   UNAUTHENTICATED and other rejected calls → [`SecretError::Refused`] with zavhoz's reason: the spawn cannot
//!   run, retrying the same handle would not help;
//! - UNAVAILABLE, a deadline ([`RESOLVE_TIMEOUT`]) or an internal failure → [`SecretError::Backend`]
//!   (retryable: zavhoz fails closed, so the handle was not redeemed).

use std::time::Duration;

use futures::future::BoxFuture;
use orch_contracts::messages::worker::SecretHandle;
use orch_zavhoz_client::{ClientError, ZavhozClient, ZavhozClientConfig};
use secrecy::SecretString;
use tonic::Code;
use tracing::{info, instrument};

use super::{ResolveContext, SecretError, SecretResolver};

/// How long one Resolve may take before it counts as zavhoz being unavailable.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the spawner's zavhoz credentials are configured (named in errors about them).
const TOKEN_SETTING: &str = "WORKER_SPAWNER__ZAVHOZ__TOKEN";

/// Why the spawner cannot use zavhoz at all.
#[derive(Debug, thiserror::Error)]
pub enum ZavhozSetupError {
    /// The URL or token is unusable (empty token, bad URL).
    #[error("invalid zavhoz settings (WORKER_SPAWNER__ZAVHOZ__URL, {TOKEN_SETTING}): {0}")]
    Config(ClientError),
    /// Zavhoz answered, but does not accept this spawner's credentials.
    #[error(
        "zavhoz does not accept worker-spawner's credentials ({code:?}: {message}); check {TOKEN_SETTING} \
         and zavhoz's ZAVHOZ__CALLERS__WORKER_SPAWNER"
    )]
    Credentials {
        /// UNAUTHENTICATED or PERMISSION_DENIED.
        code: Code,
        /// Zavhoz's message.
        message: String,
    },
}

/// Resolves handles through zavhoz (the production backend).
#[derive(Debug, Clone)]
pub struct ZavhozSecrets {
    client: ZavhozClient,
}

impl ZavhozSecrets {
    /// Builds the client; it connects on first use and reconnects after zavhoz restarts.
    pub fn new(config: &ZavhozClientConfig) -> Result<Self, ZavhozSetupError> {
        let client = ZavhozClient::connect_lazy(config).map_err(ZavhozSetupError::Config)?;
        Ok(Self { client })
    }

    /// Checks that zavhoz accepts the spawner's credentials, with a Resolve of a malformed handle: zavhoz checks
    /// the caller before the request, so an accepted caller gets INVALID_ARGUMENT and nothing is resolved.
    /// Returns `Ok(false)` when zavhoz cannot be reached (the spawner starts anyway and retries per spawn).
    #[instrument(skip_all)]
    pub async fn check_credentials(&self) -> Result<bool, ZavhozSetupError> {
        let probe = SecretHandle("credential-check".into());
        let call = self
            .client
            .resolve(&probe, "worker-spawner credential check", None);
        match tokio::time::timeout(RESOLVE_TIMEOUT, call).await {
            Err(_) => Ok(false),
            Ok(Ok(_)) => Ok(true),
            Ok(Err(e)) => match e.code() {
                Some(code @ (Code::Unauthenticated | Code::PermissionDenied)) => {
                    Err(ZavhozSetupError::Credentials {
                        code,
                        message: client_message(&e),
                    })
                }
                Some(Code::InvalidArgument) => {
                    info!("zavhoz accepts worker-spawner's credentials");
                    Ok(true)
                }
                _ => Ok(false),
            },
        }
    }
}

impl SecretResolver for ZavhozSecrets {
    fn resolve<'a>(
        &'a self,
        handle: &'a SecretHandle,
        context: &'a ResolveContext,
    ) -> BoxFuture<'a, Result<SecretString, SecretError>> {
        Box::pin(async move {
            if !handle.is_well_formed() {
                return Err(SecretError::Unknown {
                    handle: handle.0.clone(),
                });
            }
            let purpose = format!("worker {} env {}", context.worker_id, context.env);
            let run_id = context.run_id.map(|r| r.0);
            let call = self.client.resolve(handle, &purpose, run_id);
            match tokio::time::timeout(RESOLVE_TIMEOUT, call).await {
                Ok(Ok(resolved)) => Ok(resolved.value),
                Ok(Err(e)) => Err(classify(handle, &e)),
                Err(_) => Err(SecretError::Backend {
                    handle: handle.0.clone(),
                    reason: format!("zavhoz did not answer within {RESOLVE_TIMEOUT:?}"),
                }),
            }
        })
    }
}

/// Maps a failed Resolve to the spawner's view of it (see the module doc).
pub fn classify(handle: &SecretHandle, error: &ClientError) -> SecretError {
    let handle = handle.0.clone();
    match error {
        ClientError::Refused {
            refusal, message, ..
        } => SecretError::Refused {
            handle,
            reason: format!("zavhoz refused it ({refusal}): {message}"),
        },
        ClientError::Rejected {
            code: Code::NotFound,
            ..
        } => SecretError::Unknown { handle },
        ClientError::Rejected {
            code: code @ (Code::PermissionDenied | Code::Unauthenticated),
            message,
        } => SecretError::Refused {
            handle,
            reason: format!(
                "zavhoz does not accept worker-spawner's credentials ({code:?}: {message}); check \
                 {TOKEN_SETTING}"
            ),
        },
        ClientError::Rejected { code, message } => SecretError::Refused {
            handle,
            reason: format!("zavhoz rejected the request ({code:?}): {message}"),
        },
        ClientError::Unavailable { .. } | ClientError::Server { .. } | ClientError::Config(_) => {
            SecretError::Backend {
                handle,
                reason: error.to_string(),
            }
        }
    }
}

/// Zavhoz's own message of a failed call.
fn client_message(error: &ClientError) -> String {
    match error {
        ClientError::Refused { message, .. }
        | ClientError::Rejected { message, .. }
        | ClientError::Server { message, .. }
        | ClientError::Unavailable { message } => message.clone(),
        ClientError::Config(message) => message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use orch_zavhoz_client::ERROR_DOMAIN;
    use tonic_types::{ErrorDetails, StatusExt};

    use super::*;

    fn handle() -> SecretHandle {
        SecretHandle("hdl_aaaaaaaaaaaaaaaaaaaaaaaa".into())
    }

    fn refused(reason: &str) -> ClientError {
        let details = ErrorDetails::with_error_info(reason, ERROR_DOMAIN, HashMap::new());
        ClientError::from(tonic::Status::with_error_details(
            Code::FailedPrecondition,
            "the handle expired",
            details,
        ))
    }

    #[test]
    fn statuses_map_to_refusals_or_retryable_failures() {
        for reason in ["HANDLE_EXPIRED", "HANDLE_REDEEMED", "HANDLE_REVOKED"] {
            let error = classify(&handle(), &refused(reason));
            assert!(
                matches!(&error, SecretError::Refused { reason: r, .. } if r.contains(reason)),
                "{error}"
            );
        }
        let unknown = ClientError::from(tonic::Status::not_found("handle not found"));
        assert!(matches!(
            classify(&handle(), &unknown),
            SecretError::Unknown { .. }
        ));
        let denied = ClientError::from(tonic::Status::permission_denied("not allowed"));
        let denied = classify(&handle(), &denied).to_string();
        assert!(
            denied.contains("PermissionDenied") && denied.contains(TOKEN_SETTING),
            "{denied}"
        );
        for status in [
            tonic::Status::unavailable("down"),
            tonic::Status::deadline_exceeded("slow"),
            tonic::Status::internal("audit failed"),
        ] {
            let error = classify(&handle(), &ClientError::from(status));
            assert!(matches!(error, SecretError::Backend { .. }), "{error}");
        }
    }

    #[test]
    fn an_empty_token_is_a_setup_error() {
        let config = ZavhozClientConfig::new("http://127.0.0.1:1", "");
        assert!(matches!(
            ZavhozSecrets::new(&config),
            Err(ZavhozSetupError::Config(_))
        ));
    }
}
