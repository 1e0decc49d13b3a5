//! Starting zavhoz in-process on a test database, with a manual clock, test age keys and one token per
//! caller identity; seeding people and projects.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use orch_service_kit::{CommonSettings, Service, Settings};
use orch_sops::{Document, Format, Recipient, encrypt};
use orch_zavhoz_client::{ZavhozClient, ZavhozClientConfig};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use zavhoz::{Application, CallerIdentity, ManualClock, TokenDigest, Zavhoz, ZavhozConfig};

/// Every identity a test can call as.
pub const IDENTITIES: [CallerIdentity; 6] = [
    CallerIdentity::GraphRunner,
    CallerIdentity::WorkerSpawner,
    CallerIdentity::DevopsRunner,
    CallerIdentity::TelegramGateway,
    CallerIdentity::Api,
    CallerIdentity::Operator,
];

/// The default secrets.yaml of a test.
pub const SECRETS_YAML: &str =
    "llm:\n    anthropic_key: sk-ant-test-value\ndeploy:\n    ssh_key: ssh-test-value\n";

/// The test's base database URL (the server; the database name is replaced per test).
pub fn base_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        "postgres://orchestrator:orchestrator@127.0.0.1:5432/orchestrator".into()
    })
}

/// The URL of the database `#[sqlx::test]` created for this test.
pub fn database_url(pool: &PgPool) -> String {
    let name = pool
        .connect_options()
        .get_database()
        .expect("sqlx::test names its database")
        .to_owned();
    let base = base_url();
    let (server, _) = base.rsplit_once('/').expect("a database URL has a path");
    format!("{server}/{name}")
}

/// The token a test uses for `identity`.
pub fn token(identity: CallerIdentity) -> String {
    format!("test-token-{}", identity.as_str())
}

/// Keys and the secrets file of one test.
pub struct SecretsDir {
    /// Holds the files.
    pub dir: tempfile::TempDir,
    /// The age key file.
    pub key_file: PathBuf,
    /// secrets.yaml.
    pub secrets_file: PathBuf,
    /// Its recipient.
    pub recipient: Recipient,
}

impl SecretsDir {
    /// Creates a key and writes `plain` encrypted to it.
    pub fn new(plain: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let identity = orch_sops::AgeIdentity::generate();
        let key_file = dir.path().join("keys.txt");
        std::fs::write(&key_file, identity.to_string().expose_secret()).expect("key file");
        let recipient = Recipient::parse(&identity.to_public().to_string()).expect("recipient");
        let secrets_file = dir.path().join("secrets.yaml");
        let this = Self {
            dir,
            key_file,
            secrets_file,
            recipient,
        };
        this.write(plain);
        this
    }

    /// Rewrites secrets.yaml.
    pub fn write(&self, plain: &str) {
        write_encrypted(&self.secrets_file, plain, &self.recipient);
    }
}

/// Writes `plain` as a sops file encrypted to `recipient`.
pub fn write_encrypted(path: &Path, plain: &str, recipient: &Recipient) {
    let doc = Document::parse(plain, Format::Yaml).expect("yaml");
    let file = encrypt(&doc, std::slice::from_ref(recipient), Format::Yaml).expect("encrypts");
    std::fs::write(path, file.to_string()).expect("writes");
}

/// The configuration of a test zavhoz (ports 0, two servers, ten ports each, every identity known).
pub fn config(secrets: &SecretsDir) -> ZavhozConfig {
    let callers: BTreeMap<CallerIdentity, TokenDigest> = IDENTITIES
        .iter()
        .map(|i| (*i, TokenDigest::of_token(&token(*i))))
        .collect();
    ZavhozConfig {
        http_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        grpc_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        secrets_file: secrets.secrets_file.clone(),
        age_key_file: Some(secrets.key_file.clone()),
        callers,
        reaper_interval_ms: 3_600_000,
        servers: vec!["srv-1".into(), "srv-2".into()],
        port_range_start: 20000,
        port_range_end: 20009,
        base_domain: "apps.example.test".into(),
        repository_owner: "acme".into(),
        ..ZavhozConfig::default()
    }
}

