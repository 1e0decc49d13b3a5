//! The API key never shows up in errors, `Debug` output or logs, even when a provider echoes it.

use std::io::Write;
use std::sync::{Arc, Mutex};

use orch_llm::chat::{ChatMessage, ChatRequest};
use orch_llm::{CallContext, LlmError};
use orch_testkit::llm::{Answer, LlmConfig};
use sqlx::PgPool;

use crate::support::{Env, fast_retries};

const KEY: &str = "sk-live-TOPSECRET-0123456789abcdef";

/// A log sink shared with the subscriber.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log lock")).into_owned()
    }
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn the_key_never_leaks(pool: PgPool) {
    let logs = Logs::default();
    let sink = logs.clone();
    // Everything at trace level (hyper, reqwest, genai, us: the key in the request header is never
    // logged), except the simulator, which logs the answers it was told to echo, and genai's
    // TRACE dump of raw error bodies (`genai::webc`), which repeats whatever the provider wrote:
    // a documented limitation, production filters keep genai at debug or below.
    let filter = "trace,orch_testkit=off,genai::webc=debug";
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    // The sqlx test runtime is single-threaded, so everything (simulator included) logs here.
    let _guard = tracing::subscriber::set_default(subscriber);

    let sim = LlmConfig {
        api_keys: vec![KEY.to_owned()],
        ..LlmConfig::default()
    };
    let env = Env::start(pool, sim, 20_000_000).await;
    let client = env
        .client(&env.row("spec", "openai_compatible", "sim-model"))
        .await;
    let request = ChatRequest::new(vec![ChatMessage::user("hi")]);

    client
        .chat(&CallContext::new("secret:ok"), request.clone())
        .await
        .expect("the key works");

    // A provider that echoes the key back in full, on a non-retried status and a retried one.
    let echo = |status| Answer::Error {
        status,
        message: format!("Incorrect API key provided: {KEY}"),
        error_type: "invalid_request_error".to_owned(),
        code: Some("invalid_api_key".to_owned()),
    };
    env.sim.fail_next(1, echo(401));
    let unauthorized = client
        .chat(&CallContext::new("secret:401"), request.clone())
        .await
        .expect_err("refused");
    assert!(
        matches!(unauthorized, LlmError::Unauthorized { .. }),
        "{unauthorized:?}"
    );
    env.sim.fail_next(3, echo(503));
    let unavailable = client
        .chat(&CallContext::new("secret:503"), request)
        .await
        .expect_err("gives up");
    assert!(
        matches!(unavailable, LlmError::ProviderFailed { .. }),
        "{unavailable:?}"
    );

    for error in [&unauthorized, &unavailable] {
        let shown = format!("{error} / {error:?}");
        assert!(!shown.contains(KEY), "key leaked: {shown}");
        assert!(
            shown.contains("[REDACTED]"),
            "the echo was scrubbed, not dropped: {shown}"
        );
    }
    let llm = env.llm(fast_retries(1));
    for debug in [format!("{client:?}"), format!("{llm:?}")] {
        assert!(
            !debug.contains(KEY) && !debug.contains("TOPSECRET"),
            "{debug}"
        );
    }
    assert!(format!("{client:?}").contains("[REDACTED]"));

    let logged = logs.text();
    assert!(
        logged.contains("llm call done"),
        "logs were captured: {logged}"
    );
    assert!(logged.contains("retrying"), "retries were logged: {logged}");
    let leaks: Vec<String> = logged
        .lines()
        .filter(|line| line.contains("TOPSECRET"))
        .map(|line| line.replace("TOPSECRET", "<KEY>"))
        .collect();
    assert!(leaks.is_empty(), "key leaked into the logs: {leaks:#?}");
}
