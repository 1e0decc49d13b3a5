-- People, their chats and conversation threads, projects and the specs they approved, runs.

CREATE TABLE users (
    id               BIGSERIAL PRIMARY KEY,
    telegram_user_id BIGINT UNIQUE,
    display_name     TEXT NOT NULL,
    -- Allowed to use the bot (mirrors the gateway allowlist; refusals are audited).
    is_allowed       BOOLEAN NOT NULL DEFAULT FALSE,
    -- Default budget for new projects, in millionths of a US dollar.
    default_budget_usd_micros BIGINT NOT NULL DEFAULT 20000000 CHECK (default_budget_usd_micros >= 0),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE chats (
    id               BIGSERIAL PRIMARY KEY,
    telegram_chat_id BIGINT NOT NULL UNIQUE,
    user_id          BIGINT NOT NULL REFERENCES users(id),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TYPE project_status AS ENUM (
    'brainstorming', 'spec_approved', 'building', 'reviewing', 'deploying', 'live', 'paused', 'failed', 'cancelled'
);

CREATE TABLE projects (
    id              UUID PRIMARY KEY,
    owner_user_id   BIGINT NOT NULL REFERENCES users(id),
    name            TEXT NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    status          project_status NOT NULL DEFAULT 'brainstorming',
    -- The approved project_spec (JSON schema versioned by spec_version), null until approved.
    spec            JSONB,
    spec_version    INT NOT NULL DEFAULT 0,
    repo_owner      TEXT,
    repo_name       TEXT,
    budget_usd_micros BIGINT NOT NULL CHECK (budget_usd_micros >= 0),
    max_parallel_workers INT NOT NULL DEFAULT 3 CHECK (max_parallel_workers BETWEEN 1 AND 32),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (owner_user_id, name)
);

-- Every version of a spec the person saw; approval pins one.
CREATE TABLE project_specs (
    project_id   UUID NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    version      INT NOT NULL CHECK (version >= 1),
    schema_version INT NOT NULL,
    spec         JSONB NOT NULL,
    approved_at  TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, version)
);

-- A conversation thread: a chat, or a chat's project when a chat has several.
CREATE TABLE threads (
    id          TEXT PRIMARY KEY,
    chat_id     BIGINT NOT NULL REFERENCES chats(id),
    project_id  UUID REFERENCES projects(id),
    graph       TEXT NOT NULL,
    is_active   BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX threads_one_active_per_chat ON threads (chat_id) WHERE is_active;

CREATE TYPE run_status AS ENUM ('running', 'waiting_for_human', 'paused_budget', 'succeeded', 'failed', 'cancelled');

CREATE TABLE runs (
    id          UUID PRIMARY KEY,
    project_id  UUID REFERENCES projects(id),
    thread_id   TEXT NOT NULL REFERENCES threads(id),
    kind        TEXT NOT NULL,
    status      run_status NOT NULL DEFAULT 'running',
    error       TEXT,
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ
);
CREATE INDEX runs_by_project ON runs (project_id, started_at DESC);
