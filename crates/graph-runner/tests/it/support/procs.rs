//! The whole conversation path with real processes: the Telegram and LLM simulators in this test process,
//! telegram-gateway and graph-runner as separate processes (SIGKILL-able), real Redis and PostgreSQL.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use orch_testkit::db::TestDatabase;
use orch_testkit::llm::{LlmSim, Rule};
use orch_testkit::telegram::{
    ButtonPress, SentMessage, SimBot, TelegramConfig, TelegramSim, TgUser,
};
use sqlx::PgPool;
use tokio::process::{Child, Command};

use super::{llm, prefix, redis_url};

pub const BOB: i64 = 7373;

/// Finds a workspace binary next to the test executable (`target/<profile>/<name>`).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A service process.
pub struct Proc {
    child: Child,
    port: u16,
}

impl Proc {
    /// SIGKILL, and wait until it is gone.
    pub async fn kill9(mut self) {
        self.child.start_kill().expect("SIGKILL");
        self.child.wait().await.expect("reaped");
    }

    /// SIGTERM, and expect a clean exit within 20 s.
    pub async fn terminate(mut self) {
        let pid = self.child.id().expect("running").to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("exits within 20 s")
            .expect("status");
        assert!(status.success(), "exit status {status}");
    }

    async fn wait_healthy(&mut self, name: &str) {
        let url = format!("http://127.0.0.1:{}/health", self.port);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .expect("client");
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{name} exited during startup with {status}; see its log in {}",
                    std::env::temp_dir().display()
                );
            }
            if client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{name} did not answer {url}");
    }
}

/// Simulators, a database, and the two services.
pub struct Stack {
    pub tg: TelegramSim,
    pub bot: SimBot,
    pub llm: LlmSim,
    pub pool: PgPool,
    pub user: TgUser,
    pub runner: Option<Proc>,
    pub gateway: Option<Proc>,
    /// Extra `GRAPH_RUNNER__*` settings for the next runner start.
    pub runner_env: Vec<(String, String)>,
    token: String,
    prefix: String,
    db: Option<TestDatabase>,
    starts: u32,
}

impl Stack {
    /// Starts everything and waits until both services answer `/health`.
    pub async fn start(rules: Vec<Rule>) -> Self {
        let mut stack = Self::new(rules).await;
        stack.spawn_runner().await;
        stack.spawn_gateway().await;
        stack
    }

    pub async fn new(rules: Vec<Rule>) -> Self {
        let token = format!(
            "{}:e2e-secret",
            200_000 + uuid::Uuid::new_v4().as_u128() % 700_000
        );
        let tg = TelegramSim::start(TelegramConfig::with_token(token.clone()))
            .await
            .expect("telegram sim");
        let bot = tg.bot(&token).expect("bot");
        let db = TestDatabase::create().await.expect("test database");
        Self {
            bot,
            tg,
            llm: llm(rules).await,
            pool: db.pool.clone(),
            user: TgUser::new(BOB, "Bob").with_username("bob"),
            runner: None,
            gateway: None,
            runner_env: Vec::new(),
            token,
            prefix: prefix("e2e"),
            db: Some(db),
            starts: 0,
        }
    }

