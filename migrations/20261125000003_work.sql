-- The factory floor: tasks planned by the architect, worker containers, pull requests and reviews, deployments.

CREATE TYPE task_status AS ENUM ('pending', 'running', 'in_review', 'changes_requested', 'merged', 'failed', 'escalated', 'cancelled');

CREATE TABLE tasks (
    id           UUID PRIMARY KEY,
    project_id   UUID NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    run_id       UUID NOT NULL REFERENCES runs(id),
    key          TEXT NOT NULL,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    depends_on   TEXT[] NOT NULL DEFAULT '{}',
    status       task_status NOT NULL DEFAULT 'pending',
    attempts     INT NOT NULL DEFAULT 0,
    branch       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (run_id, key)
);

CREATE TYPE worker_status AS ENUM ('queued', 'running', 'succeeded', 'failed', 'timeout', 'oom', 'resource_exhausted', 'rejected', 'infra_error');

CREATE TABLE workers (
    id              UUID PRIMARY KEY,
    task_id         UUID REFERENCES tasks(id),
    project_id      UUID NOT NULL REFERENCES projects(id),
    idempotency_key TEXT NOT NULL UNIQUE,
    agent_kind      TEXT NOT NULL,
    container_id    TEXT,
    status          worker_status NOT NULL DEFAULT 'queued',
    branch          TEXT NOT NULL,
    commit_sha      TEXT CHECK (commit_sha ~ '^[0-9a-f]{40}$'),
    exit_code       BIGINT,
    summary         TEXT,
    started_at      TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX workers_running ON workers (status) WHERE status IN ('queued', 'running');

CREATE TABLE pull_requests (
    project_id   UUID NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    number       BIGINT NOT NULL,
    task_id      UUID REFERENCES tasks(id),
    head_branch  TEXT NOT NULL,
    head_sha     TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('open', 'merged', 'closed')),
    review_iterations INT NOT NULL DEFAULT 0,
    merge_sha    TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, number)
);

CREATE TABLE reviews (
    id           UUID PRIMARY KEY,
    project_id   UUID NOT NULL,
    pr_number    BIGINT NOT NULL,
    iteration    INT NOT NULL,
    head_sha     TEXT NOT NULL,
    verdict      TEXT CHECK (verdict IN ('approved', 'changes_requested', 'escalate')),
    summary      TEXT,
    comments     JSONB NOT NULL DEFAULT '[]',
    merged       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (project_id, pr_number) REFERENCES pull_requests(project_id, number),
    UNIQUE (project_id, pr_number, iteration)
);

CREATE TABLE deployments (
    id           UUID PRIMARY KEY,
    project_id   UUID NOT NULL REFERENCES projects(id),
    commit_sha   TEXT NOT NULL,
    server_resource_id UUID,
    domain       TEXT,
    status       TEXT NOT NULL CHECK (status IN ('requested', 'running', 'deployed', 'rolled_back', 'failed')),
    url          TEXT,
    rollback_of  UUID REFERENCES deployments(id),
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at  TIMESTAMPTZ
);
