//! `getUpdates`: long polling with offsets, limits, `allowed_updates` and Telegram's conflicts
//! (an active webhook; a newer concurrent `getUpdates` terminating the older one).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::error::ApiFailure;
use super::params::Params;
use super::shared::Shared;
use super::state::BotState;

/// Description of the 409 answered while a webhook is set.
pub(crate) const WEBHOOK_ACTIVE: &str = "can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first";
/// Description of the 409 answered to a poll replaced by a newer one.
pub(crate) const TERMINATED: &str =
    "terminated by other getUpdates request; make sure that only one bot instance is running";

/// Parsed `getUpdates` parameters.
#[derive(Debug, Clone)]
struct PollRequest {
    offset: i64,
    limit: usize,
    timeout: Duration,
    allowed_updates: Option<Vec<String>>,
}

impl PollRequest {
    fn from_params(p: &Params, max_timeout: Duration) -> Result<Self, ApiFailure> {
        let limit = p.int("limit").unwrap_or(100).clamp(1, 100);
        let timeout_secs = u64::try_from(p.int("timeout").unwrap_or(0).max(0)).unwrap_or(0);
        Ok(Self {
            offset: p.int("offset").unwrap_or(0),
            limit: usize::try_from(limit).unwrap_or(100),
            timeout: Duration::from_secs(timeout_secs).min(max_timeout),
            allowed_updates: p.string_list("allowed_updates")?,
        })
    }
}

/// Counts a held poll for [`super::SimBot::wait_for_poller`]; uncounts it when dropped, also when
/// the client hangs up.
struct ActivePoll<'a> {
    shared: &'a Shared,
    token: &'a str,
}

impl<'a> ActivePoll<'a> {
    fn new(shared: &'a Shared, token: &'a str) -> Self {
        shared.with_bot(token, |bot| bot.active_polls += 1);
        Self { shared, token }
    }
}

impl Drop for ActivePoll<'_> {
    fn drop(&mut self) {
        self.shared.with_bot(self.token, |bot| {
            bot.active_polls = bot.active_polls.saturating_sub(1);
        });
    }
}

/// Answers `getUpdates`, holding the request up to `timeout` seconds while nothing is queued.
pub(crate) async fn get_updates(
    shared: &Arc<Shared>,
    token: &str,
    p: &Params,
) -> Result<Value, ApiFailure> {
    let request = PollRequest::from_params(p, shared.config.max_poll_timeout)?;
    let generation = shared
        .with_bot(token, |bot| begin(bot, &request))
        .ok_or_else(ApiFailure::unauthorized)??;
    let _active = ActivePoll::new(shared, token);
    let deadline = Instant::now() + request.timeout;
    let outcome = shared
        .wait_for(Some(deadline), |state| {
            let bot = state.bots.get_mut(token)?;
            ready(bot, generation, request.limit)
        })
        .await;
    outcome.unwrap_or_else(|| Ok(json!([])))
}

/// Confirms updates below the offset, applies `allowed_updates`, and claims the poller slot.
fn begin(bot: &mut BotState, request: &PollRequest) -> Result<u64, ApiFailure> {
    if bot.webhook.is_some() {
        return Err(ApiFailure::conflict(WEBHOOK_ACTIVE));
    }
    if request.offset > 0 {
        bot.queue
            .retain(|update| update.update_id >= request.offset);
    } else if request.offset < 0 {
        let keep = usize::try_from(request.offset.unsigned_abs()).unwrap_or(usize::MAX);
        while bot.queue.len() > keep {
            bot.queue.pop_front();
        }
    }
    if let Some(list) = &request.allowed_updates {
        bot.allowed_updates = (!list.is_empty()).then(|| list.clone());
    }
    bot.drop_disallowed();
    bot.poll_gen += 1;
    Ok(bot.poll_gen)
}

/// `Some` when the poll must answer now: with updates, or with a conflict.
fn ready(bot: &mut BotState, generation: u64, limit: usize) -> Option<Result<Value, ApiFailure>> {
    if bot.poll_gen != generation {
        return Some(Err(ApiFailure::conflict(TERMINATED)));
    }
    if bot.webhook.is_some() {
        return Some(Err(ApiFailure::conflict(WEBHOOK_ACTIVE)));
    }
    bot.drop_disallowed();
    if bot.queue.is_empty() {
        return None;
    }
    let updates: Vec<Value> = bot
        .queue
        .iter()
        .take(limit)
        .map(|update| update.json.clone())
        .collect();
    Some(Ok(Value::Array(updates)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telegram::config::BotIdentity;

    fn request(offset: i64) -> PollRequest {
        PollRequest {
            offset,
            limit: 100,
            timeout: Duration::ZERO,
            allowed_updates: None,
        }
    }

    fn bot_with_updates(n: usize) -> BotState {
        let mut bot = BotState::new(BotIdentity::from_token("1:x"));
        for _ in 0..n {
            bot.enqueue("message", json!({}));
        }
        bot
    }

    #[test]
    fn offset_confirms_older_updates() {
        let mut bot = bot_with_updates(3);
        let generation = begin(&mut bot, &request(3)).expect("no webhook");
        let updates = ready(&mut bot, generation, 100)
            .expect("ready")
            .expect("ok");
        assert_eq!(updates, json!([{"update_id": 3, "message": {}}]));
    }

    #[test]
    fn negative_offset_keeps_tail() {
        let mut bot = bot_with_updates(3);
        begin(&mut bot, &request(-1)).expect("no webhook");
        assert_eq!(bot.queue.len(), 1);
    }

    #[test]
    fn newer_poll_terminates_older() {
        let mut bot = bot_with_updates(0);
        let first = begin(&mut bot, &request(0)).expect("no webhook");
        assert!(ready(&mut bot, first, 100).is_none());
        begin(&mut bot, &request(0)).expect("no webhook");
        let failure = ready(&mut bot, first, 100)
            .expect("ready")
            .expect_err("conflict");
        assert_eq!(failure.code, 409);
        assert_eq!(failure.description, format!("Conflict: {TERMINATED}"));
    }

    #[test]
    fn limit_and_allowed_updates() {
        let mut bot = bot_with_updates(3);
        bot.enqueue("callback_query", json!({}));
        let mut req = request(0);
        req.allowed_updates = Some(vec!["callback_query".into()]);
        let generation = begin(&mut bot, &req).expect("no webhook");
        let updates = ready(&mut bot, generation, 1).expect("ready").expect("ok");
        assert_eq!(updates[0]["update_id"], 4);
    }
}
