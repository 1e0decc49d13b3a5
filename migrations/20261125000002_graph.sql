-- Durable graph execution: checkpoints after every step, pending writes of parallel super-steps,
-- fenced leases so two runners never drive one thread, idempotent side effects.

CREATE TABLE graph_checkpoints (
    thread_id     TEXT NOT NULL,
    namespace     TEXT NOT NULL DEFAULT '',
    checkpoint_id BIGINT NOT NULL,
    parent_id     BIGINT,
    step          BIGINT NOT NULL,
    -- Bounded state (large artefacts live in their own tables and are referenced by id).
    state         JSONB NOT NULL,
    -- Nodes to run next; empty when the run finished; an interrupt names the node waiting for a human.
    next_nodes    TEXT[] NOT NULL DEFAULT '{}',
    interrupt     JSONB,
    lease_epoch   BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (thread_id, namespace, checkpoint_id)
);

-- Results of tasks of a super-step that completed before the step's checkpoint (so they are not re-run).
CREATE TABLE graph_pending_writes (
    thread_id     TEXT NOT NULL,
    namespace     TEXT NOT NULL DEFAULT '',
    checkpoint_id BIGINT NOT NULL,
    task_id       TEXT NOT NULL,
    idx           INT NOT NULL,
    channel       TEXT NOT NULL,
    value         JSONB NOT NULL,
    PRIMARY KEY (thread_id, namespace, checkpoint_id, task_id, idx)
);

CREATE TABLE graph_leases (
    thread_id   TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    epoch       BIGINT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

-- Side effects performed under an idempotency key, with their result, so a re-run node does them once.
CREATE TABLE effects (
    idempotency_key TEXT PRIMARY KEY,
    result          JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
