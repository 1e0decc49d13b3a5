//! The factory's first steps after a spec is approved, as plain functions the graph-runner's nodes call:
//!
//! - [`architect`]: asks the `architect` model for a [`BuildPlan`](orch_contracts::plan::BuildPlan) — the
//!   repository layout and the coding tasks with their dependencies — validated, with one repair.
//! - [`scaffold`]: the files every new repository starts with (README, AGENTS.md for coding agents, a CI
//!   workflow, a Makefile whose `test` target the worker runs, .gitignore), derived from spec and plan only.
//! - [`repository`]: creates the repository and pushes the scaffold — deterministic code, idempotent across
//!   retries and restarts: the same inputs give the same commit, and an existing repository or `main` branch
//!   is adopted, never duplicated or overwritten.

pub mod architect;
pub mod repository;
pub mod scaffold;

pub use architect::{ARCHITECT_ROLE, ArchitectError, plan_build};
pub use repository::{GitCredentials, RepositoryError, RepositorySetup, ensure_repository};
pub use scaffold::{ScaffoldFile, scaffold_files};
