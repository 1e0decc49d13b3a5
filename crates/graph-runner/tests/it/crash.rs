//! kill -9 with real processes (reliability tests 8–11 at the service level): the conversation continues
//! after a restart, and no message is lost or sent twice.
//!
//! - during the model call (tests 8/9): the redelivered message resumes the thread at `think`; the model is
//!   asked again, its answer is recorded and sent once;
//! - while the thread waits for the approval button (test 11): the interrupt is in PostgreSQL, the approval
//!   after the restart re-runs `review` (whose message was already sent) and approves exactly once;
//! - at random moments through a whole conversation (the windows between checkpoint, effect, outbox and ack);
//! - the gateway, while replies are queued behind a rate limit: all of them arrive after its restart.

use std::time::{Duration, SystemTime};

use crate::e2e::{APPROVED_TRANSCRIPT, WAIT, check_approved, up_to_the_spec};
use crate::support::procs::{BOB, Stack, assert_transcript};
use crate::support::{eventually, weather_rules};

#[tokio::test]
async fn a_sigkill_while_the_model_thinks_loses_and_repeats_nothing() {
    let mut rules = weather_rules();
    rules[1].delay_ms = Some(3000); // the answer to "London" takes 3 s
    let mut stack = Stack::start(rules).await;
    stack.say("I want a weather bot");
    stack.messages(1, WAIT).await;
    stack.say("London");
    stack
        .llm
        .wait_for_requests(2, WAIT)
        .await
        .expect("the runner asks the model");
    stack.kill_runner().await;
    assert_eq!(
        stack.bot.sent_messages(BOB).len(),
        1,
        "nothing was sent for London yet"
    );

    stack.spawn_runner().await;
    stack.messages(2, Duration::from_secs(40)).await;
    assert_eq!(
        stack.llm.requests().len(),
        3,
        "the model was asked about London again"
    );
    assert_eq!(
        stack.count("SELECT count(*) FROM llm_usage").await,
        2,
        "usage of the idea and of London, each recorded once"
    );
    stack.say("Yes, at 7am");
    let shown = stack.messages(4, WAIT).await;
    stack.press(shown[3].message_id, &shown[3].callback_data()[0]);
    check_approved(&stack).await;
    stack.finish().await;
}

#[tokio::test]
async fn the_approval_wait_survives_a_sigkill_and_a_restart() {
    let mut stack = Stack::start(weather_rules()).await;
    let (prompt, approve) = up_to_the_spec(&stack).await;
    let interrupts = "SELECT count(*) FROM graph_pending_writes WHERE channel = '__interrupt__'";
    assert_eq!(
        stack.count(interrupts).await,
        1,
        "the approval wait is a stored interrupt"
    );
    stack.kill_runner().await;
    tokio::time::sleep(Duration::from_secs(3)).await; // past the lease TTL
    stack.spawn_runner().await;
    stack.press(prompt, &approve);
    check_approved(&stack).await;
    assert_eq!(
        stack.count(interrupts).await,
        0,
        "the interrupt was answered"
    );
    assert_eq!(
        stack.llm.requests().len(),
        3,
        "approving asks the model nothing"
    );
    stack.finish().await;
}

/// A small deterministic generator (the seed is printed, so a failure can be replayed).
struct Lcg(u64);

impl Lcg {
    fn millis(&mut self, low: u64, high: u64) -> Duration {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        Duration::from_millis(low + (self.0 >> 33) % (high - low))
    }
}

/// Waits for `n` messages, SIGKILLing and restarting the runner at random moments (at most `kills` times).
async fn through_kills(stack: &mut Stack, rng: &mut Lcg, n: usize, kills: usize) {
    for _ in 0..kills {
        let pause = rng.millis(100, 1500);
        if stack.bot.wait_for_messages(BOB, n, pause).await.is_ok() {
            return;
        }
        stack.kill_runner().await;
        stack.spawn_runner().await;
    }
    stack.messages(n, Duration::from_secs(60)).await;
}

