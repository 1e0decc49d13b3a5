//! The chats benchmark (issue 3): many concurrent chats through Telegram simulator → telegram-gateway →
//! graph-runner → telegram-gateway → simulator, with real Redis and PostgreSQL and the two services as
//! separate processes. Prints numbers; it is not a timed test.
//!
//! Rounds (every person has a private chat with the bot):
//! 1. burst, first message: all people write their idea at once (a thread, project and run are created,
//!    the model is asked, a question is sent);
//! 2. burst, answer: all answer the question at once (a warm conversation resumes);
//! 3. paced, answer: all answer again, spread evenly at `CHATS_RATE` messages per second.
//!
//! Latency = the simulator answering the bot's `sendMessage` − the message's injection, per chat (the
//! simulator stamps every call). The model simulator answers at once, so LLM time is one local HTTP round
//! trip per message; it is measured separately and not subtracted. Lost = a chat without its reply;
//! duplicated = a chat with more replies than messages.
//!
//! Settings (environment): `CHATS` people (default 1000), `CHATS_RATE` paced messages per second (default
//! 100), `DATABASE_URL`, `REDIS_URL`. Needs `target/release/telegram-gateway`:
//! `cargo build --release -p telegram-gateway && cargo bench -p graph-runner --bench chats`.

#[path = "chats/measure.rs"]
mod measure;
#[path = "chats/procstat.rs"]
mod procstat;
#[path = "chats/stack.rs"]
mod stack;

use std::time::Duration;

use measure::{Pace, Round};
use procstat::Usage;
use stack::Stack;

/// People who warm the services up before the measured rounds (their own chats).
const WARM_UP: usize = 20;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let people = env_number("CHATS", 1000);
    let rate = env_number("CHATS_RATE", 100) as u32;
    let logs = std::env::temp_dir().join(format!("bench-chats-{}", std::process::id()));
    std::fs::create_dir_all(&logs)?;
    print_machine(people, rate);
    let stack = Stack::start(people + WARM_UP, &logs).await?;
    println!(
        "service logs: {}; graph-runner pid {}, telegram-gateway pid {}",
        logs.display(),
        stack.runner.pid(),
        stack.gateway.pid()
    );
    let warm = round("warm-up", people, WARM_UP, "I want a bot", 1, Pace::Burst);
    measure::run(&stack.bot, &warm, Duration::from_secs(60))
        .await?
        .print(warm.name);
    let rounds = [
        round(
            "burst, first message",
            0,
            people,
            "I want a weather bot",
            1,
            Pace::Burst,
        ),
        round("burst, answer", 0, people, "London", 2, Pace::Burst),
        round(
            "paced, answer",
            0,
            people,
            "Every morning",
            3,
            Pace::Rate(rate),
        ),
    ];
    let mut clean = true;
    for round in &rounds {
        let before = Usage::of(&stack);
        let outcome = measure::run(&stack.bot, round, Duration::from_secs(300)).await?;
        outcome.print(round.name);
        Usage::of(&stack).since(&before).print();
        clean &= outcome.lost == 0 && outcome.duplicated == 0;
    }
    llm_round_trip(&stack).await?;
    check_database(&stack, people).await?;
    procstat::print_memory(&stack);
    stack.finish().await?;
    println!("load average after: {}", procstat::loadavg());
    anyhow::ensure!(clean, "replies were lost or duplicated");
    Ok(())
}

fn round<'a>(
    name: &'a str,
    first: usize,
    people: usize,
    text: &'a str,
    replies_after: usize,
    pace: Pace,
) -> Round<'a> {
    Round {
        name,
        first,
        people,
        text,
        replies_after,
        pace,
    }
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn print_machine(people: usize, rate: u32) {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "chats benchmark: {people} chats, paced rate {rate}/s, {cpus} CPUs, load average before: {}",
        procstat::loadavg()
    );
}

/// Times sequential requests to the model simulator from here: what one LLM call costs at least.
async fn llm_round_trip(stack: &Stack) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let url = format!("{}chat/completions", stack.llm.base_url());
    let body = serde_json::json!({
        "model": "sim-model",
        "messages": [{"role": "user", "content": "I want a weather bot"}]
    });
    let mut times = Vec::new();
    for _ in 0..200 {
        let started = std::time::Instant::now();
        client.post(&url).json(&body).send().await?.bytes().await?;
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "LLM simulator round trip (idle, sequential, 200 calls): p50 {:.2} ms, p99 {:.2} ms",
        times[99].as_secs_f64() * 1000.0,
        times[197].as_secs_f64() * 1000.0
    );
    Ok(())
}

/// Every chat has one thread that waits for the person, every event is in the runner's inbox once.
async fn check_database(stack: &Stack, people: usize) -> anyhow::Result<()> {
    let threads = stack
        .count("SELECT count(*) FROM threads WHERE is_active")
        .await?;
    let handled = stack
        .count("SELECT count(*) FROM inbox WHERE consumer = 'graph-runner'")
        .await?;
    println!(
        "database: {threads} open threads (expected {}), {handled} handled chat:in events (expected {})",
        people + WARM_UP,
        3 * people + WARM_UP
    );
    Ok(())
}
