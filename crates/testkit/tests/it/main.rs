//! The single integration-test binary of orch-testkit.

mod github;
