//! Bad input and bad weather: unknown and stale buttons, garbage arguments, a model answering garbage, a
//! failing, unreachable or misconfigured model, the budget, a message arriving while the previous one is
//! being handled, a duplicate delivery. Each has one clear outcome; nothing crashes and nothing is lost.

use std::time::Duration;

use graph_runner::texts;
use orch_contracts::messages::chat::ChatAction;
use orch_testkit::llm::Answer;

use crate::support::service::{Service, buttons, text};
use crate::support::{on, question, weather_rules};

const WAIT: Duration = Duration::from_secs(10);
/// Long enough for a redelivery: claim timeout (1 s) + the consumer's reclaim tick (5 s) + work.
const RETRY_WAIT: Duration = Duration::from_secs(30);

fn answered_with(action: &ChatAction, toast: &str) -> bool {
    matches!(action, ChatAction::AnswerButton { text: Some(t), .. } if t == toast)
}

#[tokio::test]
async fn unknown_and_stale_buttons_are_answered_and_change_nothing() {
    let s = Service::start(weather_rules()).await;
    s.text("I want a weather bot").await;
    s.replies(1, WAIT).await;
    s.press("cb1", "frobnicate").await;
    let unknown = s.replies(2, WAIT).await;
    assert!(answered_with(&unknown[0], "Unknown button"), "{unknown:?}");
    assert!(text(&unknown[1]).contains("don't recognise that button"));
    let foreign = format!("approve:{}:1", uuid::Uuid::new_v4().simple());
    s.press("cb2", &foreign).await;
    let closed = s.replies(2, WAIT).await;
    assert!(answered_with(&closed[0], "This button has expired"));
    assert!(text(&closed[1]).contains("closed or was set aside"));

    s.text("London").await;
    s.replies(1, WAIT).await;
    s.text("7am please").await;
    let v1 = buttons(&s.replies(2, WAIT).await[1]);
    s.press("cb3", &v1[1]).await; // Change
    s.replies(3, WAIT).await;
    s.press("cb4", &v1[0]).await; // Approve of v1 while the thread waits for text
    let waiting = s.replies(2, WAIT).await;
    assert!(answered_with(&waiting[0], "This button has expired"));
    assert!(text(&waiting[1]).contains("no longer waiting for a decision"));
    s.text("add Paris").await;
    let v2 = buttons(&s.replies(2, WAIT).await[1]);
    s.press("cb5", &v1[0]).await; // Approve of v1 while v2 is on show
    let stale = s.replies(2, WAIT).await;
    assert!(
        text(&stale[1]).contains("belongs to spec v1; the current draft is v2"),
        "{}",
        text(&stale[1])
    );
    assert_eq!(
        s.count("SELECT count(*) FROM projects WHERE status = 'spec_approved'")
            .await,
        0
    );

    s.press("cb6", &v2[0]).await;
    assert!(answered_with(&s.replies(3, WAIT).await[0], "Approved ✅"));
    s.press("cb7", &v2[0]).await; // a second tap
    let again = s.replies(2, WAIT).await;
    assert!(answered_with(&again[0], "This button has expired"));
    assert_eq!(text(&again[1]), "That spec is already approved.");
    assert_eq!(s.count("SELECT count(*) FROM project_specs").await, 1);
    s.finish().await;
}

#[tokio::test]
async fn commands_with_garbage_arguments_explain_and_do_nothing_else() {
    let s = Service::start(weather_rules()).await;
    s.text("I want a weather bot").await;
    s.replies(1, WAIT).await;
    for (command, args) in [("cancel", "now please"), ("status", "xyz"), ("help", "me")] {
        s.command(command, args).await;
        let reply = s.replies(1, WAIT).await;
        assert!(
            text(&reply[0]).starts_with(&format!("/{command} takes no arguments")),
            "{}",
            text(&reply[0])
        );
        assert!(text(&reply[0]).contains(args));
    }
    s.command("frobnicate", "--force").await;
    assert!(text(&s.replies(1, WAIT).await[0]).contains("I don't know /frobnicate"));
    assert_eq!(
        s.count("SELECT count(*) FROM projects WHERE status = 'brainstorming'")
            .await,
        1,
        "not cancelled"
    );
    s.text("London").await;
    assert_eq!(
        text(&s.replies(1, WAIT).await[0]),
        "Should it send a forecast every morning?",
        "the thread goes on"
    );
    s.finish().await;
}

