//! `chat:out` → Telegram: formatting, splitting, buttons, edits, ordering under 429s, exactly-once.

use std::time::Duration;

use orch_contracts::messages::chat::{Button, ChatAction, TextFormat};
use orch_contracts::{StreamKey, streams};

use crate::harness::*;

async fn with_chat() -> Harness {
    let mut h = Harness::start().await;
    h.polling_gateway().await;
    h.bot.send_text(&alice(), "hello").expect("inject"); // the chat exists once the person wrote
    h.chat_in(1).await;
    h
}

#[tokio::test]
async fn markdown_is_escaped_long_texts_split_and_buttons_ride_the_last_part() {
    let mut h = with_chat().await;
    let long = format!(
        "*Spec* for weather-bot (v1.0)!\n{}",
        "Acceptance criterion: it answers.\n".repeat(300)
    );
    let buttons = vec![vec![
        Button {
            label: "Approve".into(),
            data: "approve:1".into(),
        },
        Button {
            label: "Change".into(),
            data: "change:1".into(),
        },
    ]];
    h.say(
        ALICE,
        ChatAction::Send {
            text: long.clone(),
            format: TextFormat::Markdown,
            buttons,
            ref_key: None,
        },
    )
    .await;
    let sent = h
        .bot
        .wait_for_messages(ALICE, 3, Duration::from_secs(10))
        .await
        .expect("sent");
    assert_eq!(sent.len(), 3, "10,000 characters make three messages");
    assert!(
        sent.iter()
            .all(|m| m.parse_mode.as_deref() == Some("MarkdownV2"))
    );
    assert!(
        sent[0].text.starts_with("Spec for weather-bot (v1.0)!"),
        "{}",
        &sent[0].text[..60]
    );
    assert!(sent[0].callback_data().is_empty() && sent[1].callback_data().is_empty());
    assert_eq!(sent[2].callback_data(), vec!["approve:1", "change:1"]);
    let total: usize = sent
        .iter()
        .map(|m| m.text.matches("Acceptance criterion").count())
        .sum();
    assert_eq!(total, 300, "nothing lost in splitting");
    h.stop().await;
}

#[tokio::test]
async fn a_progress_message_is_edited_in_place() {
    let mut h = with_chat().await;
    let send = ChatAction::Send {
        text: "Workers: 0/2 done".into(),
        format: TextFormat::Plain,
        buttons: vec![],
        ref_key: Some("progress:run-1".into()),
    };
    h.say(ALICE, send).await;
    h.bot
        .wait_for_messages(ALICE, 1, Duration::from_secs(10))
        .await
        .expect("sent");
    for done in 1..=2 {
        let edit = ChatAction::Edit {
            ref_key: "progress:run-1".into(),
            text: format!("Workers: {done}/2 done"),
            format: TextFormat::Plain,
            buttons: vec![],
        };
        h.say(ALICE, edit).await;
    }
    let transcript = h
        .bot
        .wait_for_transcript(ALICE, Duration::from_secs(10), |t| {
            t.messages.iter().any(|m| m.text == "Workers: 2/2 done")
        })
        .await
        .expect("edited");
    assert_eq!(transcript.messages.len(), 1, "edited, not re-sent");
    assert_eq!(
        transcript
            .calls
            .iter()
            .filter(|c| c.method == "editMessageText")
            .count(),
        2
    );
    h.stop().await;
}

#[tokio::test]
async fn rate_limits_are_waited_out_without_losing_or_reordering_replies() {
    let mut h = with_chat().await;
    h.bot.fail_next_sends(2, 1).expect("inject 429s");
    for n in 1..=5 {
        h.say(ALICE, send(&format!("reply {n}"))).await;
    }
    let sent = h
        .bot
        .wait_for_messages(ALICE, 5, Duration::from_secs(20))
        .await
        .expect("all delivered");
    let texts: Vec<_> = sent.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        ["reply 1", "reply 2", "reply 3", "reply 4", "reply 5"]
    );
    let transcript = h.bot.transcript(ALICE);
    assert_eq!(
        transcript
            .calls
            .iter()
            .filter(|c| c.error_code == Some(429))
            .count(),
        2,
        "two 429s were seen"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_redelivered_reply_is_sent_once() {
    let mut h = with_chat().await;
    let envelope = h.say(ALICE, send("only once")).await;
    // The same event again, as after a crash between sending and acknowledging.
    h.bus
        .publish(&StreamKey::from(streams::CHAT_OUT), &envelope)
        .await
        .expect("republish");
    h.say(ALICE, send("after")).await;
    let sent = h
        .bot
        .wait_for_messages(ALICE, 2, Duration::from_secs(10))
        .await
        .expect("sent");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let texts: Vec<_> = h
        .bot
        .sent_messages(ALICE)
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, ["only once", "after"], "{sent:?}");
    h.stop().await;
}

#[tokio::test]
async fn a_reply_to_an_unknown_chat_is_dead_lettered_with_the_reason() {
    let mut h = with_chat().await;
    h.say(987_654_321, send("to nobody")).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let letters = loop {
        let letters = h
            .bus
            .dead_letters(&StreamKey::from(streams::CHAT_OUT), 10)
            .await
            .expect("dlq");
        if !letters.is_empty() || tokio::time::Instant::now() > deadline {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].reason.contains("cannot receive messages"),
        "{}",
        letters[0].reason
    );
    h.stop().await;
}
