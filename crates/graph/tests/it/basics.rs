//! Edges, conditional edges, fan-out and joins with reducers, Send tasks, max steps, errors.

use std::sync::Arc;

use orch_graph::{
    BuildError, END, Graph, GraphError, Input, InputRefused, NodeError, Outcome, RetryPolicy,
    Route, Runner, START, ThreadKey,
};

use crate::support::{Counters, Trail, TrailUpdate, memory, names, visit};

fn done(outcome: Outcome<Trail>) -> Trail {
    match outcome {
        Outcome::Done { state, .. } => state,
        other => panic!("expected done, got {other:?}"),
    }
}

#[tokio::test]
async fn edges_run_nodes_in_order_and_the_reducer_accumulates() {
    let c = Counters::default();
    let graph = Graph::builder()
        .add_node("a", visit("a", &c))
        .add_node("b", visit("b", &c))
        .add_node("c", visit("c", &c))
        .add_edge(START, "a")
        .add_edge("a", "b")
        .add_edge("b", "c")
        .add_edge("c", END)
        .compile()
        .expect("valid");
    let runner = Runner::new(graph);
    let state = done(
        runner
            .invoke(&ThreadKey::chat(1), Input::Start(Trail::default()))
            .await
            .expect("runs"),
    );
    assert_eq!(state.visited, names(&["a", "b", "c"]));
    assert_eq!(state.count, 3);
}

#[tokio::test]
async fn conditional_edges_loop_until_the_router_ends() {
    let c = Counters::default();
    let graph = Graph::builder()
        .add_node("work", visit("work", &c))
        .add_node("finish", visit("finish", &c))
        .add_edge(START, "work")
        .add_conditional_edges(
            "work",
            |s: &Trail| if s.count < 3 { "work" } else { "finish" },
        )
        .add_conditional_edges("finish", |_: &Trail| Route::end())
        .compile()
        .expect("valid");
    let runner = Runner::new(graph).with_checkpointer(memory());
    let state = done(
        runner
            .invoke(&ThreadKey::chat(1), Input::Start(Trail::default()))
            .await
            .expect("runs"),
    );
    assert_eq!(state.visited, names(&["work", "work", "work", "finish"]));
}

#[tokio::test]
async fn parallel_branches_merge_through_the_reducer_and_a_join_waits_for_all() {
    let c = Counters::default();
    let graph = Graph::builder()
        .add_node("plan", visit("plan", &c))
        .add_node("front", visit("front", &c))
        .add_node("back", visit("back", &c))
        .add_node("back2", visit("back2", &c))
        .add_node("merge", visit("merge", &c))
        .add_edge(START, "plan")
        .add_edge("plan", "front")
        .add_edge("plan", "back")
        .add_edge("back", "back2")
        .add_join(&["front", "back2"], "merge")
        .compile()
        .expect("valid");
    let runner = Runner::new(graph).with_checkpointer(memory());
    let state = done(
        runner
            .invoke(&ThreadKey::chat(1), Input::Start(Trail::default()))
            .await
            .expect("runs"),
    );
    // front and back ran in one super-step (declaration order), the join waited for back2.
    assert_eq!(
        state.visited,
        names(&["plan", "front", "back", "back2", "merge"])
    );
    assert_eq!(c.get("merge"), 1, "the join fires once");
    assert_eq!(state.count, 5);
}

#[tokio::test]
async fn without_a_join_a_node_reached_by_two_branches_of_one_step_runs_once_per_step() {
    let c = Counters::default();
    let graph = Graph::builder()
        .add_node("a", visit("a", &c))
        .add_node("b", visit("b", &c))
        .add_node("b2", visit("b2", &c))
        .add_node("z", visit("z", &c))
        .add_edge(START, "a")
        .add_edge(START, "b")
        .add_edge("a", "z")
        .add_edge("b", "b2")
        .add_edge("b2", "z")
        .compile()
        .expect("valid");
    let state = done(
        Runner::new(graph)
            .invoke(&ThreadKey::chat(1), Input::Start(Trail::default()))
            .await
            .expect("runs"),
    );
    // z is triggered by a (step 2, together with b2) and again by b2 (step 3): plain edges fire per branch.
    assert_eq!(state.visited, names(&["a", "b", "b2", "z", "z"]));
}

