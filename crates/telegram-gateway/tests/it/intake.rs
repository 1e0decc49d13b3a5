//! Telegram → `chat:in`: allowed people, strangers, commands, buttons, bad updates.

use std::time::Duration;

use orch_contracts::messages::chat::ChatEvent;
use orch_store::audit;
use orch_testkit::telegram::{ButtonPress, TgUser};
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn messages_commands_and_buttons_from_allowed_people_reach_chat_in() {
    let mut h = Harness::start().await;
    h.polling_gateway().await;
    h.bot
        .send_text(&alice(), "build me a weather bot")
        .expect("inject");
    h.bot
        .inject_command(&alice(), None, "new", "weather bot")
        .expect("inject");
    let got = h.chat_in(2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].body.user.id, ALICE);
    assert!(
        matches!(&got[0].body.event, ChatEvent::Text { text, .. } if text == "build me a weather bot")
    );
    assert!(
        matches!(&got[1].body.event, ChatEvent::Command { command, args, .. } if command == "new" && args == "weather bot")
    );
    h.bot
        .wait_for_no_pending(Duration::from_secs(5))
        .await
        .expect("updates confirmed after publishing");
    h.stop().await;
}

#[tokio::test]
async fn a_button_press_is_a_button_event() {
    let mut h = Harness::start().await;
    h.polling_gateway().await;
    h.bot.send_text(&alice(), "hi").expect("inject"); // the chat exists once the person wrote
    h.chat_in(1).await;
    let buttons = vec![vec![orch_contracts::messages::chat::Button {
        label: "Approve".into(),
        data: "approve:1".into(),
    }]];
    let ask = orch_contracts::messages::chat::ChatAction::Send {
        text: "pick one".into(),
        format: orch_contracts::messages::chat::TextFormat::Plain,
        buttons,
        ref_key: None,
    };
    h.say(ALICE, ask).await;
    h.bot
        .wait_for_messages(ALICE, 1, Duration::from_secs(10))
        .await
        .expect("sent");
    let message_id = h.bot.sent_messages(ALICE)[0].message_id;
    let press = ButtonPress {
        from: alice(),
        chat_id: ALICE,
        message_id,
        data: "approve:1".into(),
    };
    let injected = h.bot.press_button(&press).expect("press");
    let got = h.chat_in(1).await;
    let button = got
        .iter()
        .find(|e| matches!(e.body.event, ChatEvent::Button { .. }))
        .expect("a button event");
    assert_eq!(
        button.body.event,
        ChatEvent::Button {
            callback_query_id: injected.callback_query_id,
            message_id: Some(message_id),
            data: "approve:1".into()
        }
    );
    h.stop().await;
}

#[tokio::test]
async fn strangers_are_refused_politely_and_audited() {
    let mut h = Harness::start().await;
    h.polling_gateway().await;
    let mallory = TgUser::new(
        666_000 + (uuid::Uuid::new_v4().as_u128() % 1000) as i64,
        "Mallory",
    );
    h.bot.send_text(&mallory, "let me in").expect("inject");
    let replies = h
        .bot
        .wait_for_messages(mallory.id, 1, Duration::from_secs(10))
        .await
        .expect("refusal");
    assert!(
        replies[0].text.contains("this bot is private"),
        "{}",
        replies[0].text
    );
    assert!(
        replies[0].text.contains(&mallory.id.to_string()),
        "tells them their id"
    );
    assert!(h.chat_in(0).await.is_empty(), "nothing reaches the graph");
    let mut conn = h.store.pool().acquire().await.expect("conn");
    let refused = audit::recent(&mut conn, "chat.refused", 50)
        .await
        .expect("audit");
    assert!(
        refused
            .iter()
            .any(|r| r.actor == format!("telegram:{}", mallory.id)),
        "audited"
    );
    drop(conn);
    h.stop().await;
}

#[tokio::test]
async fn malformed_and_unsupported_updates_are_audited_and_do_not_block_the_rest() {
    let mut h = Harness::start().await;
    h.polling_gateway().await;
    let broken = h
        .bot
        .inject_raw("message", json!({ "this": "is not a message" }))
        .expect("inject");
    h.bot.send_text(&alice(), "still here").expect("inject");
    let got = h.chat_in(1).await;
    assert_eq!(got.len(), 1);
    assert!(matches!(&got[0].body.event, ChatEvent::Text { text, .. } if text == "still here"));
    let mut conn = h.store.pool().acquire().await.expect("conn");
    let skipped = audit::recent(&mut conn, "telegram.update_skipped", 100)
        .await
        .expect("audit");
    assert!(
        skipped
            .iter()
            .any(|r| r.subject == format!("update:{broken}")),
        "the malformed update is audited"
    );
    drop(conn);
    h.stop().await;
}

#[tokio::test]
async fn the_same_update_always_has_the_same_event_id() {
    let h = Harness::start().await;
    let token = h.token.clone();
    let telegram = telegram_gateway::telegram::Telegram::new(
        &token.into(),
        &h.sim.api_url(),
        Duration::from_secs(1),
    )
    .expect("client");
    let intake = telegram_gateway::inbound::Intake {
        bus: h.bus.clone(),
        store: h.store.clone(),
        telegram,
        allowlist: vec![ALICE],
        refusal_text: String::new(),
    };
    assert_eq!(intake.event_id(7), intake.event_id(7));
    assert_ne!(intake.event_id(7), intake.event_id(8));
    let mut h = h;
    h.stop().await;
}
