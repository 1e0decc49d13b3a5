//! The Telegram simulator driven by the real teloxide client.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use orch_testkit::telegram::{
    ButtonPress, FloodLimit, SECRET_HEADER, SimBot, TelegramConfig, TelegramSim, TgUser,
};
use serde_json::{Value, json};
use teloxide::ApiError;
use teloxide::RequestError;
use teloxide::dispatching::ShutdownToken;
use teloxide::error_handlers::LoggingErrorHandler;
use teloxide::prelude::*;
use teloxide::types::{
    BotCommand, ChatAction, InlineKeyboardButton, InlineKeyboardMarkup, ParseMode, ReplyParameters,
};
use teloxide::update_listeners::Polling;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);
const ALICE_ID: i64 = 42;

fn alice() -> TgUser {
    TgUser::new(ALICE_ID, "Alice").with_username("alice")
}

async fn start(config: TelegramConfig) -> (TelegramSim, SimBot, Bot) {
    let sim = TelegramSim::start(config).await.expect("simulator starts");
    let sim_bot = sim.default_bot().expect("default bot exists");
    let bot = Bot::new(sim.token()).set_api_url(sim.api_url().parse().expect("valid url"));
    (sim, sim_bot, bot)
}

/// A sim with Alice's private chat known (she has started the bot).
async fn start_with_alice() -> (TelegramSim, SimBot, Bot) {
    let (sim, sim_bot, bot) = start(TelegramConfig::default()).await;
    sim_bot
        .add_chat(&orch_testkit::telegram::ChatSpec::Private { user: alice() })
        .expect("chat added");
    (sim, sim_bot, bot)
}

fn keyboard() -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(vec![vec![
        InlineKeyboardButton::callback("Approve", "approve:7"),
        InlineKeyboardButton::callback("Reject", "reject:7"),
    ]])
}

