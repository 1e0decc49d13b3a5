//! What every service binary shares: typed settings from the environment, the `main` sequence (config →
//! telemetry → build → run → drain), signal handling, and the `/health`, `/ready` and `/metrics` endpoints.
//!
//! # Overview
//! A service crate implements [`Service`] on its `Application` and its `main.rs` is one line:
//! `fn main() -> ExitCode { orch_service_kit::run::<my_service::Application>() }`.
//!
//! # Layout
//! - [`config`]: [`Settings`] = shared [`CommonSettings`] + the service's own section (`<SERVICE>__KEY`).
//! - [`shutdown`]: SIGINT/SIGTERM → a cancellation token; a second signal exits at once.
//! - [`health`]: the HTTP health/readiness/metrics router and its checks.
//! - [`infra`]: connecting to Postgres and Redis from the common settings.
//! - [`base`]: a service's connections plus its bound health server.
//! - [`outbox_relay`]: publishes the transactional outbox.

pub mod base;
pub mod config;
pub mod health;
pub mod infra;
mod main_sequence;
pub mod outbox_relay;
pub mod shutdown;

pub use config::{CommonSettings, ConfigError, Settings};
pub use main_sequence::{Service, run};
