//! Durable state-graph engine: nodes, edges, fan-out/join, interrupts, checkpoints in PostgreSQL, leases.
