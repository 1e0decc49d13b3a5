//! The zavhoz client: the code generated from `proto/zavhoz.proto` and a small typed wrapper that attaches
//! the calling service's credentials to every request, used by worker-spawner and devops-runner (resolve
//! handles) and graph-runner (allocate); plus the `request_resource` LLM tool.
//!
//! # Overview
//! - [`ZavhozClient`]: `connect`/`connect_lazy` from a [`ZavhozClientConfig`] (URL + this service's token),
//!   then `allocate`, `get`, `list`, `release`, `renew`, `resolve`, `store_user_secret`, `reload_secrets`.
//! - [`ClientError`]: a typed [`Refusal`] (platform state: tell the person and wait) is kept apart from a
//!   rejected call and from zavhoz being down.
//! - [`tool`]: the `request_resource` tool definition and executor for LLM nodes.
//! - [`proto`]: the generated messages and clients (and server traits with the `server` feature);
//!   [`FILE_DESCRIPTOR_SET`] for gRPC reflection.
//!
//! # Secrets
//! [`ResolvedSecret`] holds the value as a `SecretString` (redacted in `Debug`); the generated
//! `ResolveResponse` and `StoreUserSecretRequest` have redacted `Debug` too.

mod auth;
mod client;
mod config;
mod error;
pub mod proto;
mod refusal;
pub mod tool;

pub use auth::BearerAuth;
pub use client::{Allocation, AuthedChannel, ResolvedSecret, ZavhozClient};
pub use config::ZavhozClientConfig;
pub use error::ClientError;
pub use proto::allocate_request::Spec;
pub use refusal::{ERROR_DOMAIN, Refusal};

/// The encoded `FileDescriptorSet` of `zavhoz.proto` and its imports, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/zavhoz_descriptor.bin"));
