//! Bad input is refused with an error that says what is wrong — on write and on read.

use std::collections::HashMap;

use orch_contracts::messages::chat::{ChatAction, ChatEvent, ChatIn, ChatOut};
use orch_contracts::messages::review::ReviewResult;
use orch_contracts::messages::worker::{SecretHandle, WorkerResult, WorkerSpawn, WorkerStatus};
use orch_contracts::{ContractError, Envelope};

use crate::fixtures;

fn wire<M: orch_contracts::Contract>(body: M) -> HashMap<String, String> {
    Envelope::new(body)
        .to_fields()
        .expect("valid")
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

fn read_spawn(fields: &HashMap<String, String>) -> ContractError {
    Envelope::<WorkerSpawn>::from_fields(fields).expect_err("must be refused")
}

#[test]
fn write_refuses_an_invalid_body() {
    let mut spawn = fixtures::worker_spawn();
    spawn.branch = "main".into();
    spawn.limits.memory_mib = 1;
    let err = Envelope::new(spawn).to_fields().expect_err("invalid");
    let text = err.to_string();
    assert!(
        text.contains("branch must differ from base_branch"),
        "{text}"
    );
    assert!(text.contains("limits.memory_mib"), "{text}");
}

#[test]
fn a_secret_value_in_place_of_a_handle_is_refused() {
    let mut spawn = fixtures::worker_spawn();
    spawn.secrets[0].handle = SecretHandle("sk-live-abcdefghijklmnopqrstuvwxyz".into());
    let err = Envelope::new(spawn)
        .to_fields()
        .expect_err("invalid")
        .to_string();
    assert!(err.contains("is not a handle"), "{err}");
    assert!(
        !err.contains("sk-live"),
        "the error must not echo the would-be secret: {err}"
    );
}

#[test]
fn credentials_in_a_clone_url_are_refused() {
    let mut spawn = fixtures::worker_spawn();
    spawn.repo.clone_url = "https://x-access-token:ghs_abc@github.com/acme/a.git".into();
    assert!(Envelope::new(spawn).to_fields().is_err());
}

#[test]
fn read_refuses_the_wrong_type() {
    let fields = wire(fixtures::chat_in());
    assert!(matches!(
        read_spawn(&fields),
        ContractError::UnknownType {
            expected: "worker.spawn",
            ..
        }
    ));
}

#[test]
fn read_refuses_an_unknown_version() {
    let mut fields = wire(fixtures::worker_spawn());
    fields.insert("v".into(), "2".into());
    let err = read_spawn(&fields);
    assert!(
        matches!(err, ContractError::UnsupportedVersion { supported: 1, .. }),
        "{err}"
    );
}

#[test]
fn read_refuses_missing_fields() {
    for field in ["type", "v", "event_id", "created_at", "body"] {
        let mut fields = wire(fixtures::worker_spawn());
        fields.remove(field);
        let err = read_spawn(&fields);
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
}

#[test]
fn read_refuses_malformed_json_and_unknown_fields() {
    let mut fields = wire(fixtures::worker_spawn());
    fields.insert("body".into(), "{not json".into());
    assert!(matches!(
        read_spawn(&fields),
        ContractError::MalformedBody { .. }
    ));

    let mut fields = wire(fixtures::worker_spawn());
    let mut body: serde_json::Value = serde_json::from_str(&fields["body"]).expect("json");
    body["surprise"] = serde_json::json!(1);
    fields.insert("body".into(), body.to_string());
    let err = read_spawn(&fields).to_string();
    assert!(err.contains("unknown field `surprise`"), "{err}");
}

#[test]
fn read_revalidates_a_body_that_parses() {
    // A producer that skipped validation (or a hand-written XADD) cannot smuggle in a lying result.
    let mut result = fixtures::worker_result();
    result.verified = false;
    let mut fields = wire(fixtures::worker_result());
    fields.insert("body".into(), serde_json::to_string(&result).expect("json"));
    let err = Envelope::<WorkerResult>::from_fields(&fields)
        .expect_err("invalid")
        .to_string();
    assert!(err.contains("verified on the remote"), "{err}");
}

#[test]
fn read_refuses_a_malformed_event_id() {
    let mut fields = wire(fixtures::worker_spawn());
    fields.insert("event_id".into(), "42".into());
    assert!(matches!(
        read_spawn(&fields),
        ContractError::MalformedField {
            field: "event_id",
            ..
        }
    ));
}

#[test]
fn chat_rules() {
    let mut too_long = fixtures::chat_in();
    too_long.event = ChatEvent::Text {
        message_id: 1,
        text: "x".repeat(4097),
    };
    assert!(Envelope::new(too_long).to_fields().is_err());

    let mut bad_command = fixtures::chat_in();
    bad_command.event = ChatEvent::Command {
        message_id: 1,
        command: "New!".into(),
        args: String::new(),
    };
    assert!(Envelope::new(bad_command).to_fields().is_err());

    let out = ChatOut {
        chat_id: 1,
        action: ChatAction::AnswerButton {
            callback_query_id: String::new(),
            text: None,
        },
    };
    assert!(Envelope::new(out).to_fields().is_err());

    let _: ChatIn = fixtures::chat_in();
}

#[test]
fn result_consistency_rules() {
    let mut merged_without_sha: ReviewResult = fixtures::review_result();
    merged_without_sha.merged = true;
    assert!(Envelope::new(merged_without_sha).to_fields().is_err());

    let mut failed = fixtures::worker_result();
    failed.status = WorkerStatus::Failed;
    failed.verified = false;
    failed.commit_sha = None;
    assert!(
        Envelope::new(failed).to_fields().is_ok(),
        "a failure needs no commit"
    );
}
