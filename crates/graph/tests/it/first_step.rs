//! The input checkpoint is committed with the first step's checkpoint (one transaction fewer per run), or
//! with the first pending write when the first step interrupts or fails.

use std::sync::Arc;

use orch_graph::{
    Checkpointer, Command, Ctx, Graph, GraphError, Input, InputRefused, NodeError, Outcome,
    PgCheckpointer, Runner, START, ThreadKey,
};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::Barrier;

use crate::support::{Counters, Trail, TrailUpdate, names, visit};

async fn ids(store: &dyn Checkpointer, thread: &ThreadKey) -> Vec<i64> {
    let mut ids: Vec<i64> = store
        .history(thread, 100)
        .await
        .expect("history")
        .iter()
        .map(|r| r.checkpoint_id)
        .collect();
    ids.reverse();
    ids
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn a_first_step_interrupt_persists_the_input_with_it(pool: PgPool) {
    let ask = |_: Arc<Trail>, ctx: Ctx| async move {
        let answer: String = ctx.interrupt("name?")?;
        Ok::<_, NodeError>(TrailUpdate {
            answer: Some(answer),
            ..TrailUpdate::visit("ask")
        })
    };
    let graph = Graph::builder()
        .add_node("ask", ask)
        .add_edge(START, "ask")
        .compile()
        .expect("valid");
    let pg = Arc::new(PgCheckpointer::new(pool));
    let runner = Runner::new(graph).with_checkpointer(pg.clone());
    let thread = ThreadKey::chat(31);
    let asked = runner
        .invoke(&thread, Input::Start(Trail::default()))
        .await
        .expect("asks");
    assert_eq!(asked.interrupts().len(), 1);
    assert_eq!(
        ids(pg.as_ref(), &thread).await,
        [1],
        "the input checkpoint landed with the interrupt"
    );
    let done = runner
        .invoke(&thread, Input::Resume(Command::resume(json!("bot"))))
        .await
        .expect("done");
    assert_eq!(done.state().answer.as_deref(), Some("bot"));
    assert_eq!(ids(pg.as_ref(), &thread).await, [1, 2]);
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn a_first_step_failure_persists_the_input_and_continue_retries(pool: PgPool) {
    let c = Counters::default();
    let flaky = {
        let c = c.clone();
        move |_: Arc<Trail>, _: Ctx| {
            let attempt = c.bump("flaky");
            async move {
                match attempt {
                    1 => Err(NodeError::msg("first attempt fails")),
                    _ => Ok(TrailUpdate::visit("flaky")),
                }
            }
        }
    };
    let graph = Graph::builder()
        .add_node("flaky", flaky)
        .add_edge(START, "flaky")
        .compile()
        .expect("valid");
    let pg = Arc::new(PgCheckpointer::new(pool));
    let runner = Runner::new(graph).with_checkpointer(pg.clone());
    let thread = ThreadKey::chat(32);
    let err = runner
        .invoke(&thread, Input::Start(Trail::default()))
        .await
        .expect_err("fails");
    assert_eq!(err.node(), Some("flaky"));
    assert_eq!(ids(pg.as_ref(), &thread).await, [1]);
    let done = runner
        .invoke(&thread, Input::Continue)
        .await
        .expect("retries");
    assert_eq!(done.state().visited, names(&["flaky"]));
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn a_run_with_nothing_to_do_still_stores_its_input(pool: PgPool) {
    let c = Counters::default();
    let graph = Graph::builder()
        .add_node("never", visit("never", &c))
        .add_conditional_edges(START, |_: &Trail| orch_graph::Route::end())
        .compile()
        .expect("valid");
    let pg = Arc::new(PgCheckpointer::new(pool));
    let runner = Runner::new(graph).with_checkpointer(pg.clone());
    let thread = ThreadKey::chat(33);
    let done = runner
        .invoke(
            &thread,
            Input::Start(Trail {
                count: 7,
                ..Trail::default()
            }),
        )
        .await
        .expect("done");
    assert!(matches!(
        done,
        Outcome::Done {
            checkpoint_id: 1,
            ..
        }
    ));
    assert_eq!(ids(pg.as_ref(), &thread).await, [1]);
    let stored = runner
        .get_state(&thread)
        .await
        .expect("state")
        .expect("exists");
    assert_eq!(stored.state.count, 7);
}

/// Two starts of one thread at once (no lease): both pass the existence check, only one first commit lands.
#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn racing_starts_of_one_thread_leave_one_run(pool: PgPool) {
    let barrier = Arc::new(Barrier::new(2));
    let meet = {
        let barrier = barrier.clone();
        move |_: Arc<Trail>, _: Ctx| {
            let barrier = barrier.clone();
            async move {
                barrier.wait().await;
                Ok::<_, NodeError>(TrailUpdate::visit("meet"))
            }
        }
    };
    let graph = Graph::builder()
        .add_node("meet", meet)
        .add_edge(START, "meet")
        .compile()
        .expect("valid");
    let pg = Arc::new(PgCheckpointer::new(pool));
    let runner = Runner::new(graph).with_checkpointer(pg.clone());
    let thread = ThreadKey::chat(34);
    let (a, b) = tokio::join!(
        runner.invoke(&thread, Input::Start(Trail::default())),
        runner.invoke(&thread, Input::Start(Trail::default()))
    );
    let refused = [&a, &b]
        .iter()
        .filter(|r| {
            matches!(
                r,
                Err(GraphError::Input {
                    reason: InputRefused::AlreadyStarted,
                    ..
                })
            )
        })
        .count();
    assert_eq!(
        (a.is_ok() as usize + b.is_ok() as usize, refused),
        (1, 1),
        "{a:?} {b:?}"
    );
    assert_eq!(ids(pg.as_ref(), &thread).await, [1, 2]);
}
