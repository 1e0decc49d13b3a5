//! Integration tests of the graph-runner: in-process against real Redis and PostgreSQL (conversation, bad
//! input), and as separate processes with the telegram-gateway and simulators (end to end, crashes).

mod architect;
mod bad_input;
mod budget;
mod conversation;
mod crash;
mod develop;
mod e2e;
mod escalations;
mod git_token;
mod rework;
mod support;
