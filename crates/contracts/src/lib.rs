//! Typed contracts: every Redis stream name and every message that travels on one, in one place.
//!
//! # Overview
//! A message type implements [`Contract`]: it names its wire `type`, its schema version and the rules that make
//! a value valid. Messages travel inside an [`Envelope`] that adds an event id (the idempotency key of every
//! consumer), an optional run id (the correlation id on every span) and a creation time.
//!
//! Validation runs on write ([`Envelope::to_fields`]) **and** on read ([`Envelope::from_fields`]): a producer
//! cannot publish an invalid message, and a consumer never acts on one that slipped in some other way — it gets a
//! [`ContractError`] saying what is wrong, and the bus moves the entry to the dead-letter stream with that reason.
//!
//! # Layout
//! - [`streams`]: stream keys (`chat:in`, `worker:spawn`, `worker:result:<id>`, …) and their dead-letter keys.
//! - [`envelope`]: the envelope and its wire form (Redis stream fields).
//! - [`messages`]: the message types, one module per conversation between services.
//! - [`ids`]: the identifier newtypes shared by messages and the store.
//! - [`spec`]: `project_spec`, the approved specification of a project.
//! - [`plan`]: `build_plan`, the architect's repository layout and coding tasks with their dependencies.

pub mod envelope;
pub mod error;
pub mod ids;
pub mod messages;
pub mod plan;
pub mod spec;
pub mod streams;
pub mod validate;

pub use envelope::{Contract, Envelope, WireFields};
pub use error::ContractError;
pub use ids::{DeploymentId, EventId, ProjectId, ReviewId, RunId, WorkerId};
pub use streams::StreamKey;
pub use validate::Violations;
