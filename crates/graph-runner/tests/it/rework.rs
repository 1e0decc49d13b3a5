//! A review that asks for changes sends the task back to a worker on the same branch with the review's
//! comments; the next round is reviewed on the same pull request; after the last round the person is asked.

use orch_contracts::messages::review::Verdict;
use orch_testkit::llm::Answer;

use crate::architect::{approve, factory, plan};
use crate::support::fakes::{FakeReviewer, FakeSpawner, WAIT};
use crate::support::service::{buttons, text, texts};

/// The first review of the bot's pull request asks for changes; everything else is approved.
fn changes_once() -> crate::support::fakes::Policy {
    Box::new(|request| {
        if request.task.title == "Bot commands" && request.iteration == 1 {
            Verdict::ChangesRequested
        } else {
            Verdict::Approved
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requested_changes_go_back_to_a_worker_on_the_branch_and_the_next_round_merges() {
    let (s, sim) = factory(Answer::text(plan().to_string())).await;
    let mut spawner = FakeSpawner::new(&s, Box::new(|_, _| false)).await;
    let mut reviewer = FakeReviewer::new(&s, changes_once()).await;
    approve(&s, 5).await;

    spawner.handle(&s, &sim, 2).await;
    reviewer.handle(&s, 2).await;
    spawner.handle(&s, &sim, 3).await; // the bot's rework
    reviewer.handle(&s, 3).await;
    spawner.handle(&s, &sim, 4).await; // morning push, after both merges
    reviewer.handle(&s, 4).await;
    let texts = texts(&s.replies(11, WAIT).await);
    let has = |needle: &str| texts.iter().filter(|t| t.contains(needle)).count();
    assert_eq!(
        has("✏️ Bot commands: the review of pull request #"),
        1,
        "{texts:#?}"
    );
    assert_eq!(
        has("with the review's 1 comment(s) (review round 2 next)"),
        1
    );
    assert_eq!(has("🔀"), 3, "{texts:#?}");
    assert!(texts[10].contains("3 task(s) merged"), "{texts:#?}");

    let rework = &spawner.seen[2];
    assert_eq!(rework.branch, "task/bot", "the same branch");
    assert!(
        rework
            .task
            .body
            .contains("Review round 1 of pull request #"),
        "{}",
        rework.task.body
    );
    assert!(
        rework
            .task
            .body
            .contains("\n@append bot/commands.py # documented\n"),
        "the comment's lines reach the worker: {}",
        rework.task.body
    );
    let bot_reviews: Vec<(u64, u32)> = reviewer
        .seen
        .iter()
        .filter(|r| r.task.title == "Bot commands")
        .map(|r| (r.pr_number, r.iteration))
        .collect();
    assert_eq!(bot_reviews.len(), 2);
    assert_eq!(bot_reviews[0].0, bot_reviews[1].0, "the same pull request");
    assert_eq!((bot_reviews[0].1, bot_reviews[1].1), (1, 2));
    assert_ne!(
        reviewer.seen[0].review_id, reviewer.seen[2].review_id,
        "each round is its own review"
    );
    assert_eq!(sim.pull_requests().await.len(), 3, "no second pull request");
    assert_eq!(
        s.count("SELECT count(*) FROM tasks WHERE status = 'merged'")
            .await,
        3
    );
    assert_eq!(
        s.count("SELECT count(*) FROM escalations").await,
        0,
        "nobody was asked"
    );
    s.finish().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_last_round_the_person_decides_and_merge_it_merges_on_github() {
    let (mut s, sim) = factory(Answer::text(plan().to_string())).await;
    s.stop().await;
    s.config.workers.max_review_iterations = 1;
    s.run().await;
    let mut spawner = FakeSpawner::new(&s, Box::new(|_, _| false)).await;
    let mut reviewer = FakeReviewer::new(&s, changes_once()).await;
    approve(&s, 5).await;
    spawner.handle(&s, &sim, 2).await;
    reviewer.handle(&s, 2).await;
    let shown = s.replies(4, WAIT).await; // 2 pushed, 1 merged, the question about the bot
    let question = crate::escalations::question(&shown);
    assert!(
        text(question).contains("needs your decision after review round 1"),
        "{shown:#?}"
    );
    let data = buttons(question);
    assert_eq!(data.len(), 2, "Merge it and Drop it");

    s.press("cb-merge", &data[0]).await;
    let after = s.replies(4, WAIT).await; // toast, merged, the question edited, morning push started
    let after_texts: Vec<&str> = after.iter().map(text).collect();
    assert!(
        after_texts
            .iter()
            .any(|t| t.contains("🔀 Bot commands: pull request #") && t.contains("as you decided")),
        "{after:#?}"
    );
    let number = s
        .count("SELECT number FROM pull_requests pr JOIN tasks t ON t.id = pr.task_id WHERE t.key = 'bot'")
        .await;
    let merged = sim
        .pull_requests()
        .await
        .into_iter()
        .find(|p| p.number == number as u64)
        .expect("the bot's pull request");
    assert!(merged.merged, "merged on GitHub by the graph");

    // A second press on the answered question changes nothing.
    s.press("cb-again", &data[0]).await;
    let stale = s.replies(2, WAIT).await;
    assert!(
        stale.iter().any(|a| text(a).contains("already answered")),
        "{stale:#?}"
    );
    assert_eq!(
        s.count("SELECT count(*) FROM escalations WHERE status = 'answered' AND answer = '{\"approve\": true}'")
            .await,
        1
    );
    s.finish().await;
    sim.shutdown().await;
}
