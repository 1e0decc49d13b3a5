//! Long polling: only the lease holder polls; a batch is confirmed (by asking for the next offset) only after
//! every update in it was accepted.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use teloxide::prelude::Requester;

use crate::inbound::Intake;
use crate::leader::Leader;
use crate::telegram::PollError;

/// Updates fetched per request.
const BATCH: u32 = 100;

/// Polls until shutdown, taking and keeping the lease as needed.
pub async fn run(
    intake: Arc<Intake>,
    mut leader: Leader,
    timeout: Duration,
    shutdown: CancellationToken,
) {
    while leader.acquire(&shutdown).await {
        let offset = poll_while_leading(&intake, &mut leader, timeout, &shutdown).await;
        if let Some(offset) = offset {
            confirm(&intake, offset).await;
        }
        leader.release().await;
        if shutdown.is_cancelled() {
            break;
        }
    }
    info!("polling stopped");
}

/// Polls while the lease holds; returns the offset to confirm on the way out.
async fn poll_while_leading(
    intake: &Intake,
    leader: &mut Leader,
    timeout: Duration,
    shutdown: &CancellationToken,
) -> Option<i64> {
    let mut offset: Option<i64> = None;
    let mut next_renew = tokio::time::Instant::now() + leader.renew_interval();
    // A long poll outlasting the renew interval is fine: the lease TTL is three intervals.
    let poll_timeout = timeout.min(leader.renew_interval() * 2);
    while !shutdown.is_cancelled() {
        if tokio::time::Instant::now() >= next_renew {
            if !leader.renew().await {
                warn!("lost the polling lease; standing by");
                return offset;
            }
            next_renew = tokio::time::Instant::now() + leader.renew_interval();
        }
        let fetched = tokio::select! {
            r = intake.telegram.get_updates(offset.unwrap_or(0), poll_timeout, BATCH) => r,
            () = shutdown.cancelled() => break,
        };
        match fetched {
            Ok(updates) => offset = accept_all(intake, updates, offset).await,
            Err(PollError::Conflict(reason)) if reason.contains("webhook") => {
                // A webhook from an earlier webhook-mode deployment blocks polling: polling mode removes it.
                warn!(reason, "a webhook is set; deleting it to poll");
                if let Err(e) = intake.telegram.bot().delete_webhook().await {
                    warn!(error = %e, "deleteWebhook failed");
                    pause(Duration::from_secs(1), shutdown).await;
                }
            }
            Err(e) => {
                warn!(error = %e, "getUpdates failed; retrying");
                pause(Duration::from_secs(1), shutdown).await;
            }
        }
    }
    offset
}

/// Accepts updates in order; stops at the first that cannot be accepted so it and the rest are fetched again.
async fn accept_all(
    intake: &Intake,
    updates: Vec<crate::telegram::RawUpdate>,
    offset: Option<i64>,
) -> Option<i64> {
    let accepted = match intake.accept_many(&updates).await {
        Ok(()) => updates.len(),
        Err((accepted, e)) => {
            warn!(error = %e, "update not accepted; it will be fetched again");
            tokio::time::sleep(Duration::from_millis(500)).await;
            accepted
        }
    };
    updates[..accepted]
        .last()
        .map_or(offset, |update| Some(update.update_id + 1))
}

/// Tells Telegram everything below `offset` was received, so the next poller does not get it again.
async fn confirm(intake: &Intake, offset: i64) {
    if let Err(e) = intake.telegram.get_updates(offset, Duration::ZERO, 1).await {
        warn!(error = %e, "could not confirm the last updates; the next poller will see them again (deduplicated)");
    }
}

async fn pause(duration: Duration, shutdown: &CancellationToken) {
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        () = shutdown.cancelled() => {}
    }
}