#[tokio::test]
async fn a_model_answering_garbage_twice_gets_an_apology_and_the_thread_waits() {
    let rules = vec![
        on(
            "weather bot",
            Answer::text("Sure! A weather bot is a great idea."),
        )
        .once(),
        on(
            "could not be used",
            Answer::text(r#"{"questions": ["which city?"]}"#),
        )
        .once(),
        on("London", question("Which forecast times?")),
    ];
    let s = Service::start(rules).await;
    s.text("I want a weather bot").await;
    assert_eq!(text(&s.replies(1, WAIT).await[0]), texts::MODEL_GARBLED);
    assert_eq!(s.llm.requests().len(), 2, "the answer and one repair");
    assert_eq!(
        s.count("SELECT count(*) FROM llm_usage").await,
        2,
        "both calls are paid for"
    );
    s.command("status", "").await;
    assert!(text(&s.replies(1, WAIT).await[0]).contains("waiting for your answer to: “Sorry"));
    s.text("It is for London").await;
    assert_eq!(text(&s.replies(1, WAIT).await[0]), "Which forecast times?");
    let last = s.llm.requests().last().expect("request").body.to_string();
    assert!(
        last.contains("I want a weather bot") && last.contains("It is for London"),
        "nothing was lost"
    );
    s.finish().await;
}

#[tokio::test]
async fn a_failing_model_is_explained_once_and_the_message_is_retried() {
    let s = Service::start(weather_rules()).await;
    s.llm.fail_next(2, Answer::ServerError);
    let event = s.text("I want a weather bot").await;
    let replies = s.replies(2, RETRY_WAIT).await;
    assert_eq!(text(&replies[0]), texts::MODEL_TROUBLE);
    assert_eq!(text(&replies[1]), "Which city should it cover?");
    assert_eq!(s.llm.requests().len(), 3, "two failures, then the answer");
    let handled = format!(
        "SELECT count(*) FROM inbox WHERE consumer = 'graph-runner' AND event_id = '{event}'"
    );
    assert_eq!(s.count(&handled).await, 1);
    s.finish().await;
}

#[tokio::test]
async fn an_unreachable_model_keeps_the_message_until_it_is_back() {
    let mut s = Service::new(weather_rules()).await;
    s.config.brainstorm = Some(crate::support::service::seed("http://127.0.0.1:9/v1/"));
    s.run().await;
    s.text("I want a weather bot").await;
    assert_eq!(text(&s.replies(1, WAIT).await[0]), texts::MODEL_TROUBLE);
    let url = s.llm.base_url();
    s.execute(&format!(
        "UPDATE model_configs SET endpoint = '{url}' WHERE role = 'brainstorm'"
    ))
    .await;
    assert_eq!(
        text(&s.replies(1, RETRY_WAIT).await[0]),
        "Which city should it cover?"
    );
    s.finish().await;
}

#[tokio::test]
async fn a_misconfigured_model_says_so_and_recovers_once_fixed() {
    let mut s = Service::new(weather_rules()).await;
    s.config.brainstorm.as_mut().expect("seed").model = "no-such-model".into();
    s.run().await;
    s.text("I want a weather bot").await;
    assert_eq!(
        text(&s.replies(1, WAIT).await[0]),
        texts::MODEL_MISCONFIGURED
    );
    s.execute("UPDATE model_configs SET model = 'sim-model' WHERE role = 'brainstorm'")
        .await;
    assert_eq!(
        text(&s.replies(1, RETRY_WAIT).await[0]),
        "Which city should it cover?"
    );
    s.finish().await;
}

#[tokio::test]
async fn the_budget_is_checked_before_every_call() {
    let mut s = Service::new(weather_rules()).await;
    s.config
        .brainstorm
        .as_mut()
        .expect("seed")
        .input_price_per_mtok_micros = 1_000_000_000_000;
    s.run().await;
    s.text("I want a weather bot").await;
    let reply = s.replies(1, WAIT).await;
    assert!(
        text(&reply[0]).starts_with("This project has used its LLM budget ($0.0000 of $20.0000)"),
        "{}",
        text(&reply[0])
    );
    assert_eq!(s.llm.requests().len(), 0, "nothing was sent to the model");
    s.text("please?").await;
    assert!(text(&s.replies(1, WAIT).await[0]).starts_with("This project has used its LLM budget"));
    s.finish().await;
}

#[tokio::test]
async fn a_message_sent_while_the_previous_is_handled_waits_its_turn() {
    let mut slow = on("weather bot", question("Which city should it cover?"));
    slow.delay_ms = Some(1500);
    let s = Service::start(vec![
        slow,
        on(
            "London",
            question("Should it send a forecast every morning?"),
        ),
    ])
    .await;
    s.text("I want a weather bot").await;
    s.text("London").await;
    let replies = s.replies(2, WAIT).await;
    assert_eq!(text(&replies[0]), "Which city should it cover?");
    assert_eq!(
        text(&replies[1]),
        "Should it send a forecast every morning?"
    );
    let second = &s.llm.requests()[1].body["messages"];
    let roles: Vec<&str> = second
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "user"],
        "idea, question, answer — in order"
    );
    s.finish().await;
}

#[tokio::test]
async fn a_duplicate_delivery_is_handled_once() {
    let s = Service::start(weather_rules()).await;
    let idea = Service::chat_in(
        crate::support::service::ALICE,
        orch_contracts::messages::chat::ChatEvent::Text {
            message_id: 1,
            text: "I want a weather bot".into(),
        },
    );
    s.publish(&idea).await;
    s.publish(&idea).await;
    s.replies(1, WAIT).await;
    s.text("London").await;
    s.replies(1, WAIT).await;
    s.publish(&idea).await; // long after: the inbox knows it
    assert!(s.read(Duration::from_secs(1)).await.is_empty());
    assert_eq!(s.llm.requests().len(), 2);
    s.finish().await;
}
