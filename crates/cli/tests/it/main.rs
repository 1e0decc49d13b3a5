//! The CLI as a process against real Redis and PostgreSQL.

mod secrets;

use std::process::Command;

use orch_bus::{Bus, BusConfig};
use orch_contracts::messages::chat::{ChatEvent, ChatIn, ChatUser};
use orch_contracts::{Envelope, StreamKey};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_orchestrator"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[tokio::test]
async fn dead_letters_are_listed_and_replayed() {
    let prefix = format!("cli-{}", uuid::Uuid::new_v4().simple());
    let bus = Bus::connect(
        &redis_url(),
        BusConfig {
            prefix: prefix.clone(),
            ..BusConfig::default()
        },
    )
    .expect("bus");
    let stream = StreamKey::new("chat:in");
    let group = orch_bus::Group::new(&bus, &stream, "g", "c");
    group.ensure().await.expect("group");
    let body = ChatIn {
        update_id: 1,
        chat_id: 5,
        user: ChatUser {
            id: 5,
            username: None,
            first_name: "A".into(),
        },
        event: ChatEvent::Text {
            message_id: 1,
            text: "hi".into(),
        },
    };
    bus.publish(&stream, &Envelope::new(body))
        .await
        .expect("publish");
    let entry = group
        .read_new(1, std::time::Duration::from_millis(100))
        .await
        .expect("read")
        .remove(0);
    group
        .dead_letter(&entry, "graph-runner was misconfigured")
        .await
        .expect("dead letter");

    let redis = redis_url();
    let base = [
        "dlq",
        "--redis-url",
        redis.as_str(),
        "--prefix",
        prefix.as_str(),
    ];
    let (ok, out, err) = cli(&[&base[..], &["list", "chat:in"]].concat());
    assert!(ok, "{err}");
    assert!(out.contains("graph-runner was misconfigured"), "{out}");
    let dlq_id = out.split_whitespace().next().expect("an id").to_owned();

    let (ok, out, err) = cli(&[&base[..], &["replay", "chat:in", &dlq_id]].concat());
    assert!(ok, "{err}");
    assert!(out.contains("replayed"), "{out}");
    assert!(bus.dead_letters(&stream, 10).await.expect("dlq").is_empty());
    let replayed = group
        .read_new(1, std::time::Duration::from_millis(100))
        .await
        .expect("read");
    assert_eq!(replayed.len(), 1, "the entry is back on its stream");
    assert_eq!(replayed[0].fields["body"], entry.fields["body"]);

    let (ok, _, err) = cli(&[&base[..], &["replay", "chat:in", "0-1"]].concat());
    assert!(!ok);
    assert!(err.contains("no dead letter 0-1"), "{err}");
}

#[test]
fn status_reports_an_unreachable_api_clearly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let (ok, _, err) = cli(&["status", "--api-url", &format!("http://127.0.0.1:{port}")]);
    assert!(!ok);
    assert!(err.contains("the api does not answer"), "{err}");
}

#[tokio::test]
async fn migrate_applies_migrations_idempotently() {
    // A fresh database, so the test never depends on what another checkout applied to a shared one.
    let db = orch_testkit::db::TestDatabase::create()
        .await
        .expect("test database");
    for _ in 0..2 {
        let (ok, out, err) = cli(&["migrate", "--database-url", &db.url]);
        assert!(ok, "{err}");
        assert!(out.contains("migrations applied"));
    }
    db.drop_database().await;
}
