//! Canary at the zavhoz level (the zavhoz share of reliability test 16): unique canary values — one in
//! secrets.yaml, one given "in chat" through StoreUserSecret — are resolved through the full gRPC path by
//! the real binary running with `RUST_LOG=trace`, then looked for in everything it logged, in a `pg_dump`
//! of its database and in every Redis key: 0 hits. Each search has a positive control (something that must
//! be found there, e.g. the handle) so a search that cannot find anything fails the test.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orch_contracts::messages::worker::SecretHandle;
use orch_zavhoz_client::proto::{SecretSpec, secret_spec};
use orch_zavhoz_client::{Allocation, Spec, ZavhozClient, ZavhozClientConfig};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;
use zavhoz::{CallerIdentity, TokenDigest};

use crate::support::{SecretsDir, database_url, token, user};

type Log = Arc<Mutex<String>>;

fn collect(stream: impl AsyncRead + Unpin + Send + 'static, log: Log) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
            log.push_str(&line);
            log.push('\n');
        }
    });
}

fn text(log: &Log) -> String {
    log.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

fn spawn_zavhoz(pool: &PgPool, secrets: &SecretsDir) -> (Child, Log) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zavhoz"));
    command
        .current_dir(secrets.dir.path())
        .env("DATABASE_URL", database_url(pool))
        .env("RUST_LOG", "trace")
        .env("LOG_FORMAT", "json")
        .env("ZAVHOZ__HTTP_LISTEN", "127.0.0.1:0")
        .env("ZAVHOZ__GRPC_LISTEN", "127.0.0.1:0")
        .env("ZAVHOZ__SECRETS_FILE", &secrets.secrets_file)
        .env("ZAVHOZ__AGE_KEY_FILE", &secrets.key_file)
        .env("ZAVHOZ__SERVERS", "[srv-1]")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for identity in [CallerIdentity::GraphRunner, CallerIdentity::WorkerSpawner] {
        let variable = format!(
            "ZAVHOZ__CALLERS__{}",
            identity.as_str().to_uppercase().replace('-', "_")
        );
        command.env(
            variable,
            TokenDigest::of_token(&token(identity)).to_string(),
        );
    }
    let mut child = command.spawn().expect("starts the zavhoz binary");
    let log = Log::default();
    collect(child.stdout.take().expect("stdout"), log.clone());
    collect(child.stderr.take().expect("stderr"), log.clone());
    (child, log)
}

