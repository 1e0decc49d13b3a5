//! `build_plan`: valid plans order into parallel waves; broken ones are refused with the reason.

use orch_contracts::plan::{BuildPlan, MAX_TASKS};
use serde_json::{Value, json};

fn task(key: &str, deps: &[&str]) -> Value {
    json!({"key": key, "title": format!("Build {key}"), "body": "Do it, with tests.", "depends_on": deps})
}

fn plan(tasks: Vec<Value>) -> Value {
    json!({
        "schema_version": 1,
        "repository": {
            "name": "weather-bot", "description": "Morning forecasts in Telegram", "language": "python",
            "layout": [{"path": "bot/", "purpose": "the bot"}, {"path": "tests/", "purpose": "tests"}]
        },
        "tasks": tasks
    })
}

fn parse(value: Value) -> BuildPlan {
    serde_json::from_value(value).expect("plan JSON")
}

fn violations(value: Value) -> String {
    parse(value)
        .validate()
        .expect_err("the plan must be refused")
        .as_slice()
        .join("; ")
}

#[test]
fn independent_tasks_share_a_wave_and_dependents_follow() {
    let plan = parse(plan(vec![
        task("forecast", &[]),
        task("bot", &[]),
        task("morning-push", &["forecast", "bot"]),
        task("docs", &["morning-push"]),
    ]));
    plan.validate().expect("valid");
    let waves: Vec<Vec<&str>> = plan
        .waves()
        .expect("acyclic")
        .iter()
        .map(|wave| wave.iter().map(|t| t.key.as_str()).collect())
        .collect();
    assert_eq!(
        waves,
        vec![vec!["forecast", "bot"], vec!["morning-push"], vec!["docs"]]
    );
}

#[test]
fn a_cycle_is_refused() {
    let why = violations(plan(vec![
        task("a", &["c"]),
        task("b", &["a"]),
        task("c", &["b"]),
    ]));
    assert!(why.contains("cycle"), "{why}");
}

#[test]
fn unknown_and_self_dependencies_are_refused() {
    let why = violations(plan(vec![task("a", &["ghost"]), task("b", &["b"])]));
    assert!(why.contains("unknown task `ghost`"), "{why}");
    assert!(why.contains("`b` depends on itself"), "{why}");
}

#[test]
fn duplicate_keys_bad_names_and_escaping_paths_are_refused() {
    let mut value = plan(vec![task("a", &[]), task("a", &[]), task("Bad Key", &[])]);
    value["repository"]["name"] = json!("Weather Bot");
    value["repository"]["layout"] = json!([{"path": "../etc", "purpose": "escape"}]);
    let why = violations(value);
    for expected in [
        "unique",
        "task key `Bad Key`",
        "repository name `Weather Bot`",
        "`../etc`",
    ] {
        assert!(why.contains(expected), "missing {expected:?} in {why}");
    }
}

#[test]
fn the_task_count_is_bounded() {
    assert!(violations(plan(Vec::new())).contains("between 1 and"));
    let many = (0..=MAX_TASKS)
        .map(|i| task(&format!("t{i}"), &[]))
        .collect();
    assert!(violations(plan(many)).contains("between 1 and"));
}

#[test]
fn unknown_fields_are_refused_and_the_schema_describes_tasks() {
    let mut value = plan(vec![task("a", &[])]);
    value["tasks"][0]["priority"] = json!("high");
    assert!(serde_json::from_value::<BuildPlan>(value).is_err());
    let schema = BuildPlan::json_schema();
    assert!(schema["properties"]["tasks"].is_object(), "{schema}");
    assert!(schema["$defs"]["PlannedTask"]["properties"]["depends_on"].is_object());
}
