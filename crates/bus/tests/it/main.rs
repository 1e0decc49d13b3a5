//! Bus tests against a real Redis (`REDIS_URL`, default `redis://127.0.0.1:6379`), each under its own key prefix.

mod consume;
mod dead_letter;
mod janitor;
mod reclaim;
mod restart;
mod results;
mod support;
