//! Protocol-faithful local simulators of the services the orchestrator talks to, and test helpers.
//!
//! # Layout
//! - [`telegram`]: the Telegram Bot API simulator.
//! - [`llm`]: the OpenAI-compatible chat-completions simulator.

pub mod llm;
pub mod telegram;
