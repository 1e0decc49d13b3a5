//! The `telegram-gateway` binary; see the library for what it does.

use std::process::ExitCode;

fn main() -> ExitCode {
    orch_service_kit::run::<telegram_gateway::Application>()
}
