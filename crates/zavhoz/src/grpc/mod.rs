//! The gRPC face: ResourceService and SecretService behind the bearer-token interceptor, plus the standard
//! `grpc.health.v1.Health` and `grpc.reflection.v1`/`v1alpha` services (unauthenticated, so generic
//! clients can discover and probe zavhoz; they expose the schema, not data).

mod convert;
mod services;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use orch_zavhoz_client::proto::resource_service_server::ResourceServiceServer;
use orch_zavhoz_client::proto::secret_service_server::SecretServiceServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic_health::server::HealthReporter;

use crate::auth::{AuthInterceptor, Authenticator};
use crate::core::Zavhoz;
pub use services::{Resources, Secrets};

/// The gRPC listener, bound at build time so a taken port fails fast.
pub struct GrpcServer {
    listener: TcpListener,
    zavhoz: Arc<Zavhoz>,
    authenticator: Authenticator,
}

impl GrpcServer {
    /// Binds `addr` (port 0 picks a free one).
    pub async fn bind(
        addr: SocketAddr,
        zavhoz: Arc<Zavhoz>,
        authenticator: Authenticator,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("failed to bind the gRPC port {addr}"))?;
        Ok(Self {
            listener,
            zavhoz,
            authenticator,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown`, then reports NOT_SERVING and finishes in-flight calls.
    pub async fn serve(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let (reporter, health) = tonic_health::server::health_reporter();
        set_serving(&reporter, true).await;
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(orch_zavhoz_client::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .context("building the reflection service")?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(orch_zavhoz_client::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .context("building the reflection service")?;
        let auth = AuthInterceptor::new(self.authenticator);
        let resources = ResourceServiceServer::with_interceptor(
            Resources::new(self.zavhoz.clone()),
            auth.clone(),
        );
        let secrets = SecretServiceServer::with_interceptor(Secrets::new(self.zavhoz), auth);
        let stop = {
            let reporter = reporter.clone();
            async move {
                shutdown.cancelled().await;
                set_serving(&reporter, false).await;
            }
        };
        Server::builder()
            .add_service(health)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(resources)
            .add_service(secrets)
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.listener), stop)
            .await
            .context("the gRPC server failed")
    }
}

async fn set_serving(reporter: &HealthReporter, serving: bool) {
    let names = ["", "zavhoz.v1.ResourceService", "zavhoz.v1.SecretService"];
    for name in names {
        let status = if serving {
            tonic_health::ServingStatus::Serving
        } else {
            tonic_health::ServingStatus::NotServing
        };
        reporter.set_service_status(name, status).await;
    }
}
