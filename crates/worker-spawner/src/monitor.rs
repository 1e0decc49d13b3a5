//! Watching a running worker: its log lines go to `worker:progress:<id>`; its pid count is sampled so a fork
//! bomb is stopped early and classified.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::LogsOptionsBuilder;
use futures::StreamExt;
use orch_bus::Bus;
use orch_contracts::messages::worker::WorkerProgress;
use orch_contracts::{Envelope, RunId, WorkerId, streams};
use tokio::time::Instant;
use tracing::debug;

use crate::container::Containers;
use crate::secrets::Redactor;

/// The longest line published; longer ones are cut.
const MAX_LINE: usize = 4096;
/// Lines per progress message at most.
const MAX_LINES: usize = 200;
/// Bytes per progress message at most (below the contract's 64 KiB).
const MAX_BYTES: usize = 60 * 1024;

/// Where and how a worker's log lines are published.
#[derive(Clone)]
pub struct ProgressSink {
    /// The bus.
    pub bus: Bus,
    /// The worker.
    pub worker_id: WorkerId,
    /// The run, for correlation.
    pub run_id: Option<RunId>,
    /// Scrubs secret values.
    pub redactor: Redactor,
    /// How often to publish.
    pub interval: Duration,
}

impl ProgressSink {
    async fn publish(&self, seq: &mut u64, lines: &mut Vec<String>) {
        while !lines.is_empty() {
            let mut take = 0;
            let mut bytes = 0;
            while take < lines.len() && take < MAX_LINES && bytes + lines[take].len() <= MAX_BYTES {
                bytes += lines[take].len();
                take += 1;
            }
            let batch: Vec<String> = lines.drain(..take.max(1)).collect();
            let mut envelope = Envelope::new(WorkerProgress {
                worker_id: self.worker_id,
                seq: *seq,
                lines: batch,
            });
            envelope.run_id = self.run_id;
            let stream = streams::worker_progress(self.worker_id);
            // Progress is best effort: a lost batch is logged, the worker carries on.
            if let Err(e) = self.bus.publish_result(&stream, &envelope).await {
                debug!(error = %e, "could not publish progress");
            }
            *seq += 1;
        }
    }
}

/// Follows the container's output until it ends and publishes it in batches. `since` (unix seconds) skips
/// what an earlier spawner already published; the sequence continues from the stream's length.
pub async fn stream_progress(docker: Docker, container: String, sink: ProgressSink, since: i32) {
    let mut seq = sink
        .bus
        .len(&streams::worker_progress(sink.worker_id))
        .await
        .unwrap_or(0);
    let options = LogsOptionsBuilder::default()
        .follow(true)
        .stdout(true)
        .stderr(true)
        .since(since)
        .build();
    let mut logs = docker.logs(&container, Some(options));
    let mut partial = String::new();
    let mut lines = Vec::new();
    let mut tick = tokio::time::interval(sink.interval);
    loop {
        tokio::select! {
            item = logs.next() => match item {
                Some(Ok(output)) => split_lines(&mut partial, &output.to_string(), &mut lines, &sink.redactor),
                Some(Err(e)) => { debug!(error = %e, "log stream ended with an error"); break; }
                None => break,
            },
            _ = tick.tick() => sink.publish(&mut seq, &mut lines).await,
        }
    }
    if !partial.is_empty() {
        lines.push(sink.redactor.redact(&cut(&partial)));
    }
    sink.publish(&mut seq, &mut lines).await;
}

fn split_lines(partial: &mut String, chunk: &str, lines: &mut Vec<String>, redactor: &Redactor) {
    partial.push_str(chunk);
    while let Some(pos) = partial.find('\n') {
        let line: String = partial.drain(..=pos).collect();
        lines.push(redactor.redact(&cut(line.trim_end_matches(['\n', '\r']))));
    }
    if partial.len() > MAX_LINE {
        lines.push(redactor.redact(&cut(partial)));
        partial.clear();
    }
}

fn cut(line: &str) -> String {
    if line.len() <= MAX_LINE {
        return line.to_owned();
    }
    let mut end = MAX_LINE;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

/// Samples the pid count; returns once it has sat at (or just under) `limit` for `kill_after`. `hit` is set as
/// soon as that is reached at all. "Just under" is within `limit / 16` (at least 1): at the limit, processes
/// that fail to fork exit and others take their place, so the count hovers rather than sits exactly at the
/// limit. Sampling errors are ignored (the container may be exiting).
pub async fn watch_pids(
    containers: Containers,
    container: String,
    limit: u64,
    interval: Duration,
    kill_after: Duration,
    hit: Arc<AtomicBool>,
) {
    let mut pinned_since: Option<Instant> = None;
    let mut tick = tokio::time::interval(interval);
    let pinned_at = limit.saturating_sub((limit / 16).max(1));
    loop {
        tick.tick().await;
        let Ok(Some(current)) = containers.pids(&container).await else {
            continue;
        };
        if current >= pinned_at {
            hit.store(true, Ordering::Relaxed);
            let since = *pinned_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= kill_after {
                return;
            }
        } else {
            pinned_since = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::secrets::ResolvedSecrets;

    #[test]
    fn chunks_become_redacted_lines() {
        let mut secrets = ResolvedSecrets::default();
        secrets.push("T", SecretString::from("tok_123456"));
        let redactor = secrets.redactor();
        let mut partial = String::new();
        let mut lines = Vec::new();
        split_lines(&mut partial, "a\r\nb tok_12", &mut lines, &redactor);
        split_lines(&mut partial, "3456\nc", &mut lines, &redactor);
        assert_eq!(lines, vec!["a", "b [REDACTED]"]);
        assert_eq!(partial, "c");
    }

    #[test]
    fn endless_lines_are_cut() {
        let mut partial = String::new();
        let mut lines = Vec::new();
        split_lines(
            &mut partial,
            &"x".repeat(MAX_LINE + 10),
            &mut lines,
            &Redactor::default(),
        );
        assert_eq!(lines.len(), 1);
        assert!(lines[0].ends_with('…'));
        assert!(partial.is_empty());
    }
}
