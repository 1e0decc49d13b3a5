//! End to end with separate processes: Telegram simulator → telegram-gateway → graph-runner → gateway →
//! simulator. A person writes an idea, answers two questions and approves the spec; every reply arrives
//! exactly once and the spec is in the database.

use std::time::Duration;

use crate::support::procs::{Stack, assert_transcript};
use crate::support::weather_rules;

pub const WAIT: Duration = Duration::from_secs(20);

/// What the person sees of the weather-bot conversation once approved.
pub const APPROVED_TRANSCRIPT: [&str; 5] = [
    "Which city should it cover?",
    "Should it send a forecast every morning?",
    "Spec v1: weather-bot",
    "Spec v1: approved ✅",
    "✅ Approved: weather-bot, spec version 1",
];

/// Talks the weather-bot conversation up to the spec; returns the approval prompt's message id and data.
pub async fn up_to_the_spec(stack: &Stack) -> (i32, String) {
    stack.say("I want a weather bot");
    stack.messages(1, WAIT).await;
    stack.say("London");
    stack.messages(2, WAIT).await;
    stack.say("Yes, at 7am");
    let shown = stack.messages(4, WAIT).await;
    assert!(
        shown[3].text.starts_with("Approve spec v1 of weather-bot"),
        "{}",
        shown[3].text
    );
    let data = shown[3].callback_data();
    assert_eq!(data.len(), 2, "Approve and Change");
    (shown[3].message_id, data[0].clone())
}

/// Waits for the approval to show, then checks the transcript, the calls and the database.
pub async fn check_approved(stack: &Stack) {
    stack.messages(5, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // a duplicate would show up by now
    assert_transcript(
        &stack.bot.sent_messages(crate::support::procs::BOB),
        &APPROVED_TRANSCRIPT,
    );
    assert_eq!(stack.calls("sendMessage"), 5, "every reply sent once");
    assert_eq!(
        stack.calls("answerCallbackQuery"),
        1,
        "the button answered once"
    );
    assert_eq!(stack.calls("editMessageText"), 1, "the prompt edited once");
    let approved =
        "SELECT count(*) FROM projects WHERE name = 'weather-bot' AND status = 'spec_approved'";
    assert_eq!(stack.count(approved).await, 1);
    assert_eq!(
        stack
            .count("SELECT count(*) FROM project_specs WHERE approved_at IS NOT NULL")
            .await,
        1
    );
    assert_eq!(
        stack
            .count("SELECT count(*) FROM audit_log WHERE action = 'project.spec_approved'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_person_brainstorms_and_approves_through_gateway_and_runner_processes() {
    let stack = Stack::start(weather_rules()).await;
    let (prompt, approve) = up_to_the_spec(&stack).await;
    stack.press(prompt, &approve);
    check_approved(&stack).await;
    assert_eq!(stack.llm.requests().len(), 3);
    stack.finish().await;
}
