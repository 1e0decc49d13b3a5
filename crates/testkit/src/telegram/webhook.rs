//! `setWebhook` / `deleteWebhook` / `getWebhookInfo`, and delivery of queued updates to the
//! webhook: one POST at a time in update order, with the `X-Telegram-Bot-Api-Secret-Token`
//! header, retried with backoff and dropped after the configured number of attempts.

use std::sync::Arc;

use serde_json::{Value, json};

use super::error::ApiFailure;
use super::params::Params;
use super::shared::Shared;
use super::state::{BotState, SimState, Webhook};

/// Header carrying the webhook's secret token.
pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

/// `setWebhook`; returns the result and the webhook generation whose deliverer must start.
pub(crate) fn set(
    bot: &mut BotState,
    p: &Params,
    require_https: bool,
) -> Result<(Value, Option<u64>), ApiFailure> {
    let url = p.string("url").unwrap_or_default();
    if url.is_empty() {
        return delete(bot, p).map(|result| (result, None));
    }
    let parsed = reqwest::Url::parse(&url)
        .ok()
        .filter(|u| u.host_str().is_some() && matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| ApiFailure::bad_request("bad webhook: invalid webhook URL specified"))?;
    if require_https && parsed.scheme() != "https" {
        return Err(ApiFailure::bad_request(
            "bad webhook: HTTPS url must be provided for webhook",
        ));
    }
    let secret_token = p.string("secret_token").filter(|s| !s.is_empty());
    if let Some(secret) = &secret_token {
        let allowed = secret.len() <= 256
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !allowed {
            return Err(ApiFailure::bad_request(
                "bad webhook: secret token contains unallowed characters",
            ));
        }
    }
    if let Some(list) = p.string_list("allowed_updates")? {
        bot.allowed_updates = (!list.is_empty()).then_some(list);
    }
    if p.flag("drop_pending_updates") {
        bot.queue.clear();
    }
    bot.webhook_gen += 1;
    bot.webhook = Some(Webhook {
        url,
        secret_token,
        max_connections: u64::try_from(p.int("max_connections").unwrap_or(40).clamp(1, 100))
            .unwrap_or(40),
        last_error: None,
    });
    Ok((json!(true), Some(bot.webhook_gen)))
}

/// `deleteWebhook`.
pub(crate) fn delete(bot: &mut BotState, p: &Params) -> Result<Value, ApiFailure> {
    if p.flag("drop_pending_updates") {
        bot.queue.clear();
    }
    if bot.webhook.take().is_some() {
        bot.webhook_gen += 1;
    }
    Ok(json!(true))
}

/// `getWebhookInfo`.
pub(crate) fn info(bot: &BotState) -> Value {
    let pending = bot.queue.iter().filter(|u| bot.allows(u.kind)).count();
    let Some(webhook) = &bot.webhook else {
        return json!({ "url": "", "has_custom_certificate": false, "pending_update_count": pending });
    };
    let mut info = json!({
        "url": webhook.url,
        "has_custom_certificate": false,
        "pending_update_count": pending,
        "max_connections": webhook.max_connections,
    });
    if let Some(allowed) = &bot.allowed_updates {
        info["allowed_updates"] = json!(allowed);
    }
    if let Some((date, message)) = &webhook.last_error {
        info["last_error_date"] = json!(date);
        info["last_error_message"] = json!(message);
    }
    info
}

/// What the deliverer does next.
enum Step {
    Stop,
    Post {
        update_id: i64,
        body: Value,
        url: String,
        secret: Option<String>,
    },
}

fn next_step(state: &mut SimState, token: &str, generation: u64) -> Option<Step> {
    let Some(bot) = state.bots.get_mut(token) else {
        return Some(Step::Stop);
    };
    let Some(webhook) = bot
        .webhook
        .clone()
        .filter(|_| bot.webhook_gen == generation)
    else {
        return Some(Step::Stop);
    };
    bot.drop_disallowed();
    let update = bot.queue.front()?;
    Some(Step::Post {
        update_id: update.update_id,
        body: update.json.clone(),
        url: webhook.url,
        secret: webhook.secret_token,
    })
}

/// Delivers queued updates until the webhook is replaced or removed or the simulator closes.
pub(crate) async fn deliver(shared: Arc<Shared>, token: String, generation: u64) {
    let retry = shared.config.webhook_retry;
    let mut failures = 0u32;
    loop {
        let step = shared
            .wait_for(None, |state| next_step(state, &token, generation))
            .await;
        let Some(Step::Post {
            update_id,
            body,
            url,
            secret,
        }) = step
        else {
            return;
        };
        let outcome = post(&shared.http, &url, secret.as_deref(), &body).await;
        let give_up = outcome.is_err() && failures + 1 >= retry.max_attempts;
        shared.with_bot(&token, |bot| record(bot, update_id, &outcome, give_up));
        match outcome {
            Ok(()) => failures = 0,
            Err(_) if give_up => failures = 0,
            Err(error) => {
                failures += 1;
                tracing::debug!(update_id, %error, failures, "webhook delivery failed");
                tokio::time::sleep(retry.backoff(failures)).await;
            }
        }
    }
}

fn record(bot: &mut BotState, update_id: i64, outcome: &Result<(), String>, give_up: bool) {
    if outcome.is_ok() || give_up {
        bot.queue.retain(|update| update.update_id != update_id);
    }
    if let (Err(message), Some(webhook)) = (outcome, bot.webhook.as_mut()) {
        webhook.last_error = Some((chrono::Utc::now().timestamp(), message.clone()));
    }
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    secret: Option<&str>,
    body: &Value,
) -> Result<(), String> {
    let mut request = http.post(url).json(body);
    if let Some(secret) = secret {
        request = request.header(SECRET_HEADER, secret);
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => {
            let status = response.status();
            Err(format!(
                "Wrong response from the webhook: {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ))
        }
        Err(error) if error.is_timeout() => Err("Read timeout expired".to_owned()),
        Err(error) if error.is_connect() => Err("Connection refused".to_owned()),
        Err(_) => Err("Failed to deliver the update".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::telegram::config::BotIdentity;

    fn params(value: Value) -> Params {
        match value {
            Value::Object(map) => Params(map),
            _ => Params(Map::new()),
        }
    }

    #[test]
    fn set_info_delete() {
        let mut bot = BotState::new(BotIdentity::from_token("1:x"));
        let (_, generation) = set(
            &mut bot,
            &params(json!({"url": "http://127.0.0.1:9/tg", "secret_token": "s3cret"})),
            false,
        )
        .expect("valid webhook");
        assert_eq!(generation, Some(1));
        assert_eq!(info(&bot)["url"], "http://127.0.0.1:9/tg");
        delete(&mut bot, &params(json!({}))).expect("deleted");
        assert_eq!(info(&bot)["url"], "");
    }

    #[test]
    fn https_required_when_configured() {
        let mut bot = BotState::new(BotIdentity::from_token("1:x"));
        let failure = set(&mut bot, &params(json!({"url": "http://a.b/x"})), true)
            .expect_err("plain http refused");
        assert_eq!(
            failure.description,
            "Bad Request: bad webhook: HTTPS url must be provided for webhook"
        );
    }
}
