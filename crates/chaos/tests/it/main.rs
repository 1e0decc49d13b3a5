//! Reliability tests 1, 2, 3, 6 and 7 of docs/reliability-tests.md, with real processes, real Redis and real
//! PostgreSQL. Each guarantee test has a negative control that runs a deliberately broken consumer and shows
//! the same assertions fail — so the tests are known to catch what they are about.

mod drain;
mod poison;
mod pubsub;
mod redelivery;
mod services;
mod support;
