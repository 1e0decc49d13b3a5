//! One round: every person writes once (all at once, or paced), the benchmark waits for each chat's reply
//! and reads the latencies from the simulator's call log (each call is stamped when the simulator answered
//! it).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use orch_testkit::telegram::SimBot;

use crate::stack::person;

/// How a round injects its messages.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// All at once.
    Burst,
    /// One message every `1 / rate` seconds.
    Rate(u32),
}

/// A round's parameters.
pub struct Round<'a> {
    /// Shown in the report.
    pub name: &'a str,
    /// People `first..first + people` write.
    pub first: usize,
    /// How many.
    pub people: usize,
    /// What each writes.
    pub text: &'a str,
    /// Replies each chat has after the round (the round's reply is the last of them).
    pub replies_after: usize,
    /// Burst or paced.
    pub pace: Pace,
}

/// What a round measured.
pub struct Outcome {
    /// Injection → reply of every chat that got its reply, sorted.
    pub latencies: Vec<Duration>,
    /// Chats without their reply.
    pub lost: usize,
    /// Chats with more replies than expected.
    pub duplicated: usize,
    /// First injection → last reply.
    pub wall: Duration,
    /// Time spent injecting.
    pub injecting: Duration,
}

/// Runs `round` against the bot; waits at most `timeout` for the replies.
pub async fn run(bot: &SimBot, round: &Round<'_>, timeout: Duration) -> anyhow::Result<Outcome> {
    let injected = inject(bot, round).await?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut sends = sends_by_chat(bot);
    while !complete(&sends, round) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        sends = sends_by_chat(bot);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await; // a duplicate would show up by now
    let sends = sends_by_chat(bot);
    Ok(outcome(round, &injected, &sends))
}

/// Injects every person's message; returns when each was injected.
async fn inject(bot: &SimBot, round: &Round<'_>) -> anyhow::Result<Vec<DateTime<Utc>>> {
    let mut at = Vec::with_capacity(round.people);
    let started = tokio::time::Instant::now();
    for i in 0..round.people {
        if let Pace::Rate(rate) = round.pace {
            let due = started + Duration::from_secs_f64(i as f64 / f64::from(rate.max(1)));
            tokio::time::sleep_until(due).await;
        }
        at.push(Utc::now());
        bot.send_text(&person(round.first + i), round.text)?;
    }
    Ok(at)
}

/// When each successful `sendMessage` of each chat was answered, in order.
fn sends_by_chat(bot: &SimBot) -> HashMap<i64, Vec<DateTime<Utc>>> {
    let mut sends: HashMap<i64, Vec<DateTime<Utc>>> = HashMap::new();
    for call in bot.calls() {
        if let (true, Some(chat)) = (call.method == "sendMessage" && call.is_ok(), call.chat_id) {
            sends.entry(chat).or_default().push(call.at);
        }
    }
    sends
}

fn complete(sends: &HashMap<i64, Vec<DateTime<Utc>>>, round: &Round<'_>) -> bool {
    (round.first..round.first + round.people).all(|i| {
        sends
            .get(&person(i).id)
            .is_some_and(|s| s.len() >= round.replies_after)
    })
}

fn outcome(
    round: &Round<'_>,
    injected: &[DateTime<Utc>],
    sends: &HashMap<i64, Vec<DateTime<Utc>>>,
) -> Outcome {
    let (mut latencies, mut lost, mut duplicated) = (Vec::new(), 0, 0);
    let mut last = injected.first().copied().unwrap_or_else(Utc::now);
    for (i, at) in injected.iter().enumerate() {
        let chat = sends
            .get(&person(round.first + i).id)
            .map_or(&[][..], Vec::as_slice);
        if chat.len() > round.replies_after {
            duplicated += 1;
        }
        match chat.get(round.replies_after - 1) {
            Some(reply) => {
                latencies.push((*reply - *at).to_std().unwrap_or_default());
                last = last.max(*reply);
            }
            None => lost += 1,
        }
    }
    latencies.sort();
    let first = injected.first().copied().unwrap_or(last);
    let injecting = injected.last().copied().unwrap_or(first) - first;
    Outcome {
        latencies,
        lost,
        duplicated,
        wall: (last - first).to_std().unwrap_or_default(),
        injecting: injecting.to_std().unwrap_or_default(),
    }
}

impl Outcome {
    /// The `q`-quantile (nearest rank) of the latencies.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = (q * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    /// Replies per second from the first injection to the last reply.
    pub fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// Prints the round's line.
    pub fn print(&self, name: &str) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{name:<28} n={:<5} lost={} dup={} p50={:>8.1} ms p95={:>8.1} ms p99={:>8.1} ms max={:>8.1} ms \
             {:>7.1} replies/s (injecting took {:.1} ms, last reply after {:.0} ms)",
            self.latencies.len(),
            self.lost,
            self.duplicated,
            ms(self.quantile(0.50)),
            ms(self.quantile(0.95)),
            ms(self.quantile(0.99)),
            ms(self.latencies.last().copied().unwrap_or_default()),
            self.throughput(),
            ms(self.injecting),
            ms(self.wall),
        );
    }
}
