//! Protocol-faithful local simulators of the services the orchestrator talks to, and test helpers.
//!
//! # Layout
//! - [`telegram`]: the Telegram Bot API simulator.
//! - [`llm`]: the OpenAI-compatible chat-completions simulator.
//! - [`github`]: the GitHub REST API simulator on real bare git repositories.
//! - [`db`]: a fresh, migrated PostgreSQL database per test.

pub mod db;
pub mod github;
pub mod llm;
pub mod telegram;
