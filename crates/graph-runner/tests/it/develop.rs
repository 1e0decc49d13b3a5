//! The develop step with a stand-in worker-spawner that really pushes to the (simulated) GitHub and a stand-in
//! reviewer that approves: the first wave runs in parallel, a failed worker is retried once with the error in
//! its task, each pushed task gets a pull request and a review request, a merge unblocks the next wave, and the
//! person hears about each step as it happens.

use std::time::Duration;

use orch_contracts::messages::chat::ChatAction;
use orch_contracts::messages::worker::AgentKind;
use orch_testkit::github::Fault;
use orch_testkit::llm::Answer;

use crate::architect::{approve, factory, plan};
use crate::support::fakes::{FakeReviewer, FakeSpawner, WAIT, progress};
use crate::support::service::{Service, buttons, text, texts};

// Multi-threaded: the stand-in spawner runs git synchronously against the simulator served by this runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waves_run_in_parallel_failures_retry_and_merges_unblock_the_next_wave() {
    let (s, sim) = factory(Answer::text(plan().to_string())).await;
    let mut spawner = FakeSpawner::new(&s, FakeSpawner::fail_first("bot")).await;
    let mut reviewer = FakeReviewer::new(&s, FakeReviewer::approving()).await;
    let replies = approve(&s, 5).await;
    assert!(text(&replies[4]).contains("Started 2 coding worker(s)"));

    // forecast pushes; bot fails once and is retried; both get reviewed and merged; then morning-push runs.
    spawner.handle(&s, &sim, 3).await;
    reviewer.handle(&s, 2).await;
    spawner.handle(&s, &sim, 4).await;
    reviewer.handle(&s, 3).await;
    let texts = texts(&s.replies(10, WAIT).await);
    let has = |needle: &str| texts.iter().filter(|t| t.contains(needle)).count();
    assert_eq!(
        has("✅ Forecast client: pushed and verified; pull request #"),
        1,
        "{texts:#?}"
    );
    assert_eq!(
        has("⚠️ Bot commands: the worker ended Failed (tests failed"),
        1,
        "{texts:#?}"
    );
    assert_eq!(
        has("Started 1 coding worker(s): Bot commands (run 2)"),
        1,
        "{texts:#?}"
    );
    assert_eq!(has("✅ Bot commands: pushed and verified"), 1, "{texts:#?}");
    assert_eq!(has("🔀"), 3, "three merges: {texts:#?}");
    assert_eq!(
        has("Started 1 coding worker(s): Morning push"),
        1,
        "{texts:#?}"
    );
    assert!(
        texts[9].contains("3 task(s) merged, 0 waiting for a person, 0 failed"),
        "{texts:#?}"
    );
    let started_push = texts
        .iter()
        .position(|t| t.contains("Morning push"))
        .expect("push");
    let merges_before = texts[..started_push]
        .iter()
        .filter(|t| t.contains("🔀"))
        .count();
    assert_eq!(
        merges_before, 2,
        "the second wave starts after both merges: {texts:#?}"
    );

    // What the spawner and the reviewer were asked.
    let branches: Vec<&str> = spawner.seen.iter().map(|sp| sp.branch.as_str()).collect();
    assert_eq!(
        branches,
        ["task/forecast", "task/bot", "task/bot", "task/morning-push"]
    );
    assert!(
        spawner
            .seen
            .iter()
            .all(|sp| sp.agent == AgentKind::Scripted && sp.base_branch == "main")
    );
    assert!(
        spawner.seen[2]
            .task
            .body
            .contains("The previous attempt failed")
    );
    assert_ne!(spawner.seen[1].worker_id, spawner.seen[2].worker_id);
    assert!(
        reviewer
            .seen
            .iter()
            .all(|r| r.iteration == 1 && r.merge_when_approved)
    );
    assert!(
        reviewer
            .seen
            .iter()
            .all(|r| r.spec_summary.contains("Morning forecasts"))
    );

    assert_eq!(
        sim.pull_requests().await.len(),
        3,
        "one pull request per pushed task"
    );
    assert_eq!(
        s.count("SELECT count(*) FROM tasks WHERE status = 'merged'")
            .await,
        3
    );
    assert_eq!(
        s.count(
            "SELECT count(*) FROM pull_requests WHERE state = 'merged' AND merge_sha IS NOT NULL"
        )
        .await,
        3
    );
    assert_eq!(
        s.count("SELECT COALESCE(SUM(cost_usd_micros), 0)::bigint FROM llm_usage WHERE source = 'worker'")
            .await,
        450_000,
        "each pushed worker's usage charged once"
    );
    assert!(
        s.read(Duration::from_millis(700)).await.is_empty(),
        "nothing twice"
    );
    s.finish().await;
    sim.shutdown().await;
}

