//! Every message survives write → wire → read unchanged, with its metadata.

use std::collections::HashMap;
use std::fmt::Debug;

use orch_contracts::{Contract, Envelope, RunId};

use crate::fixtures;

fn wire<M: Contract>(env: &Envelope<M>) -> HashMap<String, String> {
    env.to_fields()
        .expect("valid message")
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

fn round_trip<M: Contract + PartialEq + Debug>(body: M) {
    let sent = Envelope::new(body).with_run(RunId::new());
    let fields = wire(&sent);
    assert_eq!(fields["type"], M::TYPE);
    assert_eq!(fields["v"], M::VERSION.to_string());
    let read = Envelope::<M>::from_fields(&fields).expect("reads back");
    assert_eq!(read.event_id, sent.event_id);
    assert_eq!(read.run_id, sent.run_id);
    assert_eq!(read.body, sent.body);
    // RFC 3339 keeps nanoseconds, so the time survives exactly.
    assert_eq!(read.created_at, sent.created_at);
}

#[test]
fn every_message_type_round_trips() {
    round_trip(fixtures::chat_in());
    round_trip(fixtures::chat_out());
    round_trip(fixtures::worker_spawn());
    round_trip(fixtures::worker_result());
    round_trip(fixtures::worker_progress());
    round_trip(fixtures::review_request());
    round_trip(fixtures::review_result());
    round_trip(fixtures::deploy_request());
    round_trip(fixtures::deploy_result());
}

#[test]
fn run_id_is_optional_on_the_wire() {
    let sent = Envelope::new(fixtures::chat_in());
    let fields = wire(&sent);
    assert!(!fields.contains_key("run_id"));
    assert_eq!(
        Envelope::<orch_contracts::messages::chat::ChatIn>::from_fields(&fields)
            .expect("reads")
            .run_id,
        None
    );
}

#[test]
fn type_tags_are_unique() {
    use orch_contracts::messages::{chat, deploy, review, worker};
    let mut tags = vec![
        chat::ChatIn::TYPE,
        chat::ChatOut::TYPE,
        worker::WorkerSpawn::TYPE,
        worker::WorkerResult::TYPE,
        worker::WorkerProgress::TYPE,
        review::ReviewRequest::TYPE,
        review::ReviewResult::TYPE,
        deploy::DeployRequest::TYPE,
        deploy::DeployResult::TYPE,
    ];
    let n = tags.len();
    tags.sort_unstable();
    tags.dedup();
    assert_eq!(tags.len(), n);
}
