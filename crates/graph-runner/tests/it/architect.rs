//! After an approval, with GitHub configured: the architect plans, the repository appears on the (simulated)
//! GitHub with its scaffold on `main`, the tasks are stored, and the person is told — once.

use std::time::Duration;

use graph_runner::GithubSettings;
use graph_runner::config::WorkerSettings;
use orch_contracts::messages::worker::AgentKind;
use orch_testkit::github::{GithubSim, GithubSimConfig};
use orch_testkit::llm::{Answer, Rule};
use secrecy::SecretString;
use serde_json::json;

use crate::support::service::{Service, buttons, seed, text};
use crate::support::weather_rules;

const WAIT: Duration = Duration::from_secs(15);
pub const TOKEN: &str = "ghp_factory_token";

pub fn plan() -> serde_json::Value {
    json!({
        "schema_version": 1,
        "repository": {
            "name": "weather-bot", "description": "Morning forecasts", "language": "python",
            "layout": [{"path": "bot/", "purpose": "the bot"}, {"path": "tests/", "purpose": "tests"}]
        },
        "tasks": [
            {"key": "forecast", "title": "Forecast client", "body": "Fetch forecasts; test it."},
            {"key": "bot", "title": "Bot commands", "body": "Answer /forecast; test it."},
            {"key": "morning-push", "title": "Morning push", "body": "Send at 7am.",
             "depends_on": ["forecast", "bot"]}
        ]
    })
}

fn rules(plan_answer: Answer) -> Vec<Rule> {
    let mut rules = vec![Rule::new(plan_answer).when_last_user_contains("The approved spec")];
    rules.extend(weather_rules());
    rules
}

pub async fn factory(plan_answer: Answer) -> (Service, GithubSim) {
    let sim = GithubSim::start(
        GithubSimConfig::default()
            .with_token("orchestrator", TOKEN)
            .with_org_member("acme", "orchestrator"),
    )
    .await
    .expect("github simulator");
    let mut s = Service::new(rules(plan_answer)).await;
    s.config.architect = Some(seed(&s.llm.base_url()));
    s.config.workers = WorkerSettings {
        agent: AgentKind::Scripted,
        poll_ms: 50,
        ..WorkerSettings::default()
    };
    s.config.github = Some(GithubSettings {
        api_url: sim.api_url(),
        token: SecretString::from(TOKEN.to_owned()),
        org: Some("acme".to_owned()),
    });
    s.run().await;
    (s, sim)
}

/// Talks the weather bot through and presses Approve; returns the replies to the press.
pub async fn approve(
    s: &Service,
    expected: usize,
) -> Vec<orch_contracts::messages::chat::ChatAction> {
    s.text("I want a weather bot").await;
    s.replies(1, WAIT).await;
    s.text("London").await;
    s.replies(1, WAIT).await;
    s.text("Yes, at 7am").await;
    let shown = s.replies(2, WAIT).await;
    s.press("cb-approve", &buttons(&shown[1])[0]).await;
    s.replies(expected, WAIT).await
}

#[tokio::test]
async fn an_approved_spec_gets_a_repository_with_its_scaffold_and_planned_tasks() {
    let (s, sim) = factory(Answer::text(plan().to_string())).await;
    let replies = approve(&s, 5).await;
    assert!(
        text(&replies[2]).contains("the architect plans the repository"),
        "{}",
        text(&replies[2])
    );
    let ready = text(&replies[3]);
    assert!(
        ready.contains("Repository acme/weather-bot is ready"),
        "{ready}"
    );
    assert!(ready.contains("3 task(s) in 2 wave(s)"), "{ready}");
    assert!(
        ready.contains("1. Forecast client (forecast), Bot commands (bot)"),
        "{ready}"
    );

    let main = sim
        .branch_sha("acme", "weather-bot", "main")
        .await
        .expect("branch")
        .expect("the scaffold is on main");
    assert_eq!(main.len(), 40);
    assert!(
        text(&replies[4]).contains("Started 2 coding worker(s): Forecast client, Bot commands")
    );
    assert_eq!(
        s.count("SELECT count(*) FROM tasks WHERE branch LIKE 'task/%' AND status = 'running'")
            .await,
        2,
        "the first wave runs (nothing consumes worker:spawn in this test)"
    );
    assert_eq!(
        s.count("SELECT count(*) FROM tasks WHERE key = 'morning-push' AND depends_on = ARRAY['forecast','bot']")
            .await,
        1
    );
    assert_eq!(
        s.count("SELECT count(*) FROM llm_usage WHERE role = 'architect'")
            .await,
        1,
        "the plan was asked for once"
    );

    s.command("status", "").await;
    let status = s.replies(1, WAIT).await;
    assert!(
        text(&status[0]).contains("building: 2 coding worker(s) running"),
        "{}",
        text(&status[0])
    );
    assert!(
        s.read(Duration::from_millis(500)).await.is_empty(),
        "nothing sent twice"
    );
    assert_eq!(sim.repos().len(), 1);
    s.finish().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_plan_the_model_cannot_get_right_is_explained_and_creates_nothing() {
    let (s, sim) = factory(Answer::text("Let's use microservices!")).await;
    let replies = approve(&s, 4).await;
    let failed = text(&replies[3]);
    assert!(
        failed.contains("could not produce a valid build plan"),
        "{failed}"
    );
    assert!(sim.repos().is_empty(), "no repository without a plan");
    assert_eq!(s.count("SELECT count(*) FROM tasks").await, 0);
    s.finish().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_repository_github_refuses_is_explained_and_retried_on_the_persons_word() {
    let (s, sim) = factory(Answer::text(plan().to_string())).await;
    sim.inject_fault(
        orch_testkit::github::Fault::status(403)
            .on_method("POST")
            .on_path("/orgs/acme/repos"),
    );
    let replies = approve(&s, 4).await;
    let refused = text(&replies[3]);
    assert!(
        refused.contains("GitHub refused to set up the repository"),
        "{refused}"
    );
    assert!(
        !refused.contains(TOKEN),
        "no token in what the person reads"
    );
    assert!(sim.repos().is_empty());
    assert_eq!(s.count("SELECT count(*) FROM tasks").await, 0);

    s.text("The organization is fixed now, try again").await;
    let retried = s.replies(2, WAIT).await;
    assert!(
        text(&retried[0]).contains("Repository acme/weather-bot is ready"),
        "{retried:#?}"
    );
    assert!(text(&retried[1]).contains("Started 2 coding worker(s)"));
    assert_eq!(sim.repos().len(), 1);
    assert_eq!(
        s.count("SELECT count(*) FROM llm_usage WHERE role = 'architect'")
            .await,
        2,
        "the step ran again from the plan (one plan per attempt)"
    );
    s.finish().await;
    sim.shutdown().await;
}
