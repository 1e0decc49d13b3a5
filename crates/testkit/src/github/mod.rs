//! GitHub REST API simulator backed by real bare git repositories served over smart HTTP.
//!
//! The simulator answers the requests octocrab makes the way api.github.com does — same paths,
//! same JSON shapes, same error bodies (`{"message","documentation_url"}`) and status codes — and
//! keeps every repository as a real bare git repository that `git clone`/`git push` use over HTTP.
//! Merges really happen in the bare repository.
//!
//! # Overview
//! - Auth: personal tokens (`Authorization: Bearer|token <t>`), a GitHub App whose RS256 JWTs are
//!   verified (signature, `iss`, `iat`, `exp`), installation tokens `ghs_…` with expiry, and HTTP
//!   Basic (`x-access-token:<token>`) for git. Unknown or expired tokens get `401 Bad credentials`.
//! - Repositories: `POST /orgs/{org}/repos`, `POST /user/repos` (403 for installation tokens),
//!   `GET /repos/{o}/{r}`, 422 for duplicates, `auto_init` commits a README on `main`.
//! - Git data: branches, `git/ref/heads/{b}`, `commits/{sha}`.
//! - Pull requests: create/get/list/update, diff and patch by `Accept`, files, merge
//!   (merge/squash/rebase; 405 on conflicts, 409 on a stale `sha`), reviews, line comments, and
//!   issue comments.
//! - Fault injection ([`Fault`]), a primary rate limit and `x-ratelimit-*` headers on API responses.
//! - Inspection and control from Rust ([`GithubSim`]) and over HTTP under `/_sim`
//!   (`repos`, `pulls`, `reviews`, `comments`, `requests`, `faults`, `tokens`, `health`).
//!
//! # Requirements
//! `git` >= 2.40 on `PATH` (or [`GithubSimConfig::git_binary`]), including `git http-backend`;
//! [`GithubSim::start`] fails fast otherwise.
//!
//! # Standalone binary
//! ```text
//! github-sim --listen 127.0.0.1:8081 --data-dir /tmp/gh --token alice:ghp_alice \
//!     --org-member acme:alice --app-id 42 --app-key-pem app.pem --installation 7:acme
//! ```
//! It prints `github-sim listening on http://ADDR` and serves until SIGINT/SIGTERM.
//!
//! # Example
//! ```no_run
//! # async fn demo() -> Result<(), orch_testkit::github::SimError> {
//! use orch_testkit::github::{GithubSim, GithubSimConfig};
//! let sim = GithubSim::start(GithubSimConfig::default().with_token("alice", "ghp_alice")).await?;
//! println!("api at {}, clone from {}", sim.api_url(), sim.git_url("alice", "demo"));
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! `config` (settings), `server` (the handle), `routes/*` (REST), `smart_http` (git over HTTP via
//! `git http-backend`), `git` (git CLI wrappers), `auth`, `middleware`, `faults`, `ratelimit`,
//! `json` (response shapes), `diff` (line comment positions), `state` (records), `inspect` (snapshots).

mod auth;
mod config;
mod diff;
mod error;
mod faults;
mod git;
mod inspect;
mod json;
mod middleware;
mod ratelimit;
mod routes;
mod server;
mod smart_http;
mod state;

pub use config::{AppConfig, GithubSimConfig, InstallationConfig, PersonalToken};
pub use error::SimError;
pub use faults::{Fault, FaultKind};
pub use inspect::{CommentInfo, PullInfo, RepoInfo, RequestRecord, ReviewInfo};
pub use server::GithubSim;