async fn stop(token: ShutdownToken) {
    for _ in 0..10_000 {
        if let Ok(done) = token.shutdown() {
            done.await;
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("dispatcher never became running");
}

#[tokio::test]
async fn get_me_and_unknown_token() {
    let (sim, _, bot) = start(TelegramConfig::with_token("777:secret-token")).await;
    let me = bot.get_me().await.expect("getMe works");
    assert_eq!(me.id.0, 777);
    assert_eq!(me.username(), "sim_777_bot");
    assert!(me.is_bot);

    let stranger = Bot::new("999:wrong").set_api_url(sim.api_url().parse().expect("url"));
    let error = stranger.get_me().await.expect_err("unknown token");
    assert!(
        matches!(error, RequestError::Api(ApiError::InvalidToken)),
        "{error:?}"
    );
}

#[tokio::test]
async fn dispatcher_long_polls_and_replies() {
    let (_sim, sim_bot, bot) = start(TelegramConfig::default()).await;
    let handler = Update::filter_message().endpoint(|bot: Bot, msg: Message| async move {
        let text = msg.text().unwrap_or_default().to_owned();
        bot.send_message(msg.chat.id, format!("echo: {text}"))
            .await?;
        respond(())
    });
    let listener = Polling::builder(bot.clone())
        .timeout(Duration::from_secs(1))
        .build();
    let mut dispatcher = Dispatcher::builder(bot, handler).build();
    let shutdown = dispatcher.shutdown_token();
    let task = tokio::spawn(async move {
        dispatcher
            .dispatch_with_listener(listener, LoggingErrorHandler::new())
            .await;
    });

    let first = sim_bot.send_text(&alice(), "hello").expect("injected");
    let second = sim_bot
        .inject_command(&alice(), None, "status", "app")
        .expect("injected");
    assert_eq!(second, first + 1);
    let sent = sim_bot
        .wait_for_messages(ALICE_ID, 2, WAIT)
        .await
        .expect("bot replied twice");
    assert_eq!(sent[0].text, "echo: hello");
    assert_eq!(sent[1].text, "echo: /status app");

    stop(shutdown).await;
    task.await.expect("dispatcher task ends");
    assert!(
        sim_bot.pending_updates().is_empty(),
        "teloxide confirmed the offset"
    );
    let methods: Vec<String> = sim_bot.calls().into_iter().map(|c| c.method).collect();
    assert!(methods.contains(&"getMe".to_owned()), "{methods:?}");
}

#[tokio::test]
async fn markdown_v2_keyboard_and_parse_errors() {
    let (_sim, sim_bot, bot) = start_with_alice().await;
    let sent = bot
        .send_message(ChatId(ALICE_ID), "*Deploy* `app` to prod\\?")
        .parse_mode(ParseMode::MarkdownV2)
        .reply_markup(keyboard())
        .await
        .expect("valid MarkdownV2 is accepted");
    assert_eq!(sent.text(), Some("Deploy app to prod?"));
    assert_eq!(sent.entities().map(<[_]>::len), Some(2));

    let stored = &sim_bot.sent_messages(ALICE_ID)[0];
    assert_eq!(stored.raw_text, "*Deploy* `app` to prod\\?");
    assert_eq!(stored.parse_mode.as_deref(), Some("MarkdownV2"));
    assert_eq!(stored.callback_data(), vec!["approve:7", "reject:7"]);

    let error = bot
        .send_message(ChatId(ALICE_ID), "Version 1.2 is out!")
        .parse_mode(ParseMode::MarkdownV2)
        .await
        .expect_err("unescaped dot");
    let RequestError::Api(ApiError::CantParseEntities(description)) = error else {
        panic!("unexpected error {error:?}");
    };
    assert_eq!(
        description,
        "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'"
    );

    let long = "x".repeat(4097);
    let error = bot
        .send_message(ChatId(ALICE_ID), long)
        .await
        .expect_err("too long");
    assert!(
        matches!(error, RequestError::Api(ApiError::MessageIsTooLong)),
        "{error:?}"
    );

    let error = bot
        .send_message(ChatId(5), "hi")
        .await
        .expect_err("unknown chat");
    assert!(
        matches!(error, RequestError::Api(ApiError::ChatNotFound)),
        "{error:?}"
    );
    let failed = sim_bot.transcript(ALICE_ID).calls;
    assert_eq!(failed.iter().filter(|c| !c.is_ok()).count(), 2);
}

#[tokio::test]
async fn button_press_answer_and_edit() {
    let (_sim, sim_bot, bot) = start_with_alice().await;
    let sent = bot
        .send_message(ChatId(ALICE_ID), "Approve the plan?")
        .reply_markup(keyboard())
        .await
        .expect("sent");
    let press = ButtonPress {
        from: alice(),
        chat_id: ALICE_ID,
        message_id: sent.id.0,
        data: "approve:7".to_owned(),
    };
    let injected = sim_bot.press_button(&press).expect("button exists");

    let updates = bot.get_updates().await.expect("getUpdates");
    let query = updates
        .into_iter()
        .find_map(|u| match u.kind {
            teloxide::types::UpdateKind::CallbackQuery(q) => Some(q),
            _ => None,
        })
        .expect("callback query delivered");
    assert_eq!(query.id.0, injected.callback_query_id);
    assert_eq!(query.data.as_deref(), Some("approve:7"));
    let message = query.message.expect("message attached");

    bot.answer_callback_query(query.id.clone())
        .text("Approved")
        .await
        .expect("answered");
    let edited = bot
        .edit_message_text(message.chat().id, message.id(), "Plan approved ✅")
        .await
        .expect("edited");
    assert!(edited.edit_date().is_some());

    let error = bot
        .edit_message_text(ChatId(ALICE_ID), sent.id, "Plan approved ✅")
        .await
        .expect_err("same text, no keyboard");
    assert!(
        matches!(error, RequestError::Api(ApiError::MessageNotModified)),
        "{error:?}"
    );
    let error = bot
        .edit_message_text(ChatId(ALICE_ID), teloxide::types::MessageId(999), "x")
        .await
        .expect_err("no such message");
    assert!(
        matches!(error, RequestError::Api(ApiError::MessageToEditNotFound)),
        "{error:?}"
    );
    let error = bot
        .answer_callback_query(query.id)
        .await
        .expect_err("answered twice");
    assert!(
        format!("{error}").contains("query ID is invalid"),
        "{error}"
    );

    let transcript = sim_bot.transcript(ALICE_ID);
    assert_eq!(transcript.messages[0].text, "Plan approved ✅");
    assert_eq!(transcript.messages[0].reply_markup, None);
    assert_eq!(transcript.messages[0].edits, 1);
    let ok_methods: Vec<&str> = transcript
        .calls
        .iter()
        .filter(|c| c.is_ok())
        .map(|c| c.method.as_str())
        .collect();
    assert_eq!(
        ok_methods,
        vec!["sendMessage", "answerCallbackQuery", "editMessageText"]
    );
    assert_eq!(transcript.calls[1].params["text"], "Approved");
}

#[tokio::test]
async fn forced_429_surfaces_as_retry_after() {
    let (_sim, sim_bot, bot) = start_with_alice().await;
    sim_bot.fail_next_sends(1, 3).expect("configured");
    let error = bot
        .send_message(ChatId(ALICE_ID), "first")
        .await
        .expect_err("rate limited");
    let RequestError::RetryAfter(seconds) = error else {
        panic!("unexpected error {error:?}");
    };
    assert_eq!(seconds.seconds(), 3);
    bot.send_message(ChatId(ALICE_ID), "second")
        .await
        .expect("only one call was forced to fail");
    assert_eq!(sim_bot.sent_messages(ALICE_ID).len(), 1);
}

#[tokio::test]
async fn flood_limit_per_chat() {
    let config = TelegramConfig::default().flood_limit(FloodLimit {
        max_messages: 2,
        window: Duration::from_secs(30),
    });
    let (sim, sim_bot, bot) = start(config).await;
    sim_bot
        .add_chat(&orch_testkit::telegram::ChatSpec::Private { user: alice() })
        .expect("chat added");
    for text in ["one", "two"] {
        bot.send_message(ChatId(ALICE_ID), text)
            .await
            .expect("under the limit");
    }
    let error = bot
        .send_message(ChatId(ALICE_ID), "three")
        .await
        .expect_err("over the limit");
    assert!(
        matches!(error, RequestError::RetryAfter(s) if s.seconds() >= 29),
        "{error:?}"
    );
    drop(sim);
}

#[tokio::test]
async fn second_poller_terminates_the_first() {
    let (_sim, sim_bot, bot) = start(TelegramConfig::default()).await;
    let first_bot = bot.clone();
    let first = tokio::spawn(async move { first_bot.get_updates().timeout(20).await });
    sim_bot
        .wait_for_poller(WAIT)
        .await
        .expect("first poll held");
    let second = bot.get_updates().timeout(0).await.expect("newer poll wins");
    assert!(second.is_empty());
    let error = first
        .await
        .expect("task joins")
        .expect_err("older poll terminated");
    assert!(
        matches!(
            error,
            RequestError::Api(ApiError::TerminatedByOtherGetUpdates)
        ),
        "{error:?}"
    );
}

/// A webhook receiver that fails the first request with 500, then records updates.
async fn webhook_receiver() -> (String, mpsc::UnboundedReceiver<(Option<String>, Value)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let failures = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let app = axum::Router::new().route(
        "/tg",
        axum::routing::post(move |headers: HeaderMap, body: axum::Json<Value>| {
            let tx = tx.clone();
            let failures = Arc::clone(&failures);
            async move {
                if failures.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                let secret = headers
                    .get(SECRET_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let _ = tx.send((secret, body.0));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/tg"), rx)
}

#[tokio::test]
async fn webhook_blocks_polling_and_receives_updates() {
    let config = TelegramConfig {
        webhook_retry: orch_testkit::telegram::WebhookRetry {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(50),
        },
        ..TelegramConfig::default()
    };
    let (_sim, sim_bot, bot) = start(config).await;
    let (url, mut received) = webhook_receiver().await;
    bot.set_webhook(url.parse().expect("url"))
        .secret_token("s3cret-token")
        .await
        .expect("webhook set");
    assert_eq!(
        bot.get_webhook_info()
            .await
            .expect("info")
            .url
            .map(|u| u.to_string()),
        Some(url)
    );

    let error = bot.get_updates().await.expect_err("webhook active");
    let RequestError::Api(ApiError::Unknown(description)) = error else {
        panic!("unexpected error {error:?}");
    };
    assert_eq!(
        description,
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
    );

    let update_id = sim_bot
        .send_text(&alice(), "via webhook")
        .expect("injected");
    let (secret, update) = tokio::time::timeout(WAIT, received.recv())
        .await
        .expect("delivered in time")
        .expect("receiver open");
    assert_eq!(secret.as_deref(), Some("s3cret-token"));
    assert_eq!(update["update_id"], json!(update_id));
    assert_eq!(update["message"]["text"], "via webhook");
    sim_bot
        .wait_for_no_pending(WAIT)
        .await
        .expect("queue drained");
    let info = sim_bot.webhook_info();
    assert_eq!(
        info["last_error_message"],
        "Wrong response from the webhook: 500 Internal Server Error"
    );

    bot.delete_webhook().await.expect("deleted");
    sim_bot.send_text(&alice(), "polled").expect("injected");
    let updates = bot.get_updates().await.expect("polling works again");
    assert_eq!(updates.len(), 1);
}

#[tokio::test]
async fn raw_http_errors_and_control_api() {
    let (sim, _, _) = start(TelegramConfig::default()).await;
    let http = reqwest::Client::new();
    let base = sim.api_url();
    let token = sim.token().to_owned();

    let response = http
        .post(format!("{base}/bot{token}/sendPhoto"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({"ok": false, "error_code": 404, "description": "Not Found"})
    );

    let control = sim.control_url();
    let injected: Value = http
        .post(format!("{control}/bots/{token}/messages"))
        .json(&json!({"from": {"id": 7, "first_name": "Bob"}, "text": "hi"}))
        .send()
        .await
        .expect("inject")
        .json()
        .await
        .expect("json");
    assert_eq!(injected["update_id"], 1);

    let sent: Value = http
        .post(format!("{base}/bot{token}/SendMessage"))
        .json(&json!({"chat_id": 7, "text": "<b>bold</b>", "parse_mode": "HTML"}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(sent["result"]["text"], "bold");

    let waited = http
        .get(format!(
            "{control}/bots/{token}/chats/7/wait?count=1&timeout_ms=2000"
        ))
        .send()
        .await
        .expect("wait");
    assert_eq!(waited.status(), 200);
    let transcript: Value = waited.json().await.expect("json");
    assert_eq!(transcript["messages"][0]["text"], "bold");

    let timed_out = http
        .get(format!(
            "{control}/bots/{token}/chats/7/wait?count=2&timeout_ms=50"
        ))
        .send()
        .await
        .expect("wait");
    assert_eq!(timed_out.status(), 408);
    sim.shutdown().await;
}

#[tokio::test]
async fn group_chat_reply_delete_and_commands() {
    let (_sim, sim_bot, bot) = start(TelegramConfig::default()).await;
    let group = orch_testkit::telegram::ChatSpec::Supergroup {
        id: -100_123,
        title: "Ops".to_owned(),
    };
    let incoming = orch_testkit::telegram::IncomingMessage {
        from: alice(),
        chat: Some(group),
        text: "deploy please".to_owned(),
    };
    sim_bot.inject_message(&incoming).expect("injected");
    let updates = bot.get_updates().await.expect("getUpdates");
    let teloxide::types::UpdateKind::Message(message) = &updates[0].kind else {
        panic!("expected a message update");
    };
    assert!(message.chat.is_supergroup());
    assert_eq!(message.from.as_ref().map(|u| u.id.0), Some(42));

    bot.send_chat_action(message.chat.id, ChatAction::Typing)
        .await
        .expect("typing");
    let reply = bot
        .send_message(message.chat.id, "on it")
        .reply_parameters(ReplyParameters::new(message.id))
        .await
        .expect("reply");
    assert_eq!(
        reply.reply_to_message().map(|m| m.id),
        Some(message.id),
        "reply carries the original"
    );
    let error = bot
        .send_message(message.chat.id, "x")
        .reply_parameters(ReplyParameters::new(teloxide::types::MessageId(555)))
        .await
        .expect_err("no such message");
    assert!(
        format!("{error}").contains("message to be replied not found"),
        "{error}"
    );

    bot.delete_message(message.chat.id, reply.id)
        .await
        .expect("deleted");
    assert!(sim_bot.sent_messages(-100_123).is_empty());
    let error = bot
        .delete_message(message.chat.id, reply.id)
        .await
        .expect_err("already deleted");
    assert!(
        matches!(error, RequestError::Api(ApiError::MessageToDeleteNotFound)),
        "{error:?}"
    );

    let commands = vec![BotCommand::new("new", "Start a project")];
    bot.set_my_commands(commands.clone()).await.expect("set");
    assert_eq!(bot.get_my_commands().await.expect("get"), commands);
}

#[tokio::test]
async fn webhook_gives_up_after_max_attempts() {
    let config = TelegramConfig {
        webhook_retry: orch_testkit::telegram::WebhookRetry {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(10),
        },
        ..TelegramConfig::default()
    };
    let (_sim, sim_bot, bot) = start(config).await;
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", closed.local_addr().expect("addr"));
    drop(closed);
    bot.set_webhook(url.parse().expect("url"))
        .await
        .expect("webhook set");
    sim_bot.send_text(&alice(), "lost").expect("injected");
    sim_bot
        .wait_for_no_pending(WAIT)
        .await
        .expect("update dropped after the retries");
    assert_eq!(
        sim_bot.webhook_info()["last_error_message"],
        "Connection refused"
    );
    let info = bot.get_webhook_info().await.expect("info");
    assert_eq!(info.pending_update_count, 0);
    assert!(info.last_error_message.is_some());
}
