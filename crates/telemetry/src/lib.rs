//! Tracing for every service: JSON or pretty logs, a run id on spans, and OpenTelemetry (OTLP/gRPC) export when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is configured.
//!
//! # Overview
//! Call [`init`] once at startup and keep the returned [`TelemetryGuard`] alive until exit: dropping it flushes
//! buffered spans. Spans that concern a run carry a `run_id` field (the bus puts it on every handled message),
//! which is the correlation id across services.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::Deserialize;
use tracing::Subscriber;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, for log collectors (the default).
    #[default]
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

/// What [`init`] sets up.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// The service name (`graph-runner`), attached to every span and log line.
    pub service: &'static str,
    /// Log line format.
    pub format: LogFormat,
    /// A `RUST_LOG`-style filter, e.g. `info,orch_bus=debug`.
    pub filter: String,
    /// The OTLP/gRPC collector endpoint; `None` disables export.
    pub otlp_endpoint: Option<String>,
}

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter does not parse.
    #[error("invalid log filter `{filter}`: {source}")]
    Filter {
        /// The filter given.
        filter: String,
        /// The parse error.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// The OTLP exporter could not be built.
    #[error("cannot build the OTLP exporter for `{endpoint}`: {source}")]
    Exporter {
        /// The endpoint given.
        endpoint: String,
        /// The builder error.
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
    /// A global subscriber was already installed.
    #[error("tracing was already initialised: {0}")]
    AlreadyInitialised(#[from] tracing_subscriber::util::TryInitError),
}

/// Flushes and shuts down span export when dropped.
#[must_use = "dropping the guard stops span export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            // Bounded so that an unreachable collector cannot hold up shutdown.
            let _ = provider.shutdown_with_timeout(Duration::from_secs(5));
        }
    }
}

/// Log targets capped below `trace` whatever the filter says, because at `trace` they print raw provider
/// responses, which may echo credentials (genai logs HTTP error bodies there).
const SECRET_SAFE_CAPS: &str = "genai::webc=debug";

/// Installs the global subscriber: a filtered log layer plus, when configured, OTLP span export.
pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    let filter =
        EnvFilter::try_new(capped(&config.filter)).map_err(|source| TelemetryError::Filter {
            filter: config.filter.clone(),
            source,
        })?;
    let provider = config
        .otlp_endpoint
        .as_deref()
        .map(|e| otlp_provider(config.service, e))
        .transpose()?;
    let otel = provider.as_ref().map(|p| otel_layer(p, config.service));
    tracing_subscriber::registry()
        .with(filter)
        .with(log_layer(config.format))
        .with(otel)
        .try_init()?;
    Ok(TelemetryGuard { provider })
}

fn capped(filter: &str) -> String {
    if filter.trim().is_empty() {
        SECRET_SAFE_CAPS.to_owned()
    } else {
        format!("{filter},{SECRET_SAFE_CAPS}")
    }
}

fn log_layer<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let base = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Json => base
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        LogFormat::Pretty => base.compact().boxed(),
    }
}

fn otlp_provider(
    service: &'static str,
    endpoint: &str,
) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|source| TelemetryError::Exporter {
            endpoint: endpoint.to_owned(),
            source,
        })?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource(service))
        .build())
}

fn resource(service: &'static str) -> Resource {
    Resource::builder().with_service_name(service).build()
}

/// Builds the layer that turns `tracing` spans into OpenTelemetry spans of `provider`.
pub fn otel_layer<S>(provider: &SdkTracerProvider, service: &'static str) -> impl Layer<S> + use<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_opentelemetry::layer().with_tracer(provider.tracer(service))
}

#[cfg(test)]
mod tests {
    use opentelemetry::Value;
    use opentelemetry_sdk::trace::InMemorySpanExporter;

    use super::*;

    #[test]
    fn spans_are_exported_with_their_run_id() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry().with(otel_layer(&provider, "test-service"));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("handle", run_id = "run-123", event_id = "e-1");
            span.in_scope(|| tracing::info!("working"));
        });
        provider.force_flush().expect("flush");
        let spans = exporter.get_finished_spans().expect("spans");
        let span = spans
            .iter()
            .find(|s| s.name == "handle")
            .expect("the handle span was exported");
        let run_id = span
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == "run_id")
            .map(|kv| kv.value.clone());
        assert_eq!(run_id, Some(Value::from("run-123")));
    }

    #[test]
    fn raw_provider_bodies_never_log_even_at_trace() {
        let filter = EnvFilter::try_new(capped("trace")).expect("parses");
        assert!(filter.to_string().contains("genai::webc=debug"), "{filter}");
        assert!(capped("").contains("genai::webc=debug"));
    }

    #[test]
    fn a_bad_filter_is_a_clear_error() {
        let config = TelemetryConfig {
            service: "x",
            format: LogFormat::Json,
            filter: "info,=[".into(),
            otlp_endpoint: None,
        };
        let err = init(&config).err().expect("refused");
        assert!(err.to_string().contains("invalid log filter"), "{err}");
    }
}