#[tokio::test]
async fn random_sigkills_through_a_whole_conversation_lose_and_repeat_nothing() {
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64);
    eprintln!("random kill seed: {seed}");
    let mut rng = Lcg(seed);
    let mut rules = weather_rules();
    for rule in &mut rules {
        rule.delay_ms = Some(400); // widen the window in which a kill lands mid-step
    }
    let mut stack = Stack::start(rules).await;
    stack.say("I want a weather bot");
    through_kills(&mut stack, &mut rng, 1, 2).await;
    stack.say("London");
    through_kills(&mut stack, &mut rng, 2, 2).await;
    stack.say("Yes, at 7am");
    through_kills(&mut stack, &mut rng, 4, 2).await;
    let sent = stack.bot.sent_messages(BOB);
    let prompt = &sent[3];
    let buttons = prompt.callback_data();
    assert!(
        !buttons.is_empty(),
        "the 4th message is not the approval prompt: {sent:#?}"
    );
    stack.press(prompt.message_id, &buttons[0]);
    through_kills(&mut stack, &mut rng, 5, 2).await;
    eventually(WAIT, "the prompt to be edited", || async {
        stack.calls("editMessageText") == 1
    })
    .await;
    check_approved(&stack).await;
    stack.finish().await;
}

#[tokio::test]
async fn a_sigkilled_gateway_delivers_every_queued_reply_after_restart() {
    let mut stack = Stack::start(weather_rules()).await;
    stack.say("I want a weather bot");
    stack.messages(1, WAIT).await;
    stack
        .bot
        .fail_next_sends(1, 5)
        .expect("a 429 for the next send");
    stack.say("London");
    stack
        .bot
        .inject_command(&stack.user, None, "help", "")
        .expect("/help");
    stack
        .bot
        .inject_command(&stack.user, None, "status", "")
        .expect("/status");
    let published = "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL";
    eventually(WAIT, "four replies on chat:out", || async {
        stack.count(published).await == 4
    })
    .await;
    eventually(WAIT, "the gateway to hit the rate limit", || async {
        stack
            .bot
            .transcript(BOB)
            .calls
            .iter()
            .any(|c| c.error_code == Some(429))
    })
    .await;
    stack.kill_gateway().await;
    assert_eq!(
        stack.bot.sent_messages(BOB).len(),
        1,
        "the rest was queued at the kill"
    );

    stack.spawn_gateway().await;
    stack.messages(4, Duration::from_secs(40)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let expected = [
        APPROVED_TRANSCRIPT[0],
        APPROVED_TRANSCRIPT[1],
        "I turn an idea into a project spec",
        "Project: ",
    ];
    assert_transcript(&stack.bot.sent_messages(BOB), &expected);
    assert_eq!(stack.calls("sendMessage"), 4, "each once");
    stack.finish().await;
}

/// A first message whose delivery died after its thread's rows were committed but before the graph's first
/// checkpoint: the redelivery starts the thread with the message as its idea (it used to greet the person and
/// take the idea for an answer to the greeting).
#[tokio::test]
async fn a_first_message_redelivered_after_its_rows_were_created_starts_with_the_idea() {
    use graph_runner::db::{self, NewThread};
    use orch_contracts::messages::chat::ChatEvent;

    use crate::support::service::{ALICE, Service, text};

    let s = Service::new(weather_rules()).await;
    let envelope = Service::chat_in(
        ALICE,
        ChatEvent::Text {
            message_id: 1,
            text: "I want a weather bot".into(),
        },
    );
    // What the first delivery committed before it died.
    let mut tx = s.store.begin().await.expect("transaction");
    let user = orch_store::users::upsert_telegram(&mut tx, ALICE, "Alice", true)
        .await
        .expect("user");
    let chat_row = db::upsert_chat(&mut tx, ALICE, user.id)
        .await
        .expect("chat");
    let ids = db::ids_for_event(ALICE, envelope.event_id);
    let new = NewThread {
        ids: &ids,
        chat_row,
        owner_user_id: user.id,
        budget_usd_micros: user.default_budget_usd_micros,
    };
    db::open_thread(&mut tx, &new).await.expect("rows");
    tx.commit().await.expect("commit");

    let mut s = s;
    s.run().await;
    s.publish(&envelope).await;
    let replies = s.replies(1, Duration::from_secs(10)).await;
    assert_eq!(text(&replies[0]), "Which city should it cover?");
    assert!(
        s.read(Duration::from_millis(500)).await.is_empty(),
        "no greeting besides the question"
    );
    s.finish().await;
}
