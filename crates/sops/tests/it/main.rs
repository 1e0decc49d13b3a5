//! Integration tests for orch-sops: fixtures written by real sops, interop with the sops binary,
//! property tests and a no-panic corpus run. One binary, as the workspace style asks.

mod api;
mod common;
mod fixtures;
mod interop;
mod no_panic;
mod roundtrip;
