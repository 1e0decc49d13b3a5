//! Shared test plumbing: the scripted model, specs, infrastructure URLs.

pub mod fakes;
pub mod procs;
pub mod service;

use std::time::Duration;

use orch_testkit::llm::{Answer, LlmConfig, LlmSim, Rule};
use serde_json::{Value, json};

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn prefix(name: &str) -> String {
    format!("gr-{name}-{}", uuid::Uuid::new_v4().simple())
}

/// A valid spec named `name`.
pub fn spec(name: &str, summary: &str) -> Value {
    json!({
        "schema_version": 1, "name": name, "summary": summary,
        "modules": [{"name": "bot", "purpose": "talks to Telegram"}],
        "features": [
            {"id": "forecast", "title": "/forecast", "description": "today's forecast", "priority": "must"},
            {"id": "morning", "title": "Morning push", "description": "a forecast at 7am", "priority": "should"}
        ],
        "acceptance_criteria": ["/forecast answers within 5 s"],
        "external_apis": [{"name": "OpenWeatherMap", "purpose": "forecasts"}],
        "secrets": [{"name": "OWM_API_KEY", "purpose": "forecasts", "source": "user"}],
        "deploy_target": {"kind": "telegram_bot", "public": false}
    })
}

pub fn question(text: &str) -> Answer {
    Answer::text(json!({ "question": text }).to_string())
}

pub fn spec_answer(name: &str, summary: &str) -> Answer {
    Answer::text(json!({ "spec": spec(name, summary) }).to_string())
}

/// When the person's latest message contains `needle`, answer `answer`.
pub fn on(needle: &str, answer: Answer) -> Rule {
    Rule::new(answer).when_last_user_contains(needle)
}

/// The weather-bot conversation: idea → city → morning push → spec.
pub fn weather_rules() -> Vec<Rule> {
    vec![
        on("weather bot", question("Which city should it cover?")),
        on(
            "London",
            question("Should it send a forecast every morning?"),
        ),
        on(
            "7am",
            spec_answer("weather-bot", "Morning forecasts for London in Telegram."),
        ),
        on(
            "Paris",
            spec_answer("weather-bot", "Morning forecasts for London and Paris."),
        ),
    ]
}

/// An LLM simulator that accepts any key and answers `rules` (unmatched requests get a generic question).
pub async fn llm(rules: Vec<Rule>) -> LlmSim {
    let mut config = LlmConfig {
        api_keys: Vec::new(),
        default_answer: question("Could you tell me more?"),
        ..LlmConfig::default()
    };
    config.rules = rules;
    LlmSim::start(config).await.expect("llm simulator")
}

/// Polls `check` every 50 ms until it returns true; panics with `what` after `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {within:?} waiting for {what}");
}
