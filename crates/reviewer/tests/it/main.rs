//! The reviewer service in-process against real Redis and PostgreSQL, the GitHub simulator (real bare git
//! repositories) and the LLM simulator.

mod faults;
mod idempotency;
mod review;
mod support;
