//! Exactly one poller per bot token: a second gateway stands by and no update is taken twice.

use std::time::Duration;

use crate::harness::*;

#[tokio::test]
async fn two_gateways_on_one_token_deliver_each_update_once() {
    let mut h = Harness::start().await;
    h.polling_gateway().await;
    h.polling_gateway().await;
    for n in 0..20 {
        h.bot
            .send_text(&alice(), &format!("message {n}"))
            .expect("inject");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = h.chat_in(20).await;
    assert_eq!(got.len(), 20, "every update once, none twice");
    let conflicts = h
        .bot
        .calls()
        .iter()
        .filter(|c| c.error_code == Some(409))
        .count();
    assert_eq!(conflicts, 0, "the standby never polled");
    h.stop().await;
}
