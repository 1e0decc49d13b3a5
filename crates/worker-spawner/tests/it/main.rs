//! Integration tests of worker-spawner against real Docker, real git (the GitHub simulator's bare repositories),
//! real Redis, real PostgreSQL and a real zavhoz (in-process) for secret handles. The offline test image is
//! built (or found cached) on first use.

mod claims;
mod crash;
mod delivery;
mod egress;
mod parallel;
mod reaper;
mod sandbox;
mod support;
mod zavhoz_secrets;
