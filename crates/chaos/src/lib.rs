//! Fault-injection fixtures for the reliability tests: a consumer process whose handler applies a real
//! side effect in PostgreSQL (through the inbox, exactly as services do) and can be told to hang, panic, or
//! — as a negative control — break one of the bus's guarantees, so each test is shown to catch that breakage.
//!
//! The fixture is deliberately a separate binary (`chaos-consumer`): the tests SIGKILL and SIGTERM real
//! processes, never simulate a crash in-process.

use std::time::Duration;

use clap::Parser;

pub mod effect;

/// Flags of the `chaos-consumer` fixture.
#[derive(Debug, Clone, Parser)]
pub struct FixtureArgs {
    /// Redis URL.
    #[arg(long)]
    pub redis_url: String,
    /// PostgreSQL URL of the test database (migrated, with the `chaos_effects` table).
    #[arg(long)]
    pub database_url: String,
    /// Key prefix isolating this test's streams.
    #[arg(long)]
    pub prefix: String,
    /// Consumer name.
    #[arg(long)]
    pub name: String,
    /// Milliseconds before an abandoned entry is reclaimed.
    #[arg(long, default_value_t = 2000)]
    pub claim_min_idle_ms: u64,
    /// Milliseconds between reclaim passes.
    #[arg(long, default_value_t = 1000)]
    pub reclaim_interval_ms: u64,
    /// Handlers running at once.
    #[arg(long, default_value_t = 4)]
    pub max_in_flight: usize,
    /// Milliseconds a stopping consumer waits for in-flight handlers.
    #[arg(long, default_value_t = 30_000)]
    pub grace_ms: u64,
    /// Milliseconds each handler works before committing its effect.
    #[arg(long, default_value_t = 0)]
    pub work_ms: u64,
    /// The handler of the message with this sequence number never finishes.
    #[arg(long)]
    pub hang_on_seq: Option<u64>,
    /// The handler of the message with this sequence number always panics.
    #[arg(long)]
    pub panic_on_seq: Option<u64>,
    /// Negative control: acknowledge entries before handling them (breaks at-least-once).
    #[arg(long)]
    pub ack_before_handling: bool,
    /// Negative control: apply effects without the inbox (breaks exactly-once effects).
    #[arg(long)]
    pub no_inbox: bool,
    /// Milliseconds to wait after committing and before returning (widens the commit→ack window).
    #[arg(long, default_value_t = 0)]
    pub pause_after_commit_ms: u64,
}

impl FixtureArgs {
    /// Returns the bus tuning these flags ask for.
    pub fn bus_config(&self) -> orch_bus::BusConfig {
        orch_bus::BusConfig {
            prefix: self.prefix.clone(),
            claim_min_idle: Duration::from_millis(self.claim_min_idle_ms),
            reclaim_interval: Duration::from_millis(self.reclaim_interval_ms),
            block: Duration::from_millis(500),
            max_in_flight: self.max_in_flight,
            batch: self.max_in_flight.max(1),
            shutdown_grace: Duration::from_millis(self.grace_ms),
            ..orch_bus::BusConfig::default()
        }
    }
}

/// The stream every fixture consumes.
pub const STREAM: &str = "chaos:work";
/// The consumer group of the fixtures.
pub const GROUP: &str = "chaos";
