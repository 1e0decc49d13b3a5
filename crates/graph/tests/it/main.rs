//! orch-graph integration tests: the engine's semantics against the in-memory and PostgreSQL checkpointers,
//! the checkpointer conformance suite (reliability test 15), leases and the claim race (test 14), and crash
//! tests with real processes and real signals (tests 8–12), each with a way to show it can fail.

mod basics;
mod conformance;
mod crash;
mod crash_interrupt;
mod durability;
mod fencing;
mod first_step;
mod interrupts;
mod leases;
mod procs;
mod support;