// GitHub failing under the graph's own calls: transient failures (5xx, a secondary rate limit) while opening
// pull requests are retried until they pass, and each task is reported once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_github_failures_opening_pull_requests_are_retried() {
    let (s, sim) = factory(Answer::text(plan().to_string())).await;
    let mut spawner = FakeSpawner::new(&s, Box::new(|_, _| false)).await;
    approve(&s, 5).await;
    let pulls = "/repos/acme/weather-bot/pulls";
    sim.inject_fault(Fault::status(502).times(4).on_method("POST").on_path(pulls));
    sim.inject_fault(
        Fault::secondary_rate_limit(1)
            .on_method("POST")
            .on_path(pulls),
    );
    spawner.handle(&s, &sim, 2).await;
    let texts = texts(&s.replies(2, Duration::from_secs(40)).await);
    assert!(
        texts.iter().all(|t| t.contains("pushed and verified")),
        "{texts:#?}"
    );
    assert_eq!(sim.pull_requests().await.len(), 2, "one pull request each");
    assert!(
        sim.count_requests("POST", pulls) >= 5,
        "the failed attempts reached GitHub"
    );
    s.finish().await;
    sim.shutdown().await;
}

// A refusal (422) is not retried blindly: the person is asked, and "Try again" sends a worker back to the branch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_github_refuses_is_a_question_to_the_person() {
    let (s, sim) = factory(Answer::text(plan().to_string())).await;
    let mut spawner = FakeSpawner::new(&s, Box::new(|_, _| false)).await;
    approve(&s, 5).await;
    let pulls = "/repos/acme/weather-bot/pulls";
    sim.inject_fault(Fault::status(422).times(2).on_method("POST").on_path(pulls));
    spawner.handle(&s, &sim, 2).await;
    let asked = s.replies(2, WAIT).await;
    assert!(
        asked
            .iter()
            .all(|a| text(a).contains("GitHub refused to open the pull request")),
        "{asked:#?}"
    );
    assert!(sim.pull_requests().await.is_empty());
    let bot = asked
        .iter()
        .find(|a| text(a).starts_with("⚠️ Bot commands"))
        .expect("a question about the bot");
    s.press("cb-retry", &buttons(bot)[0]).await;
    s.replies(4, WAIT).await; // toast, trying again, the question edited, started again
    spawner.handle(&s, &sim, 3).await;
    assert_eq!(spawner.seen[2].branch, "task/bot");
    let pushed = s.replies(1, WAIT).await;
    assert!(
        text(&pushed[0]).contains("✅ Bot commands: pushed and verified; pull request #"),
        "{pushed:#?}"
    );
    assert_eq!(sim.pull_requests().await.len(), 1);
    s.finish().await;
    sim.shutdown().await;
}

// The "Started" message is edited with each running worker's latest log line, and once more with the final states.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_started_message_shows_each_workers_latest_log_line() {
    let (mut s, sim) = factory(Answer::text(plan().to_string())).await;
    s.stop().await;
    s.config.workers.progress_secs = 0;
    s.run().await;
    let mut spawner = FakeSpawner::new(&s, Box::new(|_, _| false)).await;
    let started = approve(&s, 5).await;
    let ChatAction::Send {
        ref_key: Some(key), ..
    } = &started[4]
    else {
        panic!("the announcement has a ref_key: {:#?}", started[4]);
    };
    let spawns = spawner.receive(2).await;
    progress(&s, &spawns[0], 1, "[scripted] 3 directives").await;
    progress(&s, &spawns[0], 2, "[scripted] write forecast/client.py").await;
    edit_containing(
        &s,
        key,
        &[
            "• Forecast client: [scripted] write forecast/client.py",
            "• Bot commands: starting",
        ],
    )
    .await;

    spawner.complete(&s, &sim, spawns).await;
    edit_containing(
        &s,
        key,
        &[
            "• Forecast client: pushed; in review",
            "• Bot commands: pushed; in review",
        ],
    )
    .await;
    s.finish().await;
    sim.shutdown().await;
}

/// Reads `chat:out` until an edit of `key` contains every one of `needles`.
async fn edit_containing(s: &Service, key: &str, needles: &[&str]) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    while tokio::time::Instant::now() < deadline {
        for action in s.read(Duration::from_millis(200)).await {
            if let ChatAction::Edit { ref_key, text, .. } = action
                && ref_key == key
            {
                if needles.iter().all(|n| text.contains(n)) {
                    return;
                }
                seen.push(text);
            }
        }
    }
    panic!("no edit of {key} containing {needles:?}; edits: {seen:#?}");
}
