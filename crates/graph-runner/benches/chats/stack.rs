//! The system under test: a fresh database, the Telegram and LLM simulators in this process, and the
//! telegram-gateway and graph-runner as separate processes with production settings (only ports, the bus
//! prefix, the allowlist and the model endpoint are set).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use orch_testkit::db::TestDatabase;
use orch_testkit::llm::{Answer, LlmConfig, LlmSim};
use orch_testkit::telegram::{SimBot, TelegramConfig, TelegramSim, TgUser};
use tokio::process::{Child, Command};

/// The first Telegram user id of the benchmark's people.
const FIRST_USER: i64 = 1_000_001;

/// Simulators, database and the two service processes.
pub struct Stack {
    /// The Telegram simulator.
    pub tg: TelegramSim,
    /// The bot the gateway talks as.
    pub bot: SimBot,
    /// The model simulator (no latency).
    pub llm: LlmSim,
    /// The graph-runner process.
    pub runner: Proc,
    /// The telegram-gateway process.
    pub gateway: Proc,
    db: TestDatabase,
}

/// A running service process.
pub struct Proc {
    /// Its name (for reports).
    pub name: &'static str,
    child: Child,
    port: u16,
}

impl Proc {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    async fn wait_healthy(&mut self) -> anyhow::Result<()> {
        let url = format!("http://127.0.0.1:{}/health", self.port);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()?;
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited during startup with {status}; see its log",
                    self.name
                );
            }
            if client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{} did not answer {url}", self.name)
    }

    /// SIGTERM, then waits for the exit.
    async fn terminate(mut self) -> anyhow::Result<()> {
        let pid = self.pid().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()?;
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .context("exit within 30 s")??;
        if !status.success() {
            bail!("{} exited with {status}", self.name);
        }
        Ok(())
    }
}

/// The `i`-th person of the benchmark.
pub fn person(i: usize) -> TgUser {
    TgUser::new(FIRST_USER + i as i64, format!("P{i}"))
}

impl Stack {
    /// Starts everything for `people` allowed persons; waits until both services answer `/health`.
    pub async fn start(people: usize, logs: &std::path::Path) -> anyhow::Result<Self> {
        let token = format!("{}:bench-secret", 300_000 + std::process::id());
        let tg = TelegramSim::start(TelegramConfig::with_token(token.clone())).await?;
        let bot = tg.bot(&token)?;
        let llm = LlmSim::start(LlmConfig {
            api_keys: Vec::new(),
            default_answer: Answer::text(r#"{"question":"Could you tell me more?"}"#),
            ..LlmConfig::default()
        })
        .await?;
        let db = TestDatabase::create().await?;
        let prefix = format!("bench-chats-{}", uuid::Uuid::new_v4().simple());
        let env = Env {
            db: db.url.clone(),
            prefix,
            logs: logs.to_path_buf(),
        };
        let runner = spawn_runner(&env, &llm.base_url()).await?;
        let gateway = spawn_gateway(&env, &tg.api_url(), &token, people).await?;
        Ok(Self {
            tg,
            bot,
            llm,
            runner,
            gateway,
            db,
        })
    }

    /// Stops both services (SIGTERM, clean exit expected), the simulators, and drops the database.
    pub async fn finish(self) -> anyhow::Result<()> {
        self.runner.terminate().await?;
        self.gateway.terminate().await?;
        self.tg.shutdown().await;
        self.llm.shutdown().await;
        self.db.pool.close().await;
        self.db.drop_database().await;
        Ok(())
    }

    /// Runs SQL returning one bigint on the benchmark's database.
    pub async fn count(&self, sql: &str) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_one(&self.db.pool)
                .await?,
        )
    }
}

/// What every service process shares.
struct Env {
    db: String,
    prefix: String,
    logs: PathBuf,
}

fn command(env: &Env, binary: PathBuf, name: &str) -> anyhow::Result<Command> {
    let log = env.logs.join(format!("{name}.log"));
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &env.db)
        .env("REDIS_URL", redis_url())
        .env("BUS_PREFIX", &env.prefix)
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).with_context(|| log.display().to_string())?)
        .kill_on_drop(true);
    Ok(command)
}

async fn spawn_runner(env: &Env, llm_endpoint: &str) -> anyhow::Result<Proc> {
    let port = free_port()?;
    let mut command = command(
        env,
        PathBuf::from(env!("CARGO_BIN_EXE_graph-runner")),
        "graph-runner",
    )?;
    command
        .env("GRAPH_RUNNER__HTTP_LISTEN", format!("127.0.0.1:{port}"))
        .env("GRAPH_RUNNER__BRAINSTORM__PROVIDER", "openai_compatible")
        .env("GRAPH_RUNNER__BRAINSTORM__MODEL", "sim-model")
        .env("GRAPH_RUNNER__BRAINSTORM__ENDPOINT", llm_endpoint);
    let mut proc = Proc {
        name: "graph-runner",
        child: command.spawn().context("spawn graph-runner")?,
        port,
    };
    proc.wait_healthy().await?;
    Ok(proc)
}

async fn spawn_gateway(env: &Env, api: &str, token: &str, people: usize) -> anyhow::Result<Proc> {
    let port = free_port()?;
    let allowed: Vec<String> = (0..people).map(|i| person(i).id.to_string()).collect();
    let mut command = command(env, sibling_binary("telegram-gateway")?, "telegram-gateway")?;
    command
        .env("TELEGRAM_GATEWAY__HTTP_LISTEN", format!("127.0.0.1:{port}"))
        .env("TELEGRAM_GATEWAY__BOT_TOKEN", token)
        .env("TELEGRAM_GATEWAY__API_URL", api)
        .env("TELEGRAM_GATEWAY__ALLOWED_USER_IDS", allowed.join(","));
    let mut proc = Proc {
        name: "telegram-gateway",
        child: command.spawn().context("spawn telegram-gateway")?,
        port,
    };
    proc.wait_healthy().await?;
    Ok(proc)
}

/// A workspace binary built into the same profile directory as this benchmark.
fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("the benchmark runs from target/<profile>/deps")?;
    let path = dir.join(name);
    if !path.exists() {
        bail!(
            "{} is not built: run `cargo build --release -p {name}` first",
            path.display()
        );
    }
    Ok(path)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}
