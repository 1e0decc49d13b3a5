//! orch-github against the testkit GitHub simulator (real bare git repositories).

mod auth;
mod faults;
mod pulls;
mod repos;
mod support;
