//! Webhook mode: the simulator posts updates to the gateway with the secret; a wrong secret is refused.

use std::time::Duration;

use orch_contracts::messages::chat::ChatEvent;
use telegram_gateway::Mode;

use crate::harness::*;

#[tokio::test]
async fn updates_posted_to_the_webhook_reach_chat_in_and_forgeries_do_not() {
    let mut h = Harness::start().await;
    // Bind first to learn the port, then register the webhook URL with that port.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = probe.local_addr().expect("addr");
    drop(probe);
    let mut settings = h.settings(
        Mode::Webhook,
        Some(format!("http://{addr}/telegram/webhook")),
    );
    settings.service.http_listen = addr;
    h.gateway(settings).await;
    assert_eq!(
        h.bot.webhook_info()["url"],
        format!("http://{addr}/telegram/webhook")
    );

    h.bot.send_text(&alice(), "via webhook").expect("inject");
    let got = h.chat_in(1).await;
    assert!(matches!(&got[0].body.event, ChatEvent::Text { text, .. } if text == "via webhook"));

    let forged = reqwest::Client::new()
        .post(format!("http://{addr}/telegram/webhook"))
        .header("X-Telegram-Bot-Api-Secret-Token", "wrong")
        .body(r#"{"update_id": 1, "message": {}}"#)
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 401);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        h.chat_in(0).await.is_empty(),
        "the forged update went nowhere"
    );
    h.stop().await;
}
