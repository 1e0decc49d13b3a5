//! GitHub failing: short outages and rate limits are retried; a lasting outage ends in a clear escalation.

use orch_contracts::Envelope;
use orch_contracts::messages::review::Verdict;
use orch_testkit::github::Fault;
use serde_json::json;

use crate::support::{Harness, answer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_a_short_rate_limit_are_retried() {
    let h = Harness::start().await;
    let head = h.git.branch("greeting", "hello.txt", "hello\n").await;
    let number = h.git.pull("greeting").await;
    h.llm.push_answer(answer("approved", "Good.", json!([])));
    let pr_path = format!("/repos/acme/web/pulls/{number}");
    h.github.inject_fault(
        Fault::status(502)
            .times(2)
            .on_path(&pr_path)
            .on_method("GET"),
    );
    h.github
        .inject_fault(Fault::secondary_rate_limit(1).on_path(format!("{pr_path}/merge")));
    let request = h.request(number, &head, 1);
    h.send(&Envelope::new(request.clone())).await;

    let result = h.result(request.review_id).await;
    assert_eq!(
        (result.verdict, result.merged),
        (Verdict::Approved, true),
        "{}",
        result.summary
    );
    let statuses: Vec<u16> = h
        .github
        .requests()
        .iter()
        .filter(|r| r.path == pr_path)
        .map(|r| r.status)
        .collect();
    assert_eq!(&statuses[..3], [502, 502, 200]);
    let merges: Vec<u16> = h
        .github
        .requests()
        .iter()
        .filter(|r| r.path == format!("{pr_path}/merge"))
        .map(|r| r.status)
        .collect();
    assert_eq!(merges, [403, 200]);
    assert_eq!(h.git.main_file("hello.txt").await.as_deref(), Some("hello"));
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lasting_outage_ends_in_an_escalation_on_the_last_delivery() {
    let h = Harness::start_with(|c| c.github_max_attempts = 2, 2).await;
    let head = h.git.branch("greeting", "hello.txt", "hello\n").await;
    let number = h.git.pull("greeting").await;
    h.github.inject_fault(
        Fault::status(500)
            .times(1000)
            .on_path(format!("/repos/acme/web/pulls/{number}")),
    );
    let request = h.request(number, &head, 1);
    h.send(&Envelope::new(request.clone())).await;

    let result = h.result(request.review_id).await;
    assert_eq!((result.verdict, result.merged), (Verdict::Escalate, false));
    assert!(
        result.summary.contains("after 2 attempts") && result.summary.contains("500"),
        "{}",
        result.summary
    );
    assert_eq!(h.llm_calls(), 0);
    h.github.clear_faults();
    assert!(h.github.reviews().is_empty());
    assert_eq!(h.merge_calls(number), 0);
    h.finish().await;
}
