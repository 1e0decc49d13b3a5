-- The graph engine's additions to 20261125000002_graph.sql.
--
-- Checkpoints are small: most rows hold the delta of one super-step (the task updates it applied, in task
-- order) and every few steps a row holds a full snapshot of the state; loading reads the latest snapshot and the
-- deltas after it. `meta` holds what a bare node list cannot: fan-out (Send) arguments and partial join progress.
ALTER TABLE graph_checkpoints
    ADD COLUMN delta BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN meta  JSONB;

-- A lease row is also the thread's entry in the run queue: `runnable` threads whose lease is free or expired
-- are claimed with FOR UPDATE SKIP LOCKED (epoch + 1), so a runner that died mid-run is picked up by a peer.
ALTER TABLE graph_leases
    ADD COLUMN runnable BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN ready_at TIMESTAMPTZ NOT NULL DEFAULT now();
CREATE INDEX graph_leases_ready ON graph_leases (ready_at) WHERE runnable;
