//! Zavhoz against real PostgreSQL (`DATABASE_URL`, a fresh database per test via `#[sqlx::test]`), over real
//! gRPC on loopback with the generated tonic client, a Python grpcio client, and the binary as a process.

mod authz;
mod canary;
mod interop;
mod leases;
mod logs;
mod resources;
mod secrets;
mod support;
mod tool;
