//! kill -9 the gateway process while replies are queued: after a restart every reply arrives, once, in order.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::harness::*;

fn spawn(h: &Harness, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_telegram-gateway"))
        .env("DATABASE_URL", &h.db_url)
        .env("REDIS_URL", redis_url())
        .env("BUS_PREFIX", &h.prefix)
        .env("BUS_CLAIM_MIN_IDLE_SECS", "1")
        .env("TELEGRAM_GATEWAY__HTTP_LISTEN", format!("127.0.0.1:{port}"))
        .env("TELEGRAM_GATEWAY__BOT_TOKEN", &h.token)
        .env("TELEGRAM_GATEWAY__API_URL", h.sim.api_url())
        .env("TELEGRAM_GATEWAY__ALLOWED_USER_IDS", ALICE.to_string())
        .env("TELEGRAM_GATEWAY__POLL_TIMEOUT_SECS", "1")
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(std::env::temp_dir().join(format!("gateway-crash-{port}.log")))
                .expect("log file"),
        )
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the gateway")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[tokio::test]
async fn replies_queued_at_a_sigkill_are_all_delivered_after_restart() {
    let h = Harness::start().await;
    let mut gateway = spawn(&h, free_port());
    h.bot.send_text(&alice(), "hello").expect("inject");
    h.chat_in(1).await; // the gateway is up and the chat exists
    // Telegram rate-limits the first send for 5 s: the gateway is stuck waiting with replies queued behind it.
    h.bot.fail_next_sends(1, 5).expect("inject 429");
    for n in 1..=10 {
        h.say(ALICE, send(&format!("reply {n}"))).await;
    }
    h.bot
        .wait_for_transcript(ALICE, Duration::from_secs(10), |t| {
            t.calls.iter().any(|c| c.error_code == Some(429))
        })
        .await
        .expect("the gateway hit the rate limit");
    gateway.start_kill().expect("SIGKILL");
    gateway.wait().await.expect("dead");
    assert!(
        h.bot.sent_messages(ALICE).is_empty(),
        "nothing was delivered before the kill"
    );

    let mut restarted = spawn(&h, free_port());
    let sent = h
        .bot
        .wait_for_messages(ALICE, 10, Duration::from_secs(30))
        .await
        .expect("delivered after restart");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let texts: Vec<String> = h
        .bot
        .sent_messages(ALICE)
        .into_iter()
        .map(|m| m.text)
        .collect();
    let expected: Vec<String> = (1..=10).map(|n| format!("reply {n}")).collect();
    assert_eq!(
        texts,
        expected,
        "all ten, once each, in order ({} seen first)",
        sent.len()
    );
    restarted.start_kill().ok();
    let _ = restarted.wait().await;
    let mut h = h;
    h.stop().await;
}