async fn grpc_address(log: &Log) -> String {
    for _ in 0..300 {
        let captured = text(log);
        let found = captured
            .lines()
            .filter(|l| l.contains("zavhoz ready to serve"))
            .find_map(|l| {
                l.split("\"grpc\":\"")
                    .nth(1)?
                    .split('"')
                    .next()
                    .map(str::to_owned)
            });
        if let Some(address) = found {
            return address;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("zavhoz did not start:\n{}", text(log));
}

async fn wait_for(log: &Log, needle: &str) {
    for _ in 0..100 {
        if text(log).contains(needle) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("`{needle}` never logged");
}

async fn client(address: &str, identity: CallerIdentity) -> ZavhozClient {
    let config = ZavhozClientConfig::new(format!("http://{address}"), token(identity));
    ZavhozClient::connect(&config).await.expect("connects")
}

async fn handle(
    graph: &ZavhozClient,
    owner: i64,
    key: &str,
    source: secret_spec::Source,
) -> SecretHandle {
    let allocation = Allocation {
        acting_user_id: owner,
        project_id: None,
        idempotency_key: key.into(),
        lease_ttl: None,
        spec: Spec::Secret(SecretSpec {
            source: Some(source),
            single_use: true,
        }),
    };
    SecretHandle(graph.allocate(allocation).await.expect("allocates").handle)
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn canary_values_never_reach_logs_postgres_or_redis(pool: PgPool) {
    let sops_canary = format!("canary-sops-{}", Uuid::new_v4().simple());
    let chat_canary = format!("canary-chat-{}", Uuid::new_v4().simple());
    let secrets = SecretsDir::new(&format!("canary:\n    value: {sops_canary}\n"));
    let (mut child, log) = spawn_zavhoz(&pool, &secrets);
    let address = grpc_address(&log).await;
    let graph = client(&address, CallerIdentity::GraphRunner).await;
    let spawner = client(&address, CallerIdentity::WorkerSpawner).await;
    let owner = user(&pool).await;

    graph
        .store_user_secret(
            owner,
            None,
            "bot_token",
            &SecretString::from(chat_canary.clone()),
        )
        .await
        .expect("stores the chat canary");
    let from_sops = handle(
        &graph,
        owner,
        "c1",
        secret_spec::Source::SopsPath("canary.value".into()),
    )
    .await;
    let from_chat = handle(
        &graph,
        owner,
        "c2",
        secret_spec::Source::UserSecret("bot_token".into()),
    )
    .await;
    let resolved = spawner
        .resolve(&from_sops, "canary", None)
        .await
        .expect("resolves");
    assert_eq!(
        resolved.value.expose_secret(),
        sops_canary,
        "the canary really went through"
    );
    let resolved = spawner
        .resolve(&from_chat, "canary", None)
        .await
        .expect("resolves");
    assert_eq!(resolved.value.expose_secret(), chat_canary);
    spawner
        .resolve(&from_chat, "replay", None)
        .await
        .expect_err("single use: an alert is logged");

    secrets.write(&format!(
        "canary:\n    value: {sops_canary}\n    second: {sops_canary}-2\n"
    ));
    let pid = child.id().expect("running");
    kill(pid, "-HUP");
    wait_for(&log, "SIGHUP: secrets reloaded").await;
    let reloaded = handle(
        &graph,
        owner,
        "c3",
        secret_spec::Source::SopsPath("canary.second".into()),
    )
    .await;
    let resolved = spawner
        .resolve(&reloaded, "after SIGHUP", None)
        .await
        .expect("resolves");
    assert_eq!(resolved.value.expose_secret(), format!("{sops_canary}-2"));

    kill(pid, "-TERM");
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("status");
    assert!(status.success(), "zavhoz exited with {status}");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let logs = text(&log);
    assert_hits(
        &logs,
        &from_sops.0,
        "logs (control: the handle is logged)",
        true,
    );
    assert_hits(&logs, "ALERT", "logs (control: the replay alert)", true);
    for secret in [&sops_canary, &chat_canary] {
        assert_hits(&logs, secret, "zavhoz's logs", false);
    }
    for identity in [CallerIdentity::GraphRunner, CallerIdentity::WorkerSpawner] {
        assert_hits(
            &logs,
            &token(identity),
            "zavhoz's logs (caller tokens)",
            false,
        );
    }

    let dump = pg_dump(&database_url(&pool));
    assert_hits(&dump, &from_chat.0, "pg_dump (control: the handle)", true);
    assert_hits(
        &dump,
        "-----BEGIN AGE ENCRYPTED FILE-----",
        "pg_dump (control: the sealed secret)",
        true,
    );
    for secret in [&sops_canary, &chat_canary] {
        assert_hits(&dump, secret, "the database dump", false);
    }

    let redis = redis_contents().await;
    for secret in [&sops_canary, &chat_canary] {
        assert_hits(&redis, secret, "Redis", false);
    }
}

fn assert_hits(haystack: &str, needle: &str, place: &str, expected: bool) {
    let hits = haystack.matches(needle).count();
    if expected {
        assert!(hits > 0, "expected `{needle}` in {place}");
    } else {
        assert_eq!(hits, 0, "`{needle}` leaked into {place}");
    }
}

fn kill(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pid}");
}

fn pg_dump(url: &str) -> String {
    let out = std::process::Command::new("pg_dump")
        .arg(format!("--dbname={url}"))
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every key and value in Redis as text, with a control key written first that must be found.
async fn redis_contents() -> String {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let client = redis::Client::open(url).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let control_key = format!("zavhoz-canary-control:{}", Uuid::new_v4().simple());
    let _: () = redis::cmd("SET")
        .arg(&control_key)
        .arg("control-marker")
        .query_async(&mut conn)
        .await
        .expect("set");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .expect("keys");
    let mut all = String::new();
    for key in keys {
        all.push_str(&key);
        all.push('\n');
        all.push_str(&redis_value(&mut conn, &key).await);
    }
    let _: () = redis::cmd("DEL")
        .arg(&control_key)
        .query_async(&mut conn)
        .await
        .expect("del");
    assert_hits(&all, "control-marker", "Redis (control key)", true);
    all
}

async fn redis_value(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> String {
    let kind: String = redis::cmd("TYPE")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap_or_default();
    let command = match kind.as_str() {
        "string" => redis::cmd("GET").arg(key).clone(),
        "list" => redis::cmd("LRANGE").arg(key).arg(0).arg(-1).clone(),
        "set" => redis::cmd("SMEMBERS").arg(key).clone(),
        "zset" => redis::cmd("ZRANGE").arg(key).arg(0).arg(-1).clone(),
        "hash" => redis::cmd("HGETALL").arg(key).clone(),
        "stream" => redis::cmd("XRANGE").arg(key).arg("-").arg("+").clone(),
        _ => return String::new(),
    };
    let value: redis::Value = command.query_async(conn).await.unwrap_or(redis::Value::Nil);
    format!("{value:?}\n")
}