    fn command(&mut self, binary: PathBuf, name: &str) -> Command {
        self.starts += 1;
        let log = std::env::temp_dir().join(format!("{name}-{}-{}.log", self.prefix, self.starts));
        let db = self.db.as_ref().expect("database");
        let mut command = Command::new(binary);
        command
            .current_dir(std::env::temp_dir())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &db.url)
            .env("REDIS_URL", redis_url())
            .env("BUS_PREFIX", &self.prefix)
            .env("BUS_CLAIM_MIN_IDLE_SECS", "1")
            .env("SHUTDOWN_GRACE_SECS", "5")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("log file"))
            .kill_on_drop(true);
        command
    }

    pub async fn spawn_runner(&mut self) {
        let port = free_port();
        let endpoint = self.llm.base_url();
        let mut command = self.command(
            PathBuf::from(env!("CARGO_BIN_EXE_graph-runner")),
            "graph-runner",
        );
        command
            .env("GRAPH_RUNNER__HTTP_LISTEN", format!("127.0.0.1:{port}"))
            .env("GRAPH_RUNNER__LEASE_TTL_SECS", "2")
            .env("GRAPH_RUNNER__OUTBOX_IDLE_MS", "100")
            .env("GRAPH_RUNNER__LLM_MAX_ATTEMPTS", "1")
            .env("GRAPH_RUNNER__BRAINSTORM__PROVIDER", "openai_compatible")
            .env("GRAPH_RUNNER__BRAINSTORM__MODEL", "sim-model")
            .env("GRAPH_RUNNER__BRAINSTORM__ENDPOINT", endpoint)
            .envs(self.runner_env.clone());
        let mut proc = Proc {
            child: command.spawn().expect("spawn graph-runner"),
            port,
        };
        proc.wait_healthy("graph-runner").await;
        self.runner = Some(proc);
    }

    pub async fn spawn_gateway(&mut self) {
        let port = free_port();
        let api = self.tg.api_url();
        let (token, user) = (self.token.clone(), self.user.id.to_string());
        let mut command = self.command(workspace_binary("telegram-gateway"), "telegram-gateway");
        command
            .env("TELEGRAM_GATEWAY__HTTP_LISTEN", format!("127.0.0.1:{port}"))
            .env("TELEGRAM_GATEWAY__BOT_TOKEN", token)
            .env("TELEGRAM_GATEWAY__API_URL", api)
            .env("TELEGRAM_GATEWAY__ALLOWED_USER_IDS", user)
            .env("TELEGRAM_GATEWAY__POLL_TIMEOUT_SECS", "1");
        let mut proc = Proc {
            child: command.spawn().expect("spawn telegram-gateway"),
            port,
        };
        proc.wait_healthy("telegram-gateway").await;
        self.gateway = Some(proc);
    }

    pub async fn kill_runner(&mut self) {
        self.runner.take().expect("runner running").kill9().await;
    }

    pub async fn kill_gateway(&mut self) {
        self.gateway.take().expect("gateway running").kill9().await;
    }

    /// The person writes `text`.
    pub fn say(&self, text: &str) {
        self.bot
            .send_text(&self.user, text)
            .expect("inject message");
    }

    /// The person presses the button with `data` under message `message_id`.
    pub fn press(&self, message_id: i32, data: &str) {
        let press = ButtonPress {
            from: self.user.clone(),
            chat_id: BOB,
            message_id,
            data: data.to_owned(),
        };
        self.bot.press_button(&press).expect("press");
    }

    /// Waits until the bot sent `n` messages to the person; returns them.
    pub async fn messages(&self, n: usize, within: Duration) -> Vec<SentMessage> {
        self.bot
            .wait_for_messages(BOB, n, within)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{e}; transcript so far: {:#?}",
                    texts_of(&self.bot.sent_messages(BOB))
                )
            })
    }

    /// How many successful calls of `method` concerned the person's chat.
    pub fn calls(&self, method: &str) -> usize {
        self.bot
            .transcript(BOB)
            .calls
            .iter()
            .filter(|c| c.method == method && c.is_ok())
            .count()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Stops both services (SIGTERM, expecting a clean exit) and drops the database.
    pub async fn finish(mut self) {
        if let Some(runner) = self.runner.take() {
            runner.terminate().await;
        }
        if let Some(gateway) = self.gateway.take() {
            gateway.terminate().await;
        }
        self.pool.close().await;
        if let Some(db) = self.db.take() {
            db.drop_database().await;
        }
    }
}

/// The texts of messages, as the person sees them.
pub fn texts_of(messages: &[SentMessage]) -> Vec<String> {
    messages.iter().map(|m| m.text.clone()).collect()
}

/// Checks that the person saw exactly `expected` (each a prefix of one message), in order.
pub fn assert_transcript(messages: &[SentMessage], expected: &[&str]) {
    let texts = texts_of(messages);
    let matches =
        texts.len() == expected.len() && texts.iter().zip(expected).all(|(t, e)| t.starts_with(e));
    assert!(
        matches,
        "expected messages starting with {expected:#?}\ngot {texts:#?}"
    );
}
