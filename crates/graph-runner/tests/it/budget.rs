//! Budgets in the conversation: a warning once when the spend crosses 80%, and a spent budget stops the
//! model calls with a message instead of a call.

use std::time::Duration;

use crate::support::service::{Service, text};
use crate::support::weather_rules;

const WAIT: Duration = Duration::from_secs(10);

/// Records `cost` micro-dollars of earlier usage on the chat's project (as a worker would report it).
async fn spend(s: &Service, key: &str, cost: i64) {
    s.execute(&format!(
        "INSERT INTO llm_usage (source, project_id, role, provider, model, prompt_tokens, completion_tokens,
                                cost_usd_micros, idempotency_key)
         SELECT 'worker', id, 'developer', 'sim', 'sim', 0, 0, {cost}, '{key}' FROM projects"
    ))
    .await;
}

#[tokio::test]
async fn crossing_80_percent_warns_once_and_a_spent_budget_stops_the_model() {
    let s = Service::start(weather_rules()).await;
    s.text("I want a weather bot").await;
    assert_eq!(
        text(&s.replies(1, WAIT).await[0]),
        "Which city should it cover?"
    );

    // The default budget is $20; $17 spent elsewhere puts the next call over 80%.
    spend(&s, "earlier-work", 17_000_000).await;
    s.text("London").await;
    let replies = s.replies(2, WAIT).await;
    assert!(
        text(&replies[0]).contains("used 80% of its LLM budget ($17.0000 of $20.0000)"),
        "{}",
        text(&replies[0])
    );
    assert_eq!(
        text(&replies[1]),
        "Should it send a forecast every morning?"
    );
    assert_eq!(
        s.count("SELECT count(*) FROM budget_alerts WHERE threshold_pct = 80")
            .await,
        1
    );

    // Over the budget: no model call is made; the person is told instead.
    spend(&s, "more-work", 4_000_000).await;
    let calls_before = s.llm.requests().len();
    s.text("Yes, at 7am").await;
    let replies = s.replies(1, WAIT).await;
    assert!(
        text(&replies[0]).contains("has used its LLM budget ($21.0000 of $20.0000)"),
        "{}",
        text(&replies[0])
    );
    assert_eq!(s.llm.requests().len(), calls_before, "no call over budget");
    assert!(
        s.read(Duration::from_millis(500)).await.is_empty(),
        "the 80% warning is not repeated"
    );

    // The person raises the budget themselves (audited), and the conversation goes on.
    s.command("budget", "lots").await;
    let refused = s.replies(1, WAIT).await;
    assert!(
        text(&refused[0]).contains("is not an amount"),
        "{refused:#?}"
    );
    s.command("budget", "").await;
    let shown = s.replies(1, WAIT).await;
    assert!(
        text(&shown[0]).contains("has spent $21.0000 of its $20.0000 budget"),
        "{shown:#?}"
    );
    s.command("budget", "$30").await;
    let set = s.replies(1, WAIT).await;
    assert!(
        text(&set[0]).contains("is now $30.0000 ($21.0000 spent so far)"),
        "{set:#?}"
    );
    assert_eq!(
        s.count("SELECT budget_usd_micros FROM projects").await,
        30_000_000
    );
    assert_eq!(
        s.count("SELECT count(*) FROM audit_log WHERE action = 'project.budget_set'")
            .await,
        1
    );
    s.text("Yes, at 7am").await;
    let spec = s.replies(2, WAIT).await;
    assert!(text(&spec[0]).contains("Spec v1: weather-bot"), "{spec:#?}");
    s.finish().await;
}
