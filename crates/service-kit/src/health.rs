//! `/health` (liveness), `/ready` (every dependency answers; 503 names the failing ones) and `/metrics`
//! (Prometheus text format), served by every service.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::future::{BoxFuture, join_all};
use orch_bus::Bus;
use orch_contracts::StreamKey;
use orch_store::Store;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::{Map, Value, json};

/// How long one readiness check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

type Probe = Box<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// One named dependency check for `/ready`.
pub struct Check {
    name: &'static str,
    probe: Probe,
}

impl Check {
    /// Checks PostgreSQL with a `SELECT 1`.
    pub fn postgres(store: &Store) -> Self {
        let store = store.clone();
        Self::new("postgres", move || {
            let store = store.clone();
            Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
        })
    }

    /// Checks Redis with a `PING`.
    pub fn redis(bus: &Bus) -> Self {
        let bus = bus.clone();
        Self::new("redis", move || {
            let bus = bus.clone();
            Box::pin(async move { bus.ping().await.map_err(|e| e.to_string()) })
        })
    }

    /// A custom check.
    pub fn new(
        name: &'static str,
        probe: impl Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name,
            probe: Box::new(probe),
        }
    }

    async fn run(&self) -> (&'static str, Result<(), String>) {
        let outcome = match tokio::time::timeout(CHECK_TIMEOUT, (self.probe)()).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
        };
        (self.name, outcome)
    }
}

/// What the health router serves.
pub struct HealthState {
    service: &'static str,
    checks: Vec<Check>,
    registry: Registry,
    dlq: Option<DlqGauge>,
}

/// Reads dead-letter stream sizes into a gauge at scrape time.
struct DlqGauge {
    bus: Bus,
    streams: Vec<StreamKey>,
    gauge: Family<Vec<(String, String)>, Gauge>,
}

impl HealthState {
    /// Starts a health state for `service` with its metrics registry.
    pub fn new(service: &'static str, registry: Registry) -> Self {
        Self {
            service,
            checks: Vec::new(),
            registry,
            dlq: None,
        }
    }

    /// Adds a readiness check.
    pub fn check(mut self, check: Check) -> Self {
        self.checks.push(check);
        self
    }

    /// Reports the dead-letter stream sizes of `streams` as `bus_dlq_size{stream}` at every scrape.
    pub fn dlq_sizes(mut self, bus: &Bus, streams: Vec<StreamKey>) -> Self {
        let gauge = Family::<Vec<(String, String)>, Gauge>::default();
        self.registry.register(
            "bus_dlq_size",
            "Entries waiting in a dead-letter stream",
            gauge.clone(),
        );
        self.dlq = Some(DlqGauge {
            bus: bus.clone(),
            streams,
            gauge,
        });
        self
    }

    /// Builds the router.
    pub fn router(self) -> Router {
        Router::new()
            .route("/health", get(health))
            .route("/ready", get(ready))
            .route("/metrics", get(metrics))
            .with_state(Arc::new(self))
    }
}

async fn health(State(state): State<Arc<HealthState>>) -> Response {
    axum::Json(json!({ "status": "ok", "service": state.service })).into_response()
}

async fn ready(State(state): State<Arc<HealthState>>) -> Response {
    let results = join_all(state.checks.iter().map(Check::run)).await;
    let failing: Vec<&str> = results
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(n, _)| *n)
        .collect();
    let checks: Map<String, Value> = results
        .iter()
        .map(|(name, r)| {
            (
                (*name).to_owned(),
                r.as_ref().err().map_or(json!("ok"), |e| json!(e)),
            )
        })
        .collect();
    if failing.is_empty() {
        axum::Json(json!({ "status": "ready", "service": state.service, "checks": checks }))
            .into_response()
    } else {
        let body = json!({ "status": "unavailable", "service": state.service, "failing": failing, "checks": checks });
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}

async fn metrics(State(state): State<Arc<HealthState>>) -> Response {
    if let Some(DlqGauge {
        bus,
        streams,
        gauge,
    }) = &state.dlq
    {
        for stream in streams {
            if let Ok(len) = bus.len(&stream.dlq()).await {
                gauge
                    .get_or_create(&vec![("stream".to_owned(), stream.to_string())])
                    .set(len as i64);
            }
        }
    }
    let mut body = String::new();
    if encode(&mut body, &state.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// An HTTP listener bound at build time (so a taken port fails fast) and served until shutdown.
pub struct HttpServer {
    listener: tokio::net::TcpListener,
    router: Router,
}

impl HttpServer {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(addr: std::net::SocketAddr, router: Router) -> anyhow::Result<Self> {
        use anyhow::Context;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("failed to bind {addr}"))?;
        Ok(Self { listener, router })
    }

    /// Returns the bound address.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` is cancelled, then finishes open requests.
    pub async fn serve(self, shutdown: tokio_util::sync::CancellationToken) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    }
}
