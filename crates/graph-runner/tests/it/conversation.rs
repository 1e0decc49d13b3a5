//! The conversation at the bus boundary: idea → questions → spec → Change → revised spec → Approve, and the
//! commands.

use std::time::Duration;

use graph_runner::texts;
use orch_contracts::messages::chat::{ChatAction, TextFormat};

use crate::support::service::{Service, buttons, text};
use crate::support::weather_rules;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn an_idea_becomes_an_approved_spec_after_questions_and_one_change() {
    let s = Service::start(weather_rules()).await;
    s.text("I want a weather bot").await;
    assert_eq!(
        text(&s.replies(1, WAIT).await[0]),
        "Which city should it cover?"
    );
    s.text("London").await;
    assert_eq!(
        text(&s.replies(1, WAIT).await[0]),
        "Should it send a forecast every morning?"
    );

    s.text("Yes, at 7am").await;
    let shown = s.replies(2, WAIT).await;
    assert!(matches!(
        &shown[0],
        ChatAction::Send {
            format: TextFormat::Markdown,
            ..
        }
    ));
    assert!(
        text(&shown[0]).contains("*Spec v1: weather-bot*"),
        "{}",
        text(&shown[0])
    );
    let v1 = buttons(&shown[1]);
    assert_eq!(v1.len(), 2);
    assert!(
        v1[0].starts_with("approve:") && v1[1].starts_with("change:"),
        "{v1:?}"
    );

    s.press("cb-change", &v1[1]).await;
    let change = s.replies(3, WAIT).await;
    assert!(
        matches!(&change[0], ChatAction::AnswerButton { callback_query_id, .. } if callback_query_id == "cb-change")
    );
    assert!(
        matches!(&change[1], ChatAction::Edit { text, buttons, .. } if text.contains("changes requested") && buttons.is_empty())
    );
    assert_eq!(text(&change[2]), texts::WHAT_TO_CHANGE);

    s.text("Cover Paris too").await;
    let shown = s.replies(2, WAIT).await;
    assert!(text(&shown[0]).contains("*Spec v2: weather-bot*"));
    assert!(text(&shown[0]).contains("London and Paris"));
    let v2 = buttons(&shown[1]);
    assert!(v2[0].ends_with(":2"), "{v2:?}");
    let revising = &s.llm.requests()[3].body;
    assert!(
        revising.to_string().contains("reviewing spec v1"),
        "the draft is context of the change"
    );
    assert!(
        revising
            .to_string()
            .contains("Please change the spec: Cover Paris too")
    );

    s.press("cb-approve", &v2[0]).await;
    let approved = s.replies(3, WAIT).await;
    assert!(
        matches!(&approved[0], ChatAction::AnswerButton { callback_query_id, .. } if callback_query_id == "cb-approve")
    );
    assert_eq!(text(&approved[1]), "Spec v2: approved ✅");
    assert!(text(&approved[2]).contains("Approved: *weather-bot*"));
    assert!(
        text(&approved[2]).contains("no GitHub account is configured"),
        "honest about the factory"
    );

    assert_eq!(s.count("SELECT count(*) FROM projects WHERE name = 'weather-bot' AND status = 'spec_approved' AND spec_version = 1").await, 1);
    let stored = s
        .json("SELECT spec FROM project_specs WHERE version = 1 AND approved_at IS NOT NULL")
        .await;
    assert_eq!(stored["summary"], "Morning forecasts for London and Paris.");
    assert_eq!(
        s.count("SELECT count(*) FROM runs WHERE status = 'succeeded' AND finished_at IS NOT NULL")
            .await,
        1
    );
    assert_eq!(
        s.count("SELECT count(*) FROM audit_log WHERE action = 'project.spec_approved'")
            .await,
        1
    );
    assert_eq!(s.llm.requests().len(), 4, "one model call per turn");
    assert_eq!(
        s.count("SELECT count(*) FROM llm_usage WHERE role = 'brainstorm'")
            .await,
        4
    );

    s.text("and a dark mode?").await;
    assert!(text(&s.replies(1, WAIT).await[0]).contains("is approved and stored"));
    s.command("status", "").await;
    let status = s.replies(1, WAIT).await;
    assert!(
        text(&status[0]).contains("`weather-bot` — spec approved"),
        "{}",
        text(&status[0])
    );
    s.finish().await;
}

#[tokio::test]
async fn commands_start_new_status_cancel_and_help() {
    let s = Service::start(weather_rules()).await;
    s.command("start", "").await;
    assert_eq!(text(&s.replies(1, WAIT).await[0]), texts::WELCOME);
    s.command("help", "").await;
    let help = s.replies(1, WAIT).await;
    for command in ["/new", "/status", "/cancel", "/help"] {
        assert!(
            text(&help[0]).contains(command),
            "{command} missing from /help"
        );
    }
    s.command("status", "").await;
    assert!(text(&s.replies(1, WAIT).await[0]).contains("no project in progress"));

    s.command("new", "").await;
    assert_eq!(
        text(&s.replies(1, WAIT).await[0]),
        graph_runner::state::GREETING
    );
    s.text("A weather bot for my family").await;
    assert_eq!(
        text(&s.replies(1, WAIT).await[0]),
        "Which city should it cover?"
    );
    s.command("status", "").await;
    let status = s.replies(1, WAIT).await;
    assert!(
        text(&status[0]).contains("waiting for your answer to: “Which city should it cover?”"),
        "{}",
        text(&status[0])
    );
    assert!(
        text(&status[0]).contains("$0.0000 of $20.0000"),
        "{}",
        text(&status[0])
    );

    s.command("new", "a todo app").await;
    let restarted = s.replies(2, WAIT).await;
    assert!(
        text(&restarted[0]).starts_with("Set aside `draft-"),
        "{}",
        text(&restarted[0])
    );
    assert_eq!(text(&restarted[1]), "Could you tell me more?");
    assert_eq!(
        s.count("SELECT count(*) FROM projects WHERE status = 'cancelled'")
            .await,
        1
    );
    assert_eq!(
        s.count("SELECT count(*) FROM threads WHERE is_active")
            .await,
        1
    );

    s.command("cancel", "").await;
    assert!(text(&s.replies(1, WAIT).await[0]).starts_with("Cancelled `draft-"));
    assert_eq!(
        s.count("SELECT count(*) FROM projects WHERE status = 'cancelled'")
            .await,
        2
    );
    assert_eq!(
        s.count("SELECT count(*) FROM runs WHERE status = 'cancelled'")
            .await,
        2
    );
    s.command("cancel", "").await;
    assert_eq!(
        text(&s.replies(1, WAIT).await[0]),
        "There is nothing to cancel."
    );

    s.text("I want a weather bot").await;
    assert_eq!(
        text(&s.replies(1, WAIT).await[0]),
        "Which city should it cover?",
        "text starts a new thread"
    );
    assert_eq!(s.count("SELECT count(*) FROM projects").await, 3);
    s.finish().await;
}
