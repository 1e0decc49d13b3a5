//! A spec, a plan, and the simulators.

use orch_contracts::plan::BuildPlan;
use orch_contracts::spec::ProjectSpec;
use orch_github::{Github, GithubAuth, GithubConfig};
use orch_testkit::github::{GithubSim, GithubSimConfig};
use secrecy::SecretString;
use serde_json::{Value, json};

pub const ALICE: &str = "ghp_alice_token";

pub fn spec() -> ProjectSpec {
    serde_json::from_value(json!({
        "schema_version": 1, "name": "weather-bot", "summary": "Morning forecasts for London in Telegram.",
        "modules": [{"name": "bot", "purpose": "talks to Telegram"}],
        "features": [
            {"id": "forecast", "title": "/forecast", "description": "today's forecast", "priority": "must"}
        ],
        "acceptance_criteria": ["/forecast answers within 5 s"],
        "secrets": [{"name": "OWM_API_KEY", "purpose": "forecasts", "source": "user"}],
        "deploy_target": {"kind": "telegram_bot", "public": false}
    }))
    .expect("spec")
}

pub fn plan_json(name: &str, tasks: Value) -> Value {
    json!({
        "schema_version": 1,
        "repository": {
            "name": name, "description": "Morning forecasts", "language": "python",
            "layout": [{"path": "bot/", "purpose": "the bot"}, {"path": "tests/", "purpose": "pytest tests"}]
        },
        "tasks": tasks
    })
}

pub fn two_parallel_tasks() -> Value {
    json!([
        {"key": "forecast", "title": "Forecast client", "body": "Fetch forecasts; test it."},
        {"key": "bot", "title": "Bot commands", "body": "Answer /forecast; test it."},
        {"key": "morning-push", "title": "Morning push", "body": "Send at 7am.", "depends_on": ["forecast", "bot"]}
    ])
}

pub fn plan(name: &str) -> BuildPlan {
    serde_json::from_value(plan_json(name, two_parallel_tasks())).expect("plan")
}

/// alice is a member of org `acme`.
pub async fn github_sim() -> GithubSim {
    let config = GithubSimConfig::default()
        .with_token("alice", ALICE)
        .with_org_member("acme", "alice");
    GithubSim::start(config).await.expect("github simulator")
}

pub async fn github(sim: &GithubSim) -> Github {
    let auth = GithubAuth::Token {
        token: SecretString::from(ALICE.to_owned()),
        org: Some("acme".to_owned()),
    };
    Github::connect(&GithubConfig::new(sim.api_url(), auth))
        .await
        .expect("github client")
}
