//! Verdicts and their effects on the git host.

use orch_contracts::Envelope;
use orch_contracts::messages::review::Verdict;
use serde_json::json;

use crate::support::{Harness, answer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_pull_request_is_reviewed_and_really_merged() {
    let h = Harness::start().await;
    let head = h.git.branch("greeting", "hello.txt", "hello\n").await;
    let number = h.git.pull("greeting").await;
    h.llm
        .push_answer(answer("approved", "Does what the task says.", json!([])));
    let request = h.request(number, &head, 1);
    h.send(&Envelope::new(request.clone())).await;

    let result = h.result(request.review_id).await;
    assert_eq!(
        (result.verdict, result.merged, result.conflict),
        (Verdict::Approved, true, false)
    );
    let main = h
        .github
        .branch_sha("acme", "web", "main")
        .await
        .expect("git");
    assert_eq!(
        result.merge_sha, main,
        "the merge commit is main's head on the host"
    );
    assert_eq!(h.git.main_file("hello.txt").await.as_deref(), Some("hello"));
    let reviews = h.github.reviews();
    assert_eq!(reviews.len(), 1);
    assert_eq!(
        (reviews[0].state.as_str(), reviews[0].user.as_str()),
        ("APPROVED", "bob")
    );
    assert_eq!(reviews[0].commit_id, head);
    assert!(reviews[0].body.starts_with("Does what the task says."));

    let asked = h.llm.requests();
    let prompt = asked[0].body.to_string();
    assert!(
        prompt.contains("+hello")
            && prompt.contains("Add a greeting")
            && prompt.contains("A greeter")
    );
    assert!(
        prompt.contains("senior software engineer"),
        "the seeded role prompt is the system prompt"
    );
    let usage: i64 = sqlx::query_scalar("SELECT count(*) FROM llm_usage WHERE role = 'reviewer'")
        .fetch_one(h.pool())
        .await
        .expect("usage rows");
    assert_eq!(usage, 1);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requested_changes_are_posted_with_line_comments_and_nothing_is_merged() {
    let h = Harness::start().await;
    let head = h.git.branch("greeting", "hello.txt", "helo\nworld\n").await;
    let number = h.git.pull("greeting").await;
    let comments = json!([
        {"path": "hello.txt", "line": 1, "body": "Typo: hello."},
        {"path": "src/main.rs", "line": 5, "body": "Print the greeting here."}
    ]);
    h.llm.push_answer(answer(
        "changes_requested",
        "A typo and a missing call.",
        comments,
    ));
    let request = h.request(number, &head, 1);
    h.send(&Envelope::new(request.clone())).await;

    let result = h.result(request.review_id).await;
    assert_eq!(
        (result.verdict, result.merged, result.merge_sha.clone()),
        (Verdict::ChangesRequested, false, None)
    );
    assert_eq!(result.comments.len(), 2);
    let reviews = h.github.reviews();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].state, "CHANGES_REQUESTED");
    assert!(
        reviews[0]
            .body
            .contains("`src/main.rs:5`: Print the greeting here."),
        "off-diff comment in the body"
    );
    let lines: Vec<_> = h
        .github
        .comments()
        .into_iter()
        .filter(|c| c.path.is_some())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        (lines[0].path.as_deref(), lines[0].line, lines[0].review_id),
        (Some("hello.txt"), Some(1), Some(reviews[0].id))
    );
    assert_eq!(h.merge_calls(number), 0);
    assert_eq!(
        h.git.main_file("hello.txt").await,
        None,
        "main is untouched"
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_twice_from_the_model_escalates_without_approving() {
    let h = Harness::start().await;
    let head = h.git.branch("greeting", "hello.txt", "hello\n").await;
    let number = h.git.pull("greeting").await;
    h.llm
        .push_answer(orch_testkit::llm::Answer::text("LGTM, ship it!"));
    h.llm
        .push_answer(orch_testkit::llm::Answer::text(r#"{"verdict": "approve"}"#));
    let request = h.request(number, &head, 1);
    h.send(&Envelope::new(request.clone())).await;

    let result = h.result(request.review_id).await;
    assert_eq!((result.verdict, result.merged), (Verdict::Escalate, false));
    assert!(
        result.summary.contains("not a valid review"),
        "{}",
        result.summary
    );
    assert_eq!(h.llm_calls(), 2, "one repair request, no more");
    let repair = h.llm.requests()[1].body.to_string();
    assert!(
        repair.contains("could not be used"),
        "the parse error goes back to the model"
    );
    let reviews = h.github.reviews();
    assert_eq!(reviews.len(), 1);
    assert_eq!(
        reviews[0].state, "COMMENTED",
        "an escalation is a comment, never an approval"
    );
    assert_eq!(h.merge_calls(number), 0);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_pull_request_that_conflicts_is_not_merged() {
    let h = Harness::start().await;
    let one = h.git.branch("one", "README.md", "# one\n").await;
    let two = h.git.branch("two", "README.md", "# two\n").await;
    let first = h.git.pull("one").await;
    let second = h.git.pull("two").await;
    for _ in 0..2 {
        h.llm.push_answer(answer("approved", "Fine.", json!([])));
    }
    let r1 = h.request(first, &one, 1);
    h.send(&Envelope::new(r1.clone())).await;
    assert!(h.result(r1.review_id).await.merged);
    let r2 = h.request(second, &two, 1);
    h.send(&Envelope::new(r2.clone())).await;

    let result = h.result(r2.review_id).await;
    assert_eq!(
        (result.verdict, result.merged, result.conflict),
        (Verdict::Approved, false, true)
    );
    assert!(result.summary.contains("conflicts"), "{}", result.summary);
    assert_eq!(h.git.main_file("README.md").await.as_deref(), Some("# one"));
    let pulls = h.github.pull_requests().await;
    assert!(
        pulls
            .iter()
            .any(|p| p.number == second && !p.merged && p.state == "open")
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_iteration_cap_escalates_without_asking_the_model() {
    let h = Harness::start().await;
    let head = h.git.branch("greeting", "hello.txt", "hello\n").await;
    let number = h.git.pull("greeting").await;
    let request = h.request(number, &head, 4);
    h.send(&Envelope::new(request.clone())).await;

    let result = h.result(request.review_id).await;
    assert_eq!((result.verdict, result.merged), (Verdict::Escalate, false));
    assert!(
        result
            .summary
            .contains("iteration 4 exceeds the limit of 3"),
        "{}",
        result.summary
    );
    assert_eq!(h.llm_calls(), 0);
    assert!(h.github.reviews().is_empty());
    assert_eq!(h.merge_calls(number), 0);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_head_is_reviewed_and_merged_as_it_is_now() {
    let h = Harness::start().await;
    let old = h.git.branch("greeting", "hello.txt", "hello\n").await;
    let number = h.git.pull("greeting").await;
    let new = h.git.commit("greeting", "bye.txt", "bye\n").await;
    h.llm
        .push_answer(answer("approved", "Both files are fine.", json!([])));
    let request = h.request(number, &old, 1);
    h.send(&Envelope::new(request.clone())).await;

    let result = h.result(request.review_id).await;
    assert!(result.merged, "{}", result.summary);
    assert!(result.summary.contains("moved from"), "{}", result.summary);
    assert_eq!(
        h.github.reviews()[0].commit_id,
        new,
        "the review is on the current head"
    );
    assert!(
        h.llm.requests()[0].body.to_string().contains("+bye"),
        "the model saw the new commit"
    );
    assert_eq!(h.git.main_file("bye.txt").await.as_deref(), Some("bye"));
    h.finish().await;
}
