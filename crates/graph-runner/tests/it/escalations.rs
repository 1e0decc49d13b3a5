//! Questions to the person during the build: a task that failed twice, a spent budget; answered with a
//! button or in writing (too-short answers are refused and the question stays open), reminded while open.

use std::time::Duration;

use orch_contracts::messages::chat::ChatAction;
use orch_testkit::llm::Answer;

use crate::architect::{approve, factory, plan};
use crate::support::fakes::{FakeReviewer, FakeSpawner, WAIT};
use crate::support::service::{Service, buttons, text, texts};

/// The bot's task fails until the person's guidance is in it.
fn bot_fails_without_guidance() -> crate::support::fakes::FailWhen {
    Box::new(|spawn, _| {
        spawn.branch == "task/bot" && !spawn.task.body.contains("Guidance from the person")
    })
}

/// The one message with buttons among `actions`.
pub fn question(actions: &[ChatAction]) -> &ChatAction {
    let asked: Vec<&ChatAction> = actions.iter().filter(|a| !buttons(a).is_empty()).collect();
    assert_eq!(asked.len(), 1, "one question: {actions:#?}");
    asked[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_failing_twice_asks_and_written_guidance_sends_it_back() {
    let (s, sim) = factory(Answer::text(plan().to_string())).await;
    let mut spawner = FakeSpawner::new(&s, bot_fails_without_guidance()).await;
    let mut reviewer = FakeReviewer::new(&s, FakeReviewer::approving()).await;
    approve(&s, 5).await;
    spawner.handle(&s, &sim, 3).await; // forecast pushes; bot fails, is retried, fails again
    reviewer.handle(&s, 1).await;
    // forecast pushed + merged; bot retrying + started again; the question about the bot
    let shown = s.replies(5, WAIT).await;
    let asked = question(&shown);
    assert!(
        text(asked).contains("❌ Bot commands: failed twice"),
        "{}",
        text(asked)
    );
    assert_eq!(buttons(asked).len(), 2, "Try again and Skip it");

    s.text("ok").await;
    let refused = s.replies(1, WAIT).await;
    assert!(
        text(&refused[0]).contains("I can't act on that"),
        "{refused:#?}"
    );
    assert_eq!(
        s.count("SELECT count(*) FROM escalations WHERE status = 'open'")
            .await,
        1,
        "still open"
    );

    s.text("Use the python-telegram-bot library and mock the network in tests")
        .await;
    let guided = texts(&s.replies(3, WAIT).await); // thanks, the question edited, started again
    assert!(
        guided.iter().any(|t| t.contains("📝 Bot commands: thanks")),
        "{guided:#?}"
    );
    assert!(
        guided
            .iter()
            .any(|t| t.contains("→ guidance: Use the python-telegram-bot")),
        "the question shows its answer: {guided:#?}"
    );
    spawner.handle(&s, &sim, 4).await;
    assert!(spawner.seen[3].task.body.contains(
        "Guidance from the person: Use the python-telegram-bot library and mock the network in tests"
    ));
    reviewer.handle(&s, 2).await;
    spawner.handle(&s, &sim, 5).await; // morning push
    reviewer.handle(&s, 3).await;
    let end = texts(&s.replies(6, WAIT).await);
    assert!(
        end.last().expect("settled").contains("3 task(s) merged"),
        "{end:#?}"
    );

    // The old button is stale now.
    s.press("cb-late", &buttons(asked)[0]).await;
    let stale = texts(&s.replies(2, WAIT).await);
    assert!(
        stale.iter().any(|t| t.contains("already answered")),
        "{stale:#?}"
    );
    assert_eq!(
        s.count(
            "SELECT count(*) FROM escalations WHERE status = 'answered' AND answer ? 'guidance'"
        )
        .await,
        1
    );
    s.finish().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_budget_pauses_spawns_until_the_person_raises_it() {
    let (mut s, sim) = factory(Answer::text(plan().to_string())).await;
    let mut spawner = FakeSpawner::new(&s, Box::new(|_, _| false)).await;
    let mut reviewer = FakeReviewer::new(&s, FakeReviewer::approving()).await;
    approve(&s, 5).await;
    let llm_spend = s
        .count("SELECT COALESCE(SUM(cost_usd_micros), 0)::bigint FROM llm_usage")
        .await;
    // Two pushed workers (150,000 each) reach the budget.
    s.execute(&format!(
        "UPDATE projects SET budget_usd_micros = {}",
        llm_spend + 250_000
    ))
    .await;
    spawner.handle(&s, &sim, 2).await;
    reviewer.handle(&s, 2).await;
    // 2 pushed, the 100% warning, 2 merged, the budget question
    let shown = s.replies(6, WAIT).await;
    let all = texts(&shown);
    assert_eq!(
        all.iter()
            .filter(|t| t.contains("used its whole LLM budget"))
            .count(),
        1,
        "{all:#?}"
    );
    let asked = question(&shown);
    assert!(
        text(asked).contains("so 1 task(s) cannot start"),
        "{}",
        text(asked)
    );
    assert_eq!(
        s.count("SELECT count(*) FROM tasks WHERE key = 'morning-push' AND status = 'pending'")
            .await,
        1,
        "nothing starts over budget"
    );

    s.text("more money please").await;
    let refused = texts(&s.replies(1, WAIT).await);
    assert!(
        refused[0].contains("write the new budget in dollars"),
        "{refused:#?}"
    );

    // The question survives a restart of the runner: the thread waits durably in its checkpoint.
    s.stop().await;
    s.run().await;
    s.press("cb-double", &buttons(asked)[0]).await;
    let raised = texts(&s.replies(4, WAIT).await);
    assert!(
        raised.iter().any(|t| t.contains("💰 The budget is now")),
        "{raised:#?}"
    );
    assert!(
        raised
            .iter()
            .any(|t| t.contains("Started 1 coding worker(s): Morning push")),
        "{raised:#?}"
    );
    spawner.handle(&s, &sim, 3).await;
    reviewer.handle(&s, 3).await;
    // pushed, the 80% warning of the new budget, merged, settled
    let end = texts(&s.replies(4, WAIT).await);
    assert!(
        end.iter().any(|t| t.contains("used 80% of its LLM budget")),
        "{end:#?}"
    );
    assert_eq!(
        s.count("SELECT budget_usd_micros FROM projects").await,
        2 * (llm_spend + 250_000)
    );
    s.finish().await;
    sim.shutdown().await;
}

/// Reads `chat:out` for `window` and returns the reminders among it.
async fn reminders(s: &Service, window: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + window;
    let mut n = 0;
    while tokio::time::Instant::now() < deadline {
        n += s
            .read(Duration::from_millis(100))
            .await
            .iter()
            .filter(|a| text(a).starts_with("⏰ Reminder"))
            .count();
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_question_is_reminded_once_per_period_and_not_after_the_answer() {
    let (mut s, sim) = factory(Answer::text(plan().to_string())).await;
    s.stop().await;
    s.config.escalation_remind_secs = 1;
    s.run().await;
    let mut spawner = FakeSpawner::new(&s, bot_fails_without_guidance()).await;
    let mut reviewer = FakeReviewer::new(&s, FakeReviewer::approving()).await;
    approve(&s, 5).await;
    spawner.handle(&s, &sim, 3).await;
    reviewer.handle(&s, 1).await;
    let shown = s.replies(5, WAIT).await;
    let asked = question(&shown).clone();

    let mut first = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while first == 0 && tokio::time::Instant::now() < deadline {
        first = reminders(&s, Duration::from_millis(200)).await;
    }
    assert_eq!(first, 1, "one reminder after the period");
    assert_eq!(
        reminders(&s, Duration::from_millis(500)).await,
        0,
        "not again within the period"
    );
    assert_eq!(
        s.count("SELECT count(*) FROM escalations WHERE reminded_at IS NOT NULL")
            .await,
        1
    );

    s.press("cb-skip", &buttons(&asked)[1]).await;
    let skipped = s.replies(4, WAIT).await; // toast, dropped, the question edited, settled
    assert!(
        texts(&skipped)
            .iter()
            .any(|t| t.contains("🗑 Bot commands: dropped")),
        "{skipped:#?}"
    );
    assert_eq!(
        reminders(&s, Duration::from_millis(2500)).await,
        0,
        "an answered question is not reminded"
    );
    assert_eq!(
        s.count("SELECT count(*) FROM tasks WHERE key = 'bot' AND status = 'cancelled'")
            .await,
        1
    );
    s.finish().await;
    sim.shutdown().await;
}
