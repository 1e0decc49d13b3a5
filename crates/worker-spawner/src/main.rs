//! The `worker-spawner` binary; see the library for what it does.

use std::process::ExitCode;

fn main() -> ExitCode {
    orch_service_kit::run::<worker_spawner::Application>()
}
