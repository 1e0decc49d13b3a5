//! The single integration-test binary of orch-testkit.

mod github;
mod llm;
mod telegram;
