//! Interrupts: pause for a human, persist, resume with the answer (in memory and in PostgreSQL).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use orch_graph::{
    Checkpointer, Command, Ctx, Graph, GraphError, Input, InputRefused, NodeError, Outcome,
    PgCheckpointer, Runner, START, ThreadKey, TokioClock,
};
use serde_json::json;
use sqlx::PgPool;

use crate::support::{Counters, Trail, TrailUpdate, memory, names, visit};

/// write_spec -> approve (interrupts) -> deploy
fn approval_graph(c: &Counters) -> Graph<Trail> {
    let approve = {
        let c = c.clone();
        move |_: Arc<Trail>, ctx: Ctx| {
            c.bump("approve");
            async move {
                let answer: String = ctx.interrupt(json!({ "question": "approve the spec?" }))?;
                let mut u = TrailUpdate::visit("approve");
                u.answer = Some(answer);
                Ok::<_, NodeError>(u)
            }
        }
    };
    Graph::builder()
        .add_node("write_spec", visit("write_spec", c))
        .add_node("approve", approve)
        .add_node("deploy", visit("deploy", c))
        .add_edge(START, "write_spec")
        .add_edge("write_spec", "approve")
        .add_edge("approve", "deploy")
        .compile()
        .expect("valid")
}

async fn interrupt_then_resume(store: Arc<dyn Checkpointer>) {
    let c = Counters::default();
    let runner = Runner::new(approval_graph(&c)).with_checkpointer(store);
    let thread = ThreadKey::chat(11);
    let outcome = runner
        .invoke(&thread, Input::Start(Trail::default()))
        .await
        .expect("runs");
    let Outcome::Interrupted {
        interrupts, state, ..
    } = outcome
    else {
        panic!("expected an interrupt, got {outcome:?}");
    };
    assert_eq!(state.visited, names(&["write_spec"]));
    assert_eq!(interrupts.len(), 1);
    assert_eq!(interrupts[0].node, "approve");
    assert_eq!(interrupts[0].payload["question"], "approve the spec?");
    let stored = runner
        .get_state(&thread)
        .await
        .expect("state")
        .expect("exists");
    assert_eq!(stored.interrupts, interrupts, "the interrupt is persisted");
    assert_eq!(stored.next, names(&["approve"]));

    let done = runner
        .invoke(&thread, Input::Resume(Command::resume(json!("yes"))))
        .await
        .expect("resumes");
    assert!(done.is_done());
    assert_eq!(
        done.state().visited,
        names(&["write_spec", "approve", "deploy"])
    );
    assert_eq!(done.state().answer.as_deref(), Some("yes"));
    assert_eq!(c.get("approve"), 2, "the node re-ran from its start");
    assert_eq!(c.get("write_spec"), 1);

    let err = runner
        .invoke(&thread, Input::Resume(Command::resume(json!("yes"))))
        .await
        .expect_err("dup");
    assert!(
        matches!(
            err,
            GraphError::Input {
                reason: InputRefused::NotInterrupted,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(c.get("deploy"), 1, "a duplicate approval changes nothing");
}

#[tokio::test]
async fn interrupt_and_resume_in_memory() {
    interrupt_then_resume(memory()).await;
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn interrupt_and_resume_in_postgres(pool: PgPool) {
    interrupt_then_resume(Arc::new(PgCheckpointer::new(pool))).await;
}

#[tokio::test]
async fn a_node_may_ask_several_questions_one_at_a_time() {
    let two = |_: Arc<Trail>, ctx: Ctx| async move {
        let name: String = ctx.interrupt("name?")?;
        let stack: String = ctx.interrupt("stack?")?;
        let mut u = TrailUpdate::visit("ask");
        u.answer = Some(format!("{name}/{stack}"));
        Ok::<_, NodeError>(u)
    };
    let graph = Graph::builder()
        .add_node("ask", two)
        .add_edge(START, "ask")
        .compile()
        .expect("valid");
    let runner = Runner::new(graph).with_checkpointer(memory());
    let thread = ThreadKey::chat(12);
    let first = runner
        .invoke(&thread, Input::Start(Trail::default()))
        .await
        .expect("asks");
    assert_eq!(first.interrupts()[0].payload, json!("name?"));
    let second = runner
        .invoke(
            &thread,
            Input::Resume(Command::resume(json!("weather-bot"))),
        )
        .await
        .expect("asks");
    assert_eq!(second.interrupts()[0].payload, json!("stack?"));
    assert_eq!(second.interrupts()[0].index, 1);
    let done = runner
        .invoke(&thread, Input::Resume(Command::resume(json!("rust"))))
        .await
        .expect("done");
    assert_eq!(done.state().answer.as_deref(), Some("weather-bot/rust"));
}

#[tokio::test]
async fn parallel_interrupts_are_answered_by_task_id() {
    let ask = |_: Arc<Trail>, ctx: Ctx| async move {
        let answer: String = ctx.interrupt(ctx.node().to_owned())?;
        let mut u = TrailUpdate::visit(ctx.node());
        u.results.insert(ctx.node().to_owned(), answer.len() as i64);
        Ok::<_, NodeError>(u)
    };
    let graph = Graph::builder()
        .add_node("left", ask)
        .add_node("right", ask)
        .add_edge(START, "left")
        .add_edge(START, "right")
        .compile()
        .expect("valid");
    let runner = Runner::new(graph).with_checkpointer(memory());
    let thread = ThreadKey::chat(13);
    let asked = runner
        .invoke(&thread, Input::Start(Trail::default()))
        .await
        .expect("asks");
    assert_eq!(asked.interrupts().len(), 2);
    let err = runner
        .invoke(&thread, Input::Resume(Command::resume(json!("x"))))
        .await
        .expect_err("ambiguous");
    assert!(
        matches!(
            err,
            GraphError::Input {
                reason: InputRefused::AmbiguousResume(_),
                ..
            }
        ),
        "{err}"
    );
    let left = asked.interrupts()[0].task_id.clone();
    let right = asked.interrupts()[1].task_id.clone();
    let half = runner
        .invoke(
            &thread,
            Input::Resume(Command::resume_tasks(BTreeMap::from([(left, json!("ok"))]))),
        )
        .await
        .expect("half");
    assert_eq!(half.interrupts().len(), 1, "right still waits");
    let done = runner
        .invoke(
            &thread,
            Input::Resume(Command::resume_tasks(BTreeMap::from([(
                right,
                json!("fine"),
            )]))),
        )
        .await
        .expect("done");
    assert_eq!(
        done.state().results,
        BTreeMap::from([("left".into(), 2), ("right".into(), 4)])
    );
}

#[tokio::test]
async fn a_swallowed_interrupt_still_pauses_the_run() {
    let sloppy = |_: Arc<Trail>, ctx: Ctx| async move {
        let _ignored: Result<String, _> = ctx.interrupt("really?");
        Ok::<_, NodeError>(TrailUpdate::visit("sloppy"))
    };
    let graph = Graph::builder()
        .add_node("sloppy", sloppy)
        .add_edge(START, "sloppy")
        .compile()
        .expect("valid");
    let runner = Runner::new(graph).with_checkpointer(memory());
    let outcome = runner
        .invoke(&ThreadKey::chat(14), Input::Start(Trail::default()))
        .await
        .expect("runs");
    assert_eq!(outcome.interrupts().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_interrupt_time_comes_from_the_injected_clock() {
    let c = Counters::default();
    let clock = Arc::new(TokioClock::new());
    let runner = Runner::new(approval_graph(&c))
        .with_checkpointer(memory())
        .with_clock(clock.clone());
    let thread = ThreadKey::chat(15);
    let asked = runner
        .invoke(&thread, Input::Start(Trail::default()))
        .await
        .expect("asks");
    let asked_at = asked.interrupts()[0].asked_at;
    tokio::time::advance(Duration::from_secs(3600)).await;
    let pending = runner
        .get_state(&thread)
        .await
        .expect("state")
        .expect("exists")
        .interrupts;
    assert!(orch_graph::Clock::now(&*clock) - pending[0].asked_at >= TimeDelta::hours(1));
    assert_eq!(pending[0].asked_at, asked_at);
    let done = runner
        .invoke(&thread, Input::Resume(Command::resume(json!("late"))))
        .await
        .expect("resumes");
    assert!(done.is_done());
}