/// A running zavhoz.
pub struct TestApp {
    /// The gRPC URL.
    pub grpc_url: String,
    /// The health server URL.
    pub http_url: String,
    /// The clock zavhoz uses.
    pub clock: Arc<ManualClock>,
    /// Its operations.
    pub zavhoz: Arc<Zavhoz>,
    /// Its secrets.
    pub secrets: SecretsDir,
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    /// Starts zavhoz on the test database with the default secrets and configuration.
    pub async fn start(pool: PgPool) -> Self {
        Self::start_with(pool, SecretsDir::new(SECRETS_YAML), |_| {}).await
    }

    /// Starts zavhoz with `secrets`, after `tweak` adjusts the configuration.
    pub async fn start_with(
        pool: PgPool,
        secrets: SecretsDir,
        tweak: impl FnOnce(&mut ZavhozConfig),
    ) -> Self {
        let mut service = config(&secrets);
        tweak(&mut service);
        let settings = Settings {
            common: CommonSettings {
                database_url: Some(SecretString::from(database_url(&pool))),
                ..CommonSettings::default()
            },
            service,
        };
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let app = Application::build_with_clock(settings, clock.clone())
            .await
            .expect("zavhoz builds");
        let grpc_url = format!("http://{}", app.grpc_addr().expect("grpc addr"));
        let http_url = format!("http://{}", app.local_addr().expect("http addr"));
        let zavhoz = app.zavhoz();
        let stop = CancellationToken::new();
        let handle = tokio::spawn(app.run_until_stopped(stop.clone()));
        Self {
            grpc_url,
            http_url,
            clock,
            zavhoz,
            secrets,
            stop,
            handle,
        }
    }

    /// A client authenticated as `identity`.
    pub async fn client(&self, identity: CallerIdentity) -> ZavhozClient {
        let config = ZavhozClientConfig::new(self.grpc_url.clone(), token(identity));
        ZavhozClient::connect(&config).await.expect("connects")
    }

    /// Stops zavhoz and checks it stopped cleanly.
    pub async fn stop(self) {
        self.stop.cancel();
        self.handle
            .await
            .expect("joins")
            .expect("zavhoz stops cleanly");
    }
}

/// Creates a person; returns their users.id.
pub async fn user(pool: &PgPool) -> i64 {
    let telegram_id = i64::from(rand::random::<u32>());
    let mut conn = pool.acquire().await.expect("conn");
    orch_store::users::upsert_telegram(&mut conn, telegram_id, "Tester", true)
        .await
        .expect("user")
        .id
}

/// Creates a project of `owner`.
pub async fn project(pool: &PgPool, owner: i64) -> Uuid {
    let id = orch_contracts::ProjectId::new();
    let mut conn = pool.acquire().await.expect("conn");
    let name = format!("p-{}", &id.0.simple().to_string()[..12]);
    orch_store::projects::create(
        &mut conn,
        &orch_store::projects::NewProject {
            id,
            owner_user_id: owner,
            name: &name,
            budget_usd_micros: 1_000_000,
        },
    )
    .await
    .expect("project");
    id.0
}

/// Returns the audit records of `action` for `subject`, oldest first.
pub async fn audit(pool: &PgPool, action: &str, subject: &str) -> Vec<serde_json::Value> {
    sqlx::query_scalar::<_, serde_json::Value>(
        "SELECT jsonb_build_object('actor', actor, 'detail', detail, 'run_id', run_id)
         FROM audit_log WHERE action = $1 AND subject = $2 ORDER BY id",
    )
    .bind(action)
    .bind(subject)
    .fetch_all(pool)
    .await
    .expect("audit")
}
