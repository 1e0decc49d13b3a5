//! A small typed GitHub REST client on octocrab: what the factory does on GitHub, and nothing else.
//!
//! # Overview
//! ```text
//! Github::connect(&GithubConfig { api_url, auth: Token{..} | App{..}, .. })   who are we? (GET /user, or the
//!                                                                              app's installation and its org)
//!   .pull_request(o, r, n) / .pull_request_diff(o, r, n)                      head/base sha, mergeability, diff
//!   .create_review(o, r, n, &NewReview{ event, body, comments, commit_id })   APPROVE / REQUEST_CHANGES / COMMENT
//!   .reviews(o, r, n) / .create_issue_comment(o, r, n, body)
//!   .merge(o, r, n, &MergeRequest{ method, expected_head_sha, .. })           squash by default, guarded by sha
//!   .create_repository(&NewRepository{..}) / .repository(o, r) / .branch(o, r, b)
//! ```
//! - **Where**: the base URL is configuration only ([`GITHUB_API_URL`], GitHub Enterprise, or the testkit
//!   simulator); nothing else differs between them.
//! - **Auth**: a personal token, or a GitHub App (app id + RSA private key → RS256 JWT → installation access
//!   token, re-minted by octocrab before it expires). With an app, new repositories go to the organization
//!   the installation belongs to.
//! - **Errors** ([`GithubError`]) are typed by what a caller does next: not found, unauthorized, forbidden,
//!   rate limited (with the wait), not mergeable, head moved, conflict, unprocessable, server, transport.
//! - **Retries**: 5xx and transport errors with exponential backoff, and rate limits whose wait is short,
//!   up to [`RetryPolicy::max_attempts`]; longer rate limits are returned at once with their wait.
//! - **Secrets**: tokens and keys are `SecretString`s handed to octocrab; no error or log line carries them.
//!
//! # Layout
//! - [`config`]: [`GithubConfig`], [`GithubAuth`], [`RetryPolicy`].
//! - [`client`]: [`Github`], connecting, [`Identity`].
//! - [`pulls`]: pull requests, reviews, comments, merges. [`repos`]: repositories and branches.
//! - [`models`]: the objects read and written. [`error`]: [`GithubError`]. `http`: requests and retries.

pub mod client;
pub mod config;
pub mod error;
mod http;
pub mod models;
pub mod open_pull;
pub mod pulls;
pub mod repos;

pub use client::{Github, Identity};
pub use config::{GITHUB_API_URL, GithubAuth, GithubConfig, RetryPolicy};
pub use error::GithubError;
pub use models::{
    IssueComment, LineComment, MergeMethod, MergeRequest, Merged, NewRepository, NewReview,
    PullRequest, PullSide, Repository, Review, ReviewEvent,
};
pub use open_pull::NewPullRequest;
