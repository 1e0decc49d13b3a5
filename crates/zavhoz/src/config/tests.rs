use figment::Figment;
use figment::providers::Env;

use super::*;

const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn load() -> Result<ZavhozConfig, String> {
    Figment::from(Env::prefixed("ZAVHOZ__").split("__"))
        .extract()
        .map_err(|e| e.to_string())
}

#[test]
#[allow(clippy::result_large_err)] // figment's Jail API returns its own large error type
fn environment_fills_callers_servers_and_listeners() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("ZAVHOZ__CALLERS__WORKER_SPAWNER", DIGEST);
        jail.set_env("ZAVHOZ__CALLERS__GRAPH_RUNNER", DIGEST);
        jail.set_env("ZAVHOZ__SERVERS", "[srv-1, srv-2]");
        jail.set_env("ZAVHOZ__GRPC_LISTEN", "127.0.0.1:0");
        let config = load()?;
        assert_eq!(config.callers.len(), 2);
        assert_eq!(
            config.callers[&CallerIdentity::WorkerSpawner],
            TokenDigest::of_token("test")
        );
        assert_eq!(config.servers, ["srv-1", "srv-2"]);
        assert_eq!(config.grpc_listen.port(), 0);
        assert!(config.validate().is_ok());
        Ok(())
    });
}

#[test]
#[allow(clippy::result_large_err)]
fn unknown_identities_and_raw_tokens_are_refused() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("ZAVHOZ__CALLERS__REVIEWER", DIGEST);
        let error = load().expect_err("unknown identity");
        assert!(error.contains("reviewer"), "{error}");
        Ok(())
    });
    figment::Jail::expect_with(|jail| {
        jail.set_env("ZAVHOZ__CALLERS__WORKER_SPAWNER", "plain-token");
        let error = load().expect_err("raw token");
        assert!(error.contains("not the token itself"), "{error}");
        assert!(!error.contains("plain-token"), "{error}");
        Ok(())
    });
}

#[test]
fn validation_names_the_variable() {
    let config = ZavhozConfig::default();
    assert!(
        config
            .validate()
            .expect_err("no callers")
            .contains("ZAVHOZ__CALLERS__")
    );
    let mut config = ZavhozConfig::default();
    config
        .callers
        .insert(CallerIdentity::Operator, TokenDigest::of_token("x"));
    config.port_range_start = 30000;
    config.port_range_end = 20000;
    assert!(config.validate().expect_err("range").contains("PORT_RANGE"));
}

#[test]
fn digests_print_short_in_debug_and_whole_in_display() {
    let digest = TokenDigest::parse(DIGEST).expect("valid");
    assert_eq!(digest.to_string(), DIGEST);
    assert_eq!(format!("{digest:?}"), "sha256:9f86d081…");
    assert!(TokenDigest::parse("sha256:abc").is_err());
}
