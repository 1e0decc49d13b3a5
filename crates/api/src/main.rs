//! The `api` binary; see the library for what it serves.

use std::process::ExitCode;

fn main() -> ExitCode {
    orch_service_kit::run::<api::Application>()
}
