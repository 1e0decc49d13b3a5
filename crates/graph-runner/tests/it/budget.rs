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
    s.finish().await;
}
