//! A gateway running in-process against its own simulated bot, under its own Redis key prefix.

use std::net::SocketAddr;
use std::time::Duration;

use orch_bus::{Bus, BusConfig, Group};
use orch_contracts::messages::chat::{ChatAction, ChatIn, ChatOut, TextFormat};
use orch_contracts::{Envelope, StreamKey, streams};
use orch_service_kit::{CommonSettings, Service, Settings};
use orch_store::Store;
use orch_testkit::telegram::{SimBot, TelegramConfig, TelegramSim, TgUser};
use secrecy::SecretString;
use telegram_gateway::{Application, GatewayConfig, Mode};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const ALICE: i64 = 4242;

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn alice() -> TgUser {
    TgUser::new(ALICE, "Alice").with_username("alice")
}

/// A fresh bot token (a random bot id keeps polling leases apart between tests).
pub fn token() -> String {
    format!("{}:test-secret", 100_000 + rand_id() % 900_000)
}

fn rand_id() -> u64 {
    uuid::Uuid::new_v4().as_u128() as u64
}

pub struct Harness {
    pub sim: TelegramSim,
    pub bot: SimBot,
    pub bus: Bus,
    pub store: Store,
    pub prefix: String,
    pub token: String,
    pub db_url: String,
    db: Option<orch_testkit::db::TestDatabase>,
    gateways: Vec<(
        CancellationToken,
        JoinHandle<anyhow::Result<()>>,
        SocketAddr,
    )>,
}

impl Harness {
    pub async fn start() -> Self {
        let token = token();
        let sim = TelegramSim::start(TelegramConfig::with_token(token.clone()))
            .await
            .expect("sim");
        let bot = sim.bot(&token).expect("bot");
        let prefix = format!("gw-{}", uuid::Uuid::new_v4().simple());
        let bus = Bus::connect(
            &redis_url(),
            BusConfig {
                prefix: prefix.clone(),
                ..BusConfig::default()
            },
        )
        .expect("bus");
        let db = orch_testkit::db::TestDatabase::create()
            .await
            .expect("test database");
        let store = Store::from_pool(db.pool.clone());
        Self {
            sim,
            bot,
            bus,
            store,
            prefix,
            token,
            db_url: db.url.clone(),
            db: Some(db),
            gateways: Vec::new(),
        }
    }

    pub fn settings(&self, mode: Mode, webhook_url: Option<String>) -> Settings<GatewayConfig> {
        let common = CommonSettings {
            database_url: Some(SecretString::from(self.db_url.clone())),
            redis_url: Some(SecretString::from(redis_url())),
            bus_prefix: self.prefix.clone(),
            bus_claim_min_idle_secs: 1,
            ..CommonSettings::default()
        };
        let service = GatewayConfig {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            bot_token: Some(SecretString::from(self.token.clone())),
            api_url: self.sim.api_url(),
            mode,
            webhook_url,
            webhook_secret: Some(SecretString::from("hook-secret".to_owned())),
            allowed_user_ids: vec![ALICE],
            poll_timeout_secs: 1,
            ..GatewayConfig::default()
        };
        Settings { common, service }
    }

    /// Starts one more gateway instance; returns its HTTP address.
    pub async fn gateway(&mut self, settings: Settings<GatewayConfig>) -> SocketAddr {
        let app = Application::build(settings).await.expect("gateway builds");
        let addr = app.local_addr().expect("addr");
        let stop = CancellationToken::new();
        let handle = tokio::spawn(app.run_until_stopped(stop.clone()));
        self.gateways.push((stop, handle, addr));
        addr
    }

    pub async fn polling_gateway(&mut self) -> SocketAddr {
        let settings = self.settings(Mode::Polling, None);
        self.gateway(settings).await
    }

    /// Stops every gateway gracefully and checks they stopped cleanly.
    pub async fn stop(&mut self) {
        for (stop, _, _) in &self.gateways {
            stop.cancel();
        }
        for (_, handle, _) in self.gateways.drain(..) {
            handle.await.expect("joins").expect("stops cleanly");
        }
        if let Some(db) = self.db.take() {
            db.drop_database().await;
        }
    }

    /// Reads what reached `chat:in` so far (a test consumer group; nothing else reads it here).
    pub async fn chat_in(&self, expected: usize) -> Vec<Envelope<ChatIn>> {
        let group = Group::new(
            &self.bus,
            &StreamKey::from(streams::CHAT_IN),
            "test-reader",
            "r",
        );
        group.ensure().await.expect("group");
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while got.len() < expected && tokio::time::Instant::now() < deadline {
            for entry in group
                .read_new(100, Duration::from_millis(200))
                .await
                .expect("read")
            {
                got.push(Envelope::<ChatIn>::from_fields(&entry.fields).expect("valid chat:in"));
            }
        }
        // Anything beyond `expected` arriving shortly after would be a duplicate.
        for entry in group
            .read_new(100, Duration::from_millis(300))
            .await
            .expect("read")
        {
            got.push(Envelope::<ChatIn>::from_fields(&entry.fields).expect("valid chat:in"));
        }
        got
    }

    pub async fn say(&self, chat_id: i64, action: ChatAction) -> Envelope<ChatOut> {
        let envelope = Envelope::new(ChatOut { chat_id, action });
        self.bus
            .publish(&StreamKey::from(streams::CHAT_OUT), &envelope)
            .await
            .expect("publish");
        envelope
    }
}

pub fn send(text: &str) -> ChatAction {
    ChatAction::Send {
        text: text.into(),
        format: TextFormat::Plain,
        buttons: vec![],
        ref_key: None,
    }
}