#[tokio::test]
async fn send_fans_out_one_task_per_item_and_the_results_merge() {
    let c = Counters::default();
    let square = |_: Arc<Trail>, ctx: orch_graph::Ctx| async move {
        let n: i64 = ctx.arg()?;
        let mut u = TrailUpdate::visit("square");
        u.results.insert(format!("sq{n}"), n * n);
        Ok::<_, NodeError>(u)
    };
    let graph = Graph::builder()
        .add_node("square", square)
        .add_node("sum", visit("sum", &c))
        .add_conditional_edges(START, |_: &Trail| {
            (1..=3)
                .map(|n| Route::send("square", &n))
                .collect::<Vec<_>>()
        })
        .add_edge("square", "sum")
        .compile()
        .expect("valid");
    let runner = Runner::new(graph).with_checkpointer(memory());
    let state = done(
        runner
            .invoke(&ThreadKey::chat(1), Input::Start(Trail::default()))
            .await
            .expect("runs"),
    );
    assert_eq!(
        state.results.values().copied().collect::<Vec<_>>(),
        [1, 4, 9]
    );
    assert_eq!(state.visited, names(&["square", "square", "square", "sum"]));
    assert_eq!(c.get("sum"), 1);
}

#[tokio::test]
async fn max_steps_stops_a_loop_with_a_clear_error() {
    let c = Counters::default();
    let graph = Graph::builder()
        .add_node("spin", visit("spin", &c))
        .add_edge(START, "spin")
        .add_edge("spin", "spin")
        .compile()
        .expect("valid");
    let runner = Runner::new(graph).with_config(orch_graph::RunnerConfig {
        max_steps: 7,
        ..Default::default()
    });
    let err = runner
        .invoke(&ThreadKey::chat(9), Input::Start(Trail::default()))
        .await
        .expect_err("loops");
    assert!(
        matches!(&err, GraphError::MaxSteps { limit: 7, next, .. } if next == &names(&["spin"]))
    );
    let message = err.to_string();
    assert!(
        message.contains("chat:9") && message.contains("max_steps = 7"),
        "{message}"
    );
    assert_eq!(c.get("spin"), 7);
}

#[tokio::test]
async fn node_errors_name_the_thread_and_node_and_panics_are_caught() {
    let failing = |_: Arc<Trail>, _: orch_graph::Ctx| async {
        Err::<TrailUpdate, _>(NodeError::msg("llm said no"))
    };
    let graph = Graph::builder()
        .add_node("llm", failing)
        .add_edge(START, "llm")
        .compile()
        .expect("valid");
    let err = Runner::new(graph)
        .invoke(&ThreadKey::chat(5), Input::Start(Trail::default()))
        .await
        .expect_err("fails");
    assert_eq!(err.node(), Some("llm"));
    assert_eq!(
        err.to_string(),
        "thread chat:5: node llm failed: llm said no"
    );

    let panicking = |_: Arc<Trail>, _: orch_graph::Ctx| async { panic!("boom") };
    let graph = Graph::builder()
        .add_node("p", panicking)
        .add_edge(START, "p")
        .compile()
        .expect("valid");
    let err = Runner::new(graph)
        .invoke(&ThreadKey::chat(5), Input::Start(Trail::default()))
        .await
        .expect_err("panics");
    assert!(
        matches!(err, GraphError::NodePanicked { ref message, .. } if message == "boom"),
        "{err}"
    );
}

#[tokio::test]
async fn a_router_naming_an_unknown_node_is_a_route_error() {
    let c = Counters::default();
    let graph = Graph::builder()
        .add_node("a", visit("a", &c))
        .add_edge(START, "a")
        .add_conditional_edges("a", |_: &Trail| "nowhere")
        .compile()
        .expect("valid");
    let err = Runner::new(graph)
        .invoke(&ThreadKey::chat(1), Input::Start(Trail::default()))
        .await
        .expect_err("bad route");
    assert!(
        matches!(err, GraphError::Route { ref node, .. } if node == "a"),
        "{err}"
    );
}

