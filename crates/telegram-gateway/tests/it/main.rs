//! The gateway against the Telegram simulator, real Redis and real PostgreSQL.

mod crash;
mod delivery;
mod harness;
mod intake;
mod pollers;
mod webhook;
