//! orch-llm against a real PostgreSQL (`DATABASE_URL`, a fresh migrated database per test) and the
//! real genai client talking to the `LlmSim` OpenAI-compatible simulator on 127.0.0.1.

mod budget;
mod chat;
mod config;
mod json;
mod retries;
mod routing;
mod secrets;
mod stream;
mod support;
