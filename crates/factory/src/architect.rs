//! The architect: from an approved spec to a [`BuildPlan`].
//!
//! The model proposes the layout and the tasks; deterministic code decides what must not vary: the repository
//! is named after the project (names are unique per owner already), and the plan is validated — unique keys,
//! known dependencies, no cycles, bounded sizes — with the violations sent back once for a repair.

use orch_contracts::plan::{BuildPlan, MAX_TASKS};
use orch_contracts::spec::ProjectSpec;
use orch_llm::chat::{ChatMessage, ChatRequest};
use orch_llm::{CallContext, LlmClient, LlmError};

/// The `model_configs` role the architect calls.
pub const ARCHITECT_ROLE: &str = "architect";

/// The architect's role prompt, for seeding `model_configs` (the client puts the row's prompt first); the
/// protocol is added on every call, so an edited role prompt cannot break it.
pub const ROLE_PROMPT: &str = "You are a senior software architect. From an approved product spec, plan a \
small repository and split the work into coding tasks for AI coding agents that each work alone on one \
branch. Make tasks independent wherever you can, so they run in parallel; give a task dependencies only when \
it really needs another task's code merged first. Each task must be small enough for one pull request and \
say exactly what to build and how to tell it is done (tests to write, commands to run).";

/// Why no plan came out.
#[derive(Debug, thiserror::Error)]
pub enum ArchitectError {
    /// The model could not be reached, is not configured, or answered garbage twice.
    #[error("the architect model failed: {0}")]
    Model(#[from] LlmError),
}

/// Asks the architect model for the plan of `spec`, to live in a repository named `repo_name`.
#[tracing::instrument(skip_all, fields(project = %spec.name, repo = repo_name))]
pub async fn plan_build(
    client: &LlmClient,
    call: &CallContext,
    spec: &ProjectSpec,
    repo_name: &str,
) -> Result<BuildPlan, ArchitectError> {
    let request = request(spec, repo_name);
    let outcome = client
        .chat_json_validated(call, request, |plan: &BuildPlan| check(plan, repo_name))
        .await?;
    Ok(outcome.value)
}

fn check(plan: &BuildPlan, repo_name: &str) -> Result<(), String> {
    plan.validate().map_err(|v| v.as_slice().join("; "))?;
    if plan.repository.name != repo_name {
        return Err(format!(
            "repository.name must be `{repo_name}` (got `{}`)",
            plan.repository.name
        ));
    }
    Ok(())
}

fn request(spec: &ProjectSpec, repo_name: &str) -> ChatRequest {
    let spec_json = serde_json::to_string_pretty(spec).unwrap_or_default();
    ChatRequest::from_system(protocol(repo_name)).append_message(ChatMessage::user(format!(
        "The approved spec:\n{spec_json}"
    )))
}

fn protocol(repo_name: &str) -> String {
    let schema = serde_json::to_string(&BuildPlan::json_schema()).unwrap_or_default();
    format!(
        "Answer with one JSON object, a build plan matching this JSON Schema:\n{schema}\n\n\
         Rules: schema_version is 1; repository.name is exactly `{repo_name}`; between 1 and {MAX_TASKS} \
         tasks; task keys are lower-case letters, digits and dashes and become branch names; depends_on lists \
         only keys of other tasks in this plan and must not form a cycle. The repository is created for you \
         with a README, AGENTS.md, a CI workflow and a Makefile: do not plan tasks for those. Never put secret \
         values in a task: name the environment variable the code reads instead."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_names_the_repository_and_carries_the_schema() {
        let text = protocol("weather-bot");
        assert!(text.contains("exactly `weather-bot`"));
        assert!(text.contains("\"depends_on\""));
    }
}
