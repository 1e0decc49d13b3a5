//! The Bot API endpoint `POST /bot{token}/{method}`: token check, case-insensitive method names,
//! parameter parsing, dispatch, the `{"ok":…}` envelope and the call log.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use super::config::TelegramConfig;
use super::error::ApiFailure;
use super::params::Params;
use super::shared::Shared;
use super::state::BotState;
use super::types::BotCall;
use super::{control, methods, polling, webhook};

/// Methods the simulator implements, in Telegram's spelling.
const METHODS: &[&str] = &[
    "getMe",
    "getUpdates",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "deleteMessage",
    "answerCallbackQuery",
    "sendChatAction",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "logOut",
    "close",
];

/// The whole HTTP app: Bot API plus the control API under `/control`.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .nest("/control", control::router())
        .route("/{bot}/{method}", any(call))
        .fallback(|| async { ApiFailure::not_found() })
        .with_state(shared)
}

async fn call(
    State(shared): State<Arc<Shared>>,
    Path((bot, method)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = bot.strip_prefix("bot") else {
        return ApiFailure::not_found().into_response();
    };
    let outcome = dispatch(&shared, token, &method, &headers, query.as_deref(), &body).await;
    match outcome {
        Ok(result) => Json(json!({ "ok": true, "result": result })).into_response(),
        Err(failure) => failure.into_response(),
    }
}

fn canonical(method: &str) -> Option<&'static str> {
    METHODS
        .iter()
        .copied()
        .find(|known| known.eq_ignore_ascii_case(method))
}

async fn dispatch(
    shared: &Arc<Shared>,
    token: &str,
    method: &str,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Value, ApiFailure> {
    if !shared.knows(token) {
        return Err(ApiFailure::unauthorized());
    }
    let method = canonical(method).ok_or_else(ApiFailure::not_found)?;
    let params = Params::parse(headers, query, body)?;
    tracing::debug!(method, "bot api call");
    match method {
        "getUpdates" => polling::get_updates(shared, token, &params).await,
        "setWebhook" => set_webhook(shared, token, &params),
        _ => shared
            .with_bot(token, |bot| {
                run_logged(bot, method, &params, |bot| {
                    run(bot, &shared.config, method, &params)
                })
            })
            .ok_or_else(ApiFailure::unauthorized)?,
    }
}

fn set_webhook(shared: &Arc<Shared>, token: &str, params: &Params) -> Result<Value, ApiFailure> {
    let require_https = shared.config.require_https_webhook;
    let outcome = shared
        .with_bot(token, |bot| {
            let outcome = webhook::set(bot, params, require_https);
            let logged = outcome
                .as_ref()
                .map(|(result, _)| result.clone())
                .map_err(Clone::clone);
            log_call(bot, "setWebhook", params, &logged);
            outcome
        })
        .ok_or_else(ApiFailure::unauthorized)?;
    let (result, generation) = outcome?;
    if let Some(generation) = generation {
        tokio::spawn(webhook::deliver(
            Arc::clone(shared),
            token.to_owned(),
            generation,
        ));
    }
    Ok(result)
}

fn run(
    bot: &mut BotState,
    config: &TelegramConfig,
    method: &str,
    params: &Params,
) -> Result<Value, ApiFailure> {
    match method {
        "getMe" => Ok(bot.me()),
        "sendMessage" => methods::send_message(bot, config.flood_limit, params),
        "editMessageText" => methods::edit_message_text(bot, params),
        "editMessageReplyMarkup" => methods::edit_message_reply_markup(bot, params),
        "deleteMessage" => methods::delete_message(bot, params),
        "answerCallbackQuery" => methods::answer_callback_query(bot, params),
        "sendChatAction" => methods::send_chat_action(bot, params),
        "setMyCommands" => methods::set_my_commands(bot, params),
        "getMyCommands" => Ok(bot.commands.clone()),
        "deleteMyCommands" => {
            bot.commands = json!([]);
            Ok(json!(true))
        }
        "deleteWebhook" => webhook::delete(bot, params),
        "getWebhookInfo" => Ok(webhook::info(bot)),
        "logOut" | "close" => Ok(json!(true)),
        _ => Err(ApiFailure::not_found()),
    }
}

fn run_logged(
    bot: &mut BotState,
    method: &str,
    params: &Params,
    f: impl FnOnce(&mut BotState) -> Result<Value, ApiFailure>,
) -> Result<Value, ApiFailure> {
    let chat_id = call_chat(bot, method, params);
    let outcome = f(bot);
    record(bot, method, chat_id, params, &outcome);
    outcome
}

fn log_call(
    bot: &mut BotState,
    method: &str,
    params: &Params,
    outcome: &Result<Value, ApiFailure>,
) {
    let chat_id = call_chat(bot, method, params);
    record(bot, method, chat_id, params, outcome);
}

/// The chat a call concerns: its `chat_id`, or the chat of the answered callback query.
fn call_chat(bot: &BotState, method: &str, params: &Params) -> Option<i64> {
    if method == "answerCallbackQuery" {
        let id = params.string("callback_query_id")?;
        return bot.callbacks.get(&id).map(|pending| pending.chat_id);
    }
    params.int("chat_id")
}

fn record(
    bot: &mut BotState,
    method: &str,
    chat_id: Option<i64>,
    params: &Params,
    outcome: &Result<Value, ApiFailure>,
) {
    let failure = outcome.as_ref().err();
    let call = BotCall {
        seq: bot.next_call_seq(),
        method: method.to_owned(),
        chat_id,
        params: params.to_json(),
        error_code: failure.map(|f| f.code),
        error: failure.map(|f| f.description.clone()),
        at: chrono::Utc::now(),
    };
    bot.record_call(call);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_match_case_insensitively() {
        assert_eq!(canonical("SendMessage"), Some("sendMessage"));
        assert_eq!(canonical("getupdates"), Some("getUpdates"));
        assert_eq!(canonical("sendPhoto"), None);
    }
}
