//! The control API under `/control`: the same operations as [`super::SimBot`] over HTTP JSON, for
//! tests in other processes and for the offline demo.
//!
//! | method | path | body / query | answer |
//! | --- | --- | --- | --- |
//! | GET | `/control/bots` | | `[{"token","id","username"}]` |
//! | POST | `/control/reset` | | `{}` |
//! | POST | `/control/bots/{token}/messages` | [`IncomingMessage`] | `{"update_id"}` |
//! | POST | `/control/bots/{token}/commands` | `{"from","chat"?,"command","args"?}` | `{"update_id"}` |
//! | POST | `/control/bots/{token}/callbacks` | [`ButtonPress`] | [`super::InjectedCallback`] |
//! | POST | `/control/bots/{token}/chats` | [`ChatSpec`] | `{}` |
//! | GET | `/control/bots/{token}/chats/{chat_id}` | | [`super::Transcript`] |
//! | GET | `/control/bots/{token}/chats/{chat_id}/wait` | `?count=N&timeout_ms=M` | [`super::Transcript`] or 408 |
//! | GET | `/control/bots/{token}/calls` | | `[BotCall]` |
//! | GET | `/control/bots/{token}/updates` | | pending updates |
//! | GET | `/control/bots/{token}/webhook` | | `getWebhookInfo` result |
//! | POST | `/control/bots/{token}/fail-sends` | `{"count","retry_after"}` | `{}` |

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::TelegramSimError;
use super::handle::SimBot;
use super::shared::Shared;
use super::types::{ButtonPress, ChatSpec, IncomingMessage, TgUser};

type Reply = Result<Json<Value>, TelegramSimError>;

/// Routes of the control API, relative to `/control`.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/bots", get(list_bots))
        .route("/reset", post(reset))
        .route("/bots/{token}/messages", post(inject_message))
        .route("/bots/{token}/commands", post(inject_command))
        .route("/bots/{token}/callbacks", post(press_button))
        .route("/bots/{token}/chats", post(add_chat))
        .route("/bots/{token}/chats/{chat_id}", get(transcript))
        .route("/bots/{token}/chats/{chat_id}/wait", get(wait_messages))
        .route("/bots/{token}/calls", get(calls))
        .route("/bots/{token}/updates", get(updates))
        .route("/bots/{token}/webhook", get(webhook_info))
        .route("/bots/{token}/fail-sends", post(fail_sends))
}

fn bot(shared: &Arc<Shared>, token: &str) -> Result<SimBot, TelegramSimError> {
    SimBot::new(Arc::clone(shared), token)
}

fn to_json<T: serde::Serialize>(value: &T) -> Json<Value> {
    Json(serde_json::to_value(value).unwrap_or(Value::Null))
}

async fn list_bots(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let bots: Vec<Value> = shared
        .config
        .bots
        .iter()
        .map(|b| json!({ "token": b.token, "id": b.id, "username": b.username }))
        .collect();
    Json(Value::Array(bots))
}

async fn reset(State(shared): State<Arc<Shared>>) -> Json<Value> {
    for bot in shared.lock().bots.values_mut() {
        bot.reset();
    }
    shared.notify();
    Json(json!({}))
}

async fn inject_message(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    Json(message): Json<IncomingMessage>,
) -> Reply {
    let update_id = bot(&shared, &token)?.inject_message(&message)?;
    Ok(Json(json!({ "update_id": update_id })))
}

/// Body of `POST /control/bots/{token}/commands`.
#[derive(Debug, Deserialize)]
struct CommandBody {
    from: TgUser,
    #[serde(default)]
    chat: Option<ChatSpec>,
    command: String,
    #[serde(default)]
    args: String,
}

async fn inject_command(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    Json(body): Json<CommandBody>,
) -> Reply {
    let update_id =
        bot(&shared, &token)?.inject_command(&body.from, body.chat, &body.command, &body.args)?;
    Ok(Json(json!({ "update_id": update_id })))
}

async fn press_button(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    Json(press): Json<ButtonPress>,
) -> Reply {
    Ok(to_json(&bot(&shared, &token)?.press_button(&press)?))
}

async fn add_chat(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    Json(chat): Json<ChatSpec>,
) -> Reply {
    bot(&shared, &token)?.add_chat(&chat)?;
    Ok(Json(json!({})))
}

async fn transcript(
    State(shared): State<Arc<Shared>>,
    Path((token, chat_id)): Path<(String, i64)>,
) -> Reply {
    Ok(to_json(&bot(&shared, &token)?.transcript(chat_id)))
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

async fn wait_messages(
    State(shared): State<Arc<Shared>>,
    Path((token, chat_id)): Path<(String, i64)>,
    Query(query): Query<WaitQuery>,
) -> Reply {
    let bot = bot(&shared, &token)?;
    let timeout = Duration::from_millis(query.timeout_ms);
    bot.wait_for_messages(chat_id, query.count, timeout).await?;
    Ok(to_json(&bot.transcript(chat_id)))
}

async fn calls(State(shared): State<Arc<Shared>>, Path(token): Path<String>) -> Reply {
    Ok(to_json(&bot(&shared, &token)?.calls()))
}

async fn updates(State(shared): State<Arc<Shared>>, Path(token): Path<String>) -> Reply {
    Ok(Json(Value::Array(bot(&shared, &token)?.pending_updates())))
}

async fn webhook_info(State(shared): State<Arc<Shared>>, Path(token): Path<String>) -> Reply {
    Ok(Json(bot(&shared, &token)?.webhook_info()))
}

/// Body of `POST /control/bots/{token}/fail-sends`.
#[derive(Debug, Deserialize)]
struct FailSends {
    count: u32,
    retry_after: u64,
}

async fn fail_sends(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    Json(body): Json<FailSends>,
) -> Reply {
    bot(&shared, &token)?.fail_next_sends(body.count, body.retry_after)?;
    Ok(Json(json!({})))
}
