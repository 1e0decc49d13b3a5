//! The project spec: a valid example passes, every rule bites, and the published schema matches the code.

use orch_contracts::spec::*;

pub fn weather_bot() -> ProjectSpec {
    ProjectSpec {
        schema_version: SPEC_SCHEMA_VERSION,
        name: "weather-bot".into(),
        summary: "A Telegram bot that sends a morning forecast for the user's city.".into(),
        modules: vec![Module {
            name: "bot".into(),
            purpose: "talks to Telegram".into(),
        }],
        features: vec![Feature {
            id: "forecast-command".into(),
            title: "/forecast <city>".into(),
            description: "Replies with today's forecast.".into(),
            priority: Priority::Must,
        }],
        acceptance_criteria: vec!["/forecast London answers within 5 s".into()],
        external_apis: vec![ExternalApi {
            name: "OpenWeatherMap".into(),
            purpose: "forecasts".into(),
            docs_url: None,
        }],
        secrets: vec![SecretRequirement {
            name: "TELEGRAM_BOT_TOKEN".into(),
            purpose: "the bot's own token".into(),
            source: SecretSource::User,
        }],
        deploy_target: DeployTarget {
            kind: DeployKind::TelegramBot,
            public: false,
            subdomain: None,
        },
    }
}

#[test]
fn a_good_spec_validates_and_round_trips() {
    let spec = weather_bot();
    spec.validate().expect("valid");
    let json = serde_json::to_string(&spec).expect("json");
    assert_eq!(
        serde_json::from_str::<ProjectSpec>(&json).expect("parses"),
        spec
    );
}

#[test]
fn every_rule_reports() {
    let mut spec = weather_bot();
    spec.name = "Weather Bot".into();
    spec.features.push(spec.features[0].clone());
    spec.secrets[0].name = "bot-token".into();
    spec.acceptance_criteria.clear();
    let violations = spec.validate().expect_err("invalid").to_string();
    for expected in [
        "name `Weather Bot`",
        "used twice",
        "environment variable name",
        "acceptance criterion",
    ] {
        assert!(violations.contains(expected), "{expected}: {violations}");
    }
}

#[test]
fn a_secret_value_has_nowhere_to_go() {
    let mut json = serde_json::to_value(weather_bot()).expect("json");
    json["secrets"][0]["value"] = serde_json::json!("123:real-token");
    let err = serde_json::from_value::<ProjectSpec>(json)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("unknown field `value`"), "{err}");
}

#[test]
fn the_published_schema_matches_the_code() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/project-spec.schema.json"
    );
    let generated = serde_json::to_string_pretty(&ProjectSpec::json_schema()).expect("json") + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &generated).expect("write schema");
    }
    let published = std::fs::read_to_string(path).expect("docs/project-spec.schema.json exists");
    // Compared as JSON values: key order depends on whether serde_json's `preserve_order` is unified in.
    let published: serde_json::Value =
        serde_json::from_str(&published).expect("published schema is JSON");
    let generated: serde_json::Value =
        serde_json::from_str(&generated).expect("generated schema is JSON");
    assert_eq!(
        published, generated,
        "regenerate with UPDATE_SCHEMA=1 cargo test -p orch-contracts spec"
    );
}
