//! The control API under `/control`: the same operations as [`super::LlmSim`] over HTTP JSON.
//!
//! | method | path | body / query | answer |
//! | --- | --- | --- | --- |
//! | GET | `/control/requests` | | `[CapturedRequest]` |
//! | DELETE | `/control/requests` | | `{}` |
//! | GET | `/control/requests/wait` | `?count=N&timeout_ms=M` | `[CapturedRequest]` or 408 |
//! | GET | `/control/rules` | | `[{"rule","remaining"}]` |
//! | POST | `/control/rules` | [`Rule`] or `[Rule]` (appended) | `{"added":N}` |
//! | PUT | `/control/rules` | `[Rule]` (replaces runtime and configured rules) | `{"rules":N}` |
//! | POST | `/control/queue` | [`Answer`] or `[Answer]` | `{"queued":N}` |
//! | POST | `/control/faults` | `{"answer":Answer,"count":N}` | `{}` |
//! | PUT | `/control/default` | [`Answer`] | `{}` |
//! | POST | `/control/reset` | | `{}` |

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::LlmSimError;
use super::script::{Answer, Rule};
use super::state::Shared;

/// Routes of the control API, relative to `/control`.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/requests", get(requests).delete(clear_requests))
        .route("/requests/wait", get(wait_requests))
        .route("/rules", get(rules).post(add_rules).put(replace_rules))
        .route("/queue", post(queue))
        .route("/faults", post(faults))
        .route("/default", put(set_default))
        .route("/reset", post(reset))
}

/// One item or a list of items.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    Many(Vec<T>),
    One(T),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            Self::Many(items) => items,
            Self::One(item) => vec![item],
        }
    }
}

async fn requests(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(shared.lock().requests))
}

async fn clear_requests(State(shared): State<Arc<Shared>>) -> Json<Value> {
    shared.update(|state| state.requests.clear());
    Json(json!({}))
}

/// Query of the wait endpoint.
#[derive(Debug, Deserialize)]
struct WaitQuery {
    count: usize,
    #[serde(default = "default_wait_ms")]
    timeout_ms: u64,
}

fn default_wait_ms() -> u64 {
    5_000
}

async fn wait_requests(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<WaitQuery>,
) -> Result<Json<Value>, LlmSimError> {
    let timeout = Duration::from_millis(query.timeout_ms);
    let found = shared
        .wait_for(timeout, |state| {
            (state.requests.len() >= query.count).then(|| json!(state.requests))
        })
        .await;
    found.map(Json).ok_or(LlmSimError::Timeout {
        what: format!("{} requests", query.count),
        waited: timeout,
    })
}

async fn rules(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let state = shared.lock();
    let list: Vec<Value> = state
        .rules
        .iter()
        .map(|active| json!({ "rule": active.rule, "remaining": active.remaining }))
        .collect();
    Json(Value::Array(list))
}

async fn add_rules(
    State(shared): State<Arc<Shared>>,
    Json(body): Json<OneOrMany<Rule>>,
) -> Result<Json<Value>, LlmSimError> {
    let rules = body.into_vec();
    let added = rules.len();
    shared.update(|state| rules.into_iter().try_for_each(|rule| state.add_rule(rule)))?;
    Ok(Json(json!({ "added": added })))
}

async fn replace_rules(
    State(shared): State<Arc<Shared>>,
    Json(rules): Json<Vec<Rule>>,
) -> Result<Json<Value>, LlmSimError> {
    let count = rules.len();
    shared.update(|state| {
        state.rules.clear();
        rules.into_iter().try_for_each(|rule| state.add_rule(rule))
    })?;
    Ok(Json(json!({ "rules": count })))
}

async fn queue(
    State(shared): State<Arc<Shared>>,
    Json(body): Json<OneOrMany<Answer>>,
) -> Json<Value> {
    let answers = body.into_vec();
    let queued = answers.len();
    shared.update(|state| state.queue.extend(answers));
    Json(json!({ "queued": queued }))
}

/// Body of `POST /control/faults`.
#[derive(Debug, Deserialize)]
struct Faults {
    answer: Answer,
    count: usize,
}

async fn faults(State(shared): State<Arc<Shared>>, Json(body): Json<Faults>) -> Json<Value> {
    shared.update(|state| {
        state
            .faults
            .extend(std::iter::repeat_n(body.answer, body.count));
    });
    Json(json!({}))
}

async fn set_default(State(shared): State<Arc<Shared>>, Json(answer): Json<Answer>) -> Json<Value> {
    shared.update(|state| state.default_answer = answer);
    Json(json!({}))
}

async fn reset(State(shared): State<Arc<Shared>>) -> Result<Json<Value>, LlmSimError> {
    shared.reset()?;
    Ok(Json(json!({})))
}
