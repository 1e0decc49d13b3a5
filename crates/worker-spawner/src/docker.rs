//! The connection to the Docker engine and the startup checks that make misconfiguration fail fast.

use bollard::Docker;
use bollard::errors::Error as BollardError;

use crate::config::WorkerSpawnerConfig;

/// Why a Docker operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The engine could not be reached or its API version negotiated.
    #[error("cannot reach the Docker engine: {0}")]
    Connect(#[source] BollardError),
    /// The configured runtime is not installed on the engine.
    #[error(
        "unknown container runtime `{runtime}`: the engine offers {available:?} (set WORKER_SPAWNER__DOCKER__RUNTIME)"
    )]
    UnknownRuntime {
        /// The configured runtime.
        runtime: String,
        /// What `docker info` lists.
        available: Vec<String>,
    },
    /// A configured image is not present locally (nothing is ever pulled).
    #[error(
        "image `{image}` is not present on the Docker engine; build it first (scripts/build-worker-image.sh or scripts/build-test-image.sh)"
    )]
    MissingImage {
        /// The image reference.
        image: String,
    },
    /// An API call failed.
    #[error("docker {action} failed: {source}")]
    Api {
        /// What was being done.
        action: &'static str,
        /// The engine's answer.
        #[source]
        source: BollardError,
    },
    /// The result archive could not be read.
    #[error("cannot read {path} from the container: {reason}")]
    Archive {
        /// The path in the container.
        path: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// No subnet of the configured pool was free.
    #[error("no free /{prefix} subnet left in {pool} for a worker network")]
    PoolExhausted {
        /// The pool.
        pool: String,
        /// The subnet prefix.
        prefix: u8,
    },
}

impl DockerError {
    /// Wraps an API error with what was being done.
    pub fn api(action: &'static str) -> impl FnOnce(BollardError) -> DockerError {
        move |source| DockerError::Api { action, source }
    }
}

/// Returns the HTTP status of a Docker API error, if it is one.
pub fn status_code(error: &BollardError) -> Option<u16> {
    match error {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// True when the engine answered 404 (no such object).
pub fn is_not_found(error: &BollardError) -> bool {
    status_code(error) == Some(404)
}

/// True when the engine answered 409 (name taken, object in use).
pub fn is_conflict(error: &BollardError) -> bool {
    status_code(error) == Some(409)
}

/// Connects to the local engine (`DOCKER_HOST` or the default socket) and negotiates the API version: bollard
/// speaks 1.53 by default and older engines (20.10: 1.41) refuse it.
pub async fn connect() -> Result<Docker, DockerError> {
    Docker::connect_with_local_defaults()
        .map_err(DockerError::Connect)?
        .negotiate_version()
        .await
        .map_err(DockerError::Connect)
}

/// Checks that the configured runtime and images exist, so a typo stops the service at startup.
pub async fn check_engine(
    docker: &Docker,
    config: &WorkerSpawnerConfig,
) -> Result<(), DockerError> {
    let info = docker.info().await.map_err(DockerError::api("info"))?;
    let mut available: Vec<String> = info.runtimes.unwrap_or_default().into_keys().collect();
    available.sort();
    if !available.contains(&config.docker.runtime) {
        return Err(DockerError::UnknownRuntime {
            runtime: config.docker.runtime.clone(),
            available,
        });
    }
    for image in [config.docker.image.as_str(), config.proxy_image()] {
        ensure_image(docker, image).await?;
    }
    Ok(())
}

async fn ensure_image(docker: &Docker, image: &str) -> Result<(), DockerError> {
    match docker.inspect_image(image).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Err(DockerError::MissingImage {
            image: image.to_owned(),
        }),
        Err(e) => Err(DockerError::api("inspect image")(e)),
    }
}
