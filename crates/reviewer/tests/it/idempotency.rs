//! Redelivered requests: one model call, one review, one merge, one result.

use orch_contracts::Envelope;
use orch_contracts::messages::review::Verdict;
use serde_json::json;

use crate::support::{Harness, answer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_request_reviews_and_merges_once() {
    let h = Harness::start().await;
    let head = h.git.branch("greeting", "hello.txt", "hello\n").await;
    let number = h.git.pull("greeting").await;
    h.llm.push_answer(answer("approved", "Good.", json!([])));
    h.llm.set_default_answer(answer(
        "changes_requested",
        "A second opinion.",
        json!([{"path": "hello.txt", "line": 1, "body": "no"}]),
    ));
    let request = h.request(number, &head, 1);
    let envelope = Envelope::new(request.clone());
    h.send(&envelope).await;
    h.send(&envelope).await;
    h.send(&Envelope::new(request.clone())).await;

    let result = h.result(request.review_id).await;
    assert_eq!((result.verdict, result.merged), (Verdict::Approved, true));
    let group = orch_bus::Group::new(
        &h.bus,
        &orch_contracts::StreamKey::from("review:request"),
        "reviewer",
        "probe",
    );
    crate::support::eventually("all three entries handled", || async {
        group.pending().await.unwrap_or(1) == 0
    })
    .await;
    assert_eq!(h.results(request.review_id).await, 1);
    assert_eq!(h.llm_calls(), 1);
    assert_eq!(h.github.reviews().len(), 1);
    assert_eq!(h.merge_calls(number), 1);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_posting_finds_its_review_and_does_not_merge_again() {
    let h = Harness::start().await;
    let head = h.git.branch("greeting", "hello.txt", "hello\n").await;
    let number = h.git.pull("greeting").await;
    h.llm.push_answer(answer("approved", "Good.", json!([])));
    let request = h.request(number, &head, 1);
    h.send(&Envelope::new(request.clone())).await;
    let first = h.result(request.review_id).await;
    assert!(first.merged);

    // As if the process died after posting the review and merging, before recording either.
    sqlx::query("UPDATE reviews SET state = 'judged', github_review_id = NULL, result = NULL WHERE idempotency_key = $1")
        .bind(&request.idempotency_key)
        .execute(h.pool())
        .await
        .expect("rewind the row");
    let stream = h
        .bus
        .key(&orch_contracts::streams::review_result(request.review_id));
    let mut redis = redis_conn().await;
    let _: () = redis::cmd("DEL")
        .arg(&stream)
        .query_async(&mut redis)
        .await
        .expect("DEL");
    h.send(&Envelope::new(request.clone())).await;

    let again = h.result(request.review_id).await;
    assert_eq!(
        (again.merged, again.merge_sha.clone()),
        (true, first.merge_sha)
    );
    assert_eq!(
        h.github.reviews().len(),
        1,
        "the marker finds the posted review"
    );
    assert_eq!(
        h.merge_calls(number),
        1,
        "a merged pull request is not merged again"
    );
    assert_eq!(h.llm_calls(), 1);
    h.finish().await;
}

async fn redis_conn() -> redis::aio::MultiplexedConnection {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    redis::Client::open(url)
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("redis")
}