#[tokio::test]
async fn a_retry_policy_retries_failures() {
    let c = Counters::default();
    let flaky = {
        let c = c.clone();
        move |_: Arc<Trail>, _: orch_graph::Ctx| {
            let attempt = c.bump("flaky");
            async move {
                if attempt < 3 {
                    return Err(NodeError::msg("503"));
                }
                Ok(TrailUpdate::visit("flaky"))
            }
        }
    };
    let retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: std::time::Duration::from_millis(1),
        max_backoff: std::time::Duration::from_millis(5),
    };
    let graph = Graph::builder()
        .add_node_with("flaky", flaky, retry)
        .add_edge(START, "flaky")
        .compile()
        .expect("valid");
    let state = done(
        Runner::new(graph)
            .invoke(&ThreadKey::chat(1), Input::Start(Trail::default()))
            .await
            .expect("third try"),
    );
    assert_eq!(state.visited, names(&["flaky"]));
    assert_eq!(c.get("flaky"), 3);
}

#[tokio::test]
async fn inputs_follow_the_thread_lifecycle() {
    let c = Counters::default();
    let graph = Graph::builder()
        .add_node("a", visit("a", &c))
        .add_edge(START, "a")
        .compile()
        .expect("valid");
    let runner = Runner::new(graph).with_checkpointer(memory());
    let thread = ThreadKey::chat(3);
    let err = runner
        .invoke(&thread, Input::Continue)
        .await
        .expect_err("nothing yet");
    assert!(matches!(
        err,
        GraphError::Input {
            reason: InputRefused::NotStarted,
            ..
        }
    ));
    done(
        runner
            .invoke(&thread, Input::Start(Trail::default()))
            .await
            .expect("runs"),
    );
    let err = runner
        .invoke(&thread, Input::Start(Trail::default()))
        .await
        .expect_err("twice");
    assert!(
        matches!(
            err,
            GraphError::Input {
                reason: InputRefused::AlreadyStarted,
                ..
            }
        ),
        "{err}"
    );
    let again = done(
        runner
            .invoke(&thread, Input::Continue)
            .await
            .expect("finished"),
    );
    assert_eq!(
        again.visited,
        names(&["a"]),
        "continue on a finished thread changes nothing"
    );
    let message = TrailUpdate {
        answer: Some("a new message".into()),
        ..TrailUpdate::default()
    };
    let next = done(
        runner
            .invoke(&thread, Input::Update(message))
            .await
            .expect("runs again"),
    );
    assert_eq!(next.visited, names(&["a", "a"]));
    assert_eq!(next.answer.as_deref(), Some("a new message"));
}

#[test]
fn invalid_graphs_do_not_compile() {
    let c = Counters::default();
    let dup = Graph::<Trail>::builder()
        .add_node("a", visit("a", &c))
        .add_node("a", visit("a", &c))
        .add_edge(START, "a");
    assert_eq!(
        dup.compile().err(),
        Some(BuildError::DuplicateNode("a".into()))
    );
    let reserved = Graph::<Trail>::builder().add_node(END, visit("a", &c));
    assert_eq!(
        reserved.compile().err(),
        Some(BuildError::ReservedName(END.into()))
    );
    let unknown = Graph::<Trail>::builder()
        .add_node("a", visit("a", &c))
        .add_edge(START, "a")
        .add_edge("a", "b");
    assert!(matches!(
        unknown.compile(),
        Err(BuildError::UnknownNode { .. })
    ));
    let no_entry = Graph::<Trail>::builder().add_node("a", visit("a", &c));
    assert_eq!(no_entry.compile().err(), Some(BuildError::NoEntry));
    let empty_join = Graph::<Trail>::builder()
        .add_node("a", visit("a", &c))
        .add_edge(START, "a")
        .add_join(&[], "a");
    assert_eq!(
        empty_join.compile().err(),
        Some(BuildError::EmptyJoin("a".into()))
    );
}
