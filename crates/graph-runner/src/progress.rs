//! Live progress of running workers in the chat: the message that announced a batch of started workers
//! ("🔨 Started 2 coding worker(s): …", `ref_key` in `tasks.progress_ref`) is edited with each worker's latest
//! log line (from `worker:progress:<id>`, already redacted by the spawner): first [`ProgressBoard::every`] after
//! it was seen, then at most once per `every`, and once more with the final states when the batch's last worker
//! ends. A batch that ends within `every` is never edited (each result has its own message anyway).
//!
//! What was last shown is kept in memory: a restarted runner edits each message once more with the same text,
//! which changes nothing the person sees.

use std::collections::HashMap;
use std::time::Duration;

use orch_bus::Bus;
use orch_contracts::messages::chat::{ChatAction, TextFormat};
use orch_contracts::messages::worker::WorkerProgress;
use orch_contracts::{ProjectId, RunId, streams};
use tokio::time::Instant;
use uuid::Uuid;

use crate::conversations::Conversations;
use crate::develop::worker_id;
use crate::{relay, texts};

/// A task of a batch whose message is being edited.
#[derive(Debug, sqlx::FromRow)]
struct BatchTask {
    progress_ref: String,
    project_id: Uuid,
    run_id: Uuid,
    key: String,
    title: String,
    status: String,
    attempts: i32,
    telegram_chat_id: i64,
}

/// What each batch message shows now.
#[derive(Debug)]
pub struct ProgressBoard {
    /// The shortest time between two edits of one message.
    pub every: Duration,
    shown: HashMap<String, Shown>,
}

#[derive(Debug)]
struct Shown {
    /// The text of the last edit (empty before the first).
    text: String,
    /// When it was first seen or last edited.
    at: Instant,
    /// Whether it was edited at all.
    edited: bool,
}

impl ProgressBoard {
    /// A board that edits each message at most once per `every`.
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            shown: HashMap::new(),
        }
    }

    /// Edits the messages of batches with a running worker (and, once, of batches that just ended); returns how
    /// many edits were queued.
    pub async fn pass(
        &mut self,
        conversations: &Conversations,
        bus: &Bus,
    ) -> anyhow::Result<usize> {
        let known: Vec<String> = self.shown.keys().cloned().collect();
        let tasks = sqlx::query_as::<_, BatchTask>(
            "SELECT t.progress_ref, t.project_id, t.run_id, t.key, t.title, t.status::text AS status,
                    t.attempts, c.telegram_chat_id
             FROM tasks t
             JOIN threads th ON th.project_id = t.project_id AND th.is_active
             JOIN chats c ON c.id = th.chat_id
             WHERE t.progress_ref IS NOT NULL
               AND (t.progress_ref = ANY($1) OR t.progress_ref IN
                    (SELECT progress_ref FROM tasks WHERE status = 'running' AND progress_ref IS NOT NULL))
             ORDER BY t.id",
        )
        .bind(&known)
        .fetch_all(conversations.store.pool())
        .await?;
        let mut batches: HashMap<String, Vec<BatchTask>> = HashMap::new();
        for task in tasks {
            batches
                .entry(task.progress_ref.clone())
                .or_default()
                .push(task);
        }
        let mut edits = Vec::new();
        for (key, batch) in &batches {
            let running = batch.iter().any(|t| t.status == "running");
            let Some(shown) = self.shown.get(key) else {
                // First seen: the announcement itself is on show; the first edit comes after `every`.
                let at = Instant::now();
                let (text, edited) = (String::new(), false);
                self.shown.insert(key.clone(), Shown { text, at, edited });
                continue;
            };
            // Running: at most once per `every`. Ended: the final states at once — if the message was ever
            // edited (a batch that ended within `every` keeps its announcement; its results have their own).
            // Checked before rendering, so a batch that is not due costs no reads.
            let due = if running {
                shown.at.elapsed() >= self.every
            } else {
                shown.edited
            };
            if !due {
                continue;
            }
            match render(batch, bus).await {
                Some(text) if text != shown.text => {
                    let first = &batch[0];
                    edits.push((key.clone(), first.telegram_chat_id, first.run_id, text));
                }
                _ => {}
            }
        }
        let queued = edits.len();
        self.queue(conversations, edits).await?;
        self.forget_ended(&batches);
        Ok(queued)
    }

    async fn queue(
        &mut self,
        conversations: &Conversations,
        edits: Vec<(String, i64, Uuid, String)>,
    ) -> anyhow::Result<()> {
        if edits.is_empty() {
            return Ok(());
        }
        let mut tx = conversations.store.begin().await?;
        for (key, chat, run, text) in &edits {
            let edit = ChatAction::Edit {
                ref_key: key.clone(),
                text: text.clone(),
                format: TextFormat::Plain,
                buttons: Vec::new(),
            };
            relay::enqueue(&mut tx, *chat, Some(RunId(*run)), vec![edit]).await?;
        }
        tx.commit().await?;
        conversations.wake.notify();
        for (key, _, _, text) in edits {
            let at = Instant::now();
            let edited = true;
            self.shown.insert(key, Shown { text, at, edited });
        }
        Ok(())
    }

    /// Batches with nothing running were shown their final state this pass: stop watching them.
    fn forget_ended(&mut self, batches: &HashMap<String, Vec<BatchTask>>) {
        self.shown.retain(|key, _| {
            batches
                .get(key)
                .is_some_and(|b| b.iter().any(|t| t.status == "running"))
        });
    }
}

/// The batch message: the announcement, then one line per task; `None` while there is nothing to add to the
/// announcement (no worker wrote a line yet, none ended).
async fn render(batch: &[BatchTask], bus: &Bus) -> Option<String> {
    let titles: Vec<String> = batch
        .iter()
        .map(|t| texts::run_title(&t.title, t.attempts))
        .collect();
    let mut text = texts::workers_started(&titles);
    let mut news = false;
    for task in batch {
        let now = if task.status == "running" {
            latest_line(task, bus).await
        } else {
            Some(texts::task_state(&task.status).to_owned())
        };
        news |= now.is_some();
        let now = now.unwrap_or_else(|| STARTING.to_owned());
        text.push_str(&format!("\n• {}: {}", task.title, now));
    }
    news.then_some(text)
}

/// What a worker that wrote no line yet shows.
const STARTING: &str = "starting";

/// The worker's newest log line; `None` before it wrote one.
async fn latest_line(task: &BatchTask, bus: &Bus) -> Option<String> {
    let worker = worker_id(ProjectId(task.project_id), &task.key, task.attempts);
    match bus
        .latest::<WorkerProgress>(&streams::worker_progress(worker))
        .await
    {
        Ok(Some(progress)) => progress
            .body
            .lines
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| texts::clip(l.trim(), 120)),
        _ => None,
    }
}

/// A fresh `ref_key` for a batch's announcement.
pub fn batch_ref() -> String {
    format!("workers:{}", Uuid::now_v7().simple())
}
