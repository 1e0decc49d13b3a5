//! The graph-runner in-process, talking to the bus directly: tests publish `chat:in` and read `chat:out`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use graph_runner::{Application, GraphRunnerConfig, ModelSeed};
use orch_bus::{Bus, BusConfig, Group};
use orch_contracts::messages::chat::{ChatAction, ChatEvent, ChatIn, ChatOut, ChatUser};
use orch_contracts::{Envelope, EventId, StreamKey, streams};
use orch_service_kit::{CommonSettings, Service as _, Settings};
use orch_store::Store;
use orch_testkit::db::TestDatabase;
use orch_testkit::llm::{LlmSim, Rule};
use secrecy::SecretString;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{llm, prefix, redis_url};

pub const ALICE: i64 = 5151;

static UPDATES: AtomicI64 = AtomicI64::new(1);

pub struct Service {
    pub llm: LlmSim,
    pub store: Store,
    pub bus: Bus,
    pub config: GraphRunnerConfig,
    db: Option<TestDatabase>,
    prefix: String,
    running: Option<(CancellationToken, JoinHandle<anyhow::Result<()>>)>,
    reader: Group,
}

impl Service {
    /// A database, a bus prefix and a scripted model; the service is not running yet.
    pub async fn new(rules: Vec<Rule>) -> Self {
        let db = TestDatabase::create().await.expect("test database");
        let llm = llm(rules).await;
        let prefix = prefix("svc");
        let bus = Bus::connect(
            &redis_url(),
            BusConfig {
                prefix: prefix.clone(),
                ..BusConfig::default()
            },
        )
        .expect("bus");
        let reader = Group::new(
            &bus,
            &StreamKey::from(streams::CHAT_OUT),
            "test-reader",
            "r",
        );
        reader.ensure().await.expect("reader group");
        let config = GraphRunnerConfig {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            lease_ttl_secs: 2,
            outbox_idle_ms: 50,
            llm_max_attempts: 1,
            brainstorm: Some(seed(&llm.base_url())),
            ..GraphRunnerConfig::default()
        };
        Self {
            llm,
            store: Store::from_pool(db.pool.clone()),
            bus,
            config,
            db: Some(db),
            prefix,
            running: None,
            reader,
        }
    }

    /// Like [`Service::new`], then runs the service.
    pub async fn start(rules: Vec<Rule>) -> Self {
        let mut service = Self::new(rules).await;
        service.run().await;
        service
    }

    pub fn settings(&self) -> Settings<GraphRunnerConfig> {
        let db = self.db.as_ref().expect("database");
        let common = CommonSettings {
            database_url: Some(SecretString::from(db.url.clone())),
            redis_url: Some(SecretString::from(redis_url())),
            bus_prefix: self.prefix.clone(),
            bus_claim_min_idle_secs: 1,
            shutdown_grace_secs: 5,
            ..CommonSettings::default()
        };
        Settings {
            common,
            service: self.config.clone(),
        }
    }

    pub async fn run(&mut self) {
        let app = Application::build(self.settings())
            .await
            .expect("graph-runner builds");
        let stop = CancellationToken::new();
        let handle = tokio::spawn(app.run_until_stopped(stop.clone()));
        self.running = Some((stop, handle));
    }

    pub async fn stop(&mut self) {
        if let Some((stop, handle)) = self.running.take() {
            stop.cancel();
            handle.await.expect("joins").expect("stops cleanly");
        }
    }

    /// Stops the service, then releases the pool and drops the database.
    pub async fn finish(mut self) {
        self.stop().await;
        self.store.pool().close().await;
        if let Some(db) = self.db.take() {
            db.drop_database().await;
        }
    }

    pub fn chat_in(chat_id: i64, event: ChatEvent) -> Envelope<ChatIn> {
        let user = ChatUser {
            id: ALICE,
            username: Some("alice".into()),
            first_name: "Alice".into(),
        };
        let update_id = UPDATES.fetch_add(1, Ordering::SeqCst);
        Envelope::new(ChatIn {
            update_id,
            chat_id,
            user,
            event,
        })
    }

    pub async fn publish(&self, envelope: &Envelope<ChatIn>) -> EventId {
        self.bus
            .publish(&StreamKey::from(streams::CHAT_IN), envelope)
            .await
            .expect("publish chat:in");
        envelope.event_id
    }

    pub async fn text(&self, text: &str) -> EventId {
        self.publish(&Self::chat_in(
            ALICE,
            ChatEvent::Text {
                message_id: 1,
                text: text.into(),
            },
        ))
        .await
    }

    pub async fn command(&self, command: &str, args: &str) -> EventId {
        let event = ChatEvent::Command {
            message_id: 1,
            command: command.into(),
            args: args.into(),
        };
        self.publish(&Self::chat_in(ALICE, event)).await
    }

    pub async fn press(&self, query: &str, data: &str) -> EventId {
        let event = ChatEvent::Button {
            callback_query_id: query.into(),
            message_id: Some(1),
            data: data.into(),
        };
        self.publish(&Self::chat_in(ALICE, event)).await
    }

    /// Waits for exactly `n` more `chat:out` messages (and checks no further one follows within 300 ms).
    pub async fn replies(&self, n: usize, within: Duration) -> Vec<ChatAction> {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        while got.len() < n && tokio::time::Instant::now() < deadline {
            got.extend(self.read(Duration::from_millis(200)).await);
        }
        assert_eq!(got.len(), n, "expected {n} replies, got {got:#?}");
        let extra = self.read(Duration::from_millis(300)).await;
        assert!(extra.is_empty(), "unexpected further replies: {extra:#?}");
        got
    }

    /// Reads what arrives on `chat:out` within `block`.
    pub async fn read(&self, block: Duration) -> Vec<ChatAction> {
        let entries = self
            .reader
            .read_new(100, block)
            .await
            .expect("read chat:out");
        let mut ids = Vec::new();
        let mut actions = Vec::new();
        for entry in entries {
            let envelope = Envelope::<ChatOut>::from_fields(&entry.fields).expect("valid chat:out");
            assert_eq!(envelope.body.chat_id, ALICE);
            ids.push(entry.id);
            actions.push(envelope.body.action);
        }
        self.reader.ack(&ids).await.expect("ack");
        actions
    }

    /// Runs SQL returning one bigint.
    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(self.store.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs SQL returning one JSON value.
    pub async fn json(&self, sql: &str) -> Value {
        sqlx::query_scalar::<_, Value>(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(self.store.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub async fn execute(&self, sql: &str) {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(self.store.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// A `brainstorm` seed pointing at the simulator.
pub fn seed(base_url: &str) -> ModelSeed {
    serde_json::from_value(serde_json::json!({
        "provider": "openai_compatible", "model": "sim-model", "endpoint": base_url
    }))
    .expect("seed")
}

/// The texts of sends and edits.
pub fn texts(actions: &[ChatAction]) -> Vec<String> {
    actions.iter().map(|a| text(a).to_owned()).collect()
}

/// The text of a `Send`.
pub fn text(action: &ChatAction) -> &str {
    match action {
        ChatAction::Send { text, .. } | ChatAction::Edit { text, .. } => text,
        ChatAction::AnswerButton { text, .. } => text.as_deref().unwrap_or(""),
    }
}

/// The callback data of a `Send`'s buttons.
pub fn buttons(action: &ChatAction) -> Vec<String> {
    match action {
        ChatAction::Send { buttons, .. } => {
            buttons.iter().flatten().map(|b| b.data.clone()).collect()
        }
        _ => Vec::new(),
    }
}
