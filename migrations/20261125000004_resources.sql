-- Zavhoz: resources handed out as handles, secret handles, secrets people gave in chat (encrypted), quotas.

CREATE TYPE resource_kind AS ENUM ('port', 'server', 'domain', 'repository', 'secret', 'llm_budget');

CREATE TABLE resources (
    id              UUID PRIMARY KEY,
    kind            resource_kind NOT NULL,
    owner_user_id   BIGINT NOT NULL REFERENCES users(id),
    project_id      UUID REFERENCES projects(id),
    -- Non-secret description (host, port number, domain, repository name, budget amount).
    name            TEXT NOT NULL,
    attributes      JSONB NOT NULL DEFAULT '{}',
    idempotency_key TEXT NOT NULL,
    lease_expires_at TIMESTAMPTZ,
    released_at     TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (owner_user_id, idempotency_key)
);
CREATE INDEX resources_by_project ON resources (project_id) WHERE released_at IS NULL;
-- A port on a server is held by one live resource at a time.
CREATE UNIQUE INDEX resources_one_live_port ON resources ((attributes->>'server'), (attributes->>'port'))
    WHERE kind = 'port' AND released_at IS NULL;

-- Secrets a person gave in chat, encrypted to the deployment's age recipients (SOPS/age armor), never plaintext.
CREATE TABLE user_secrets (
    id            UUID PRIMARY KEY,
    owner_user_id BIGINT NOT NULL REFERENCES users(id),
    project_id    UUID REFERENCES projects(id),
    name          TEXT NOT NULL,
    ciphertext    TEXT NOT NULL CHECK (ciphertext LIKE '-----BEGIN AGE ENCRYPTED FILE-----%'),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (owner_user_id, project_id, name)
);

CREATE TABLE secret_handles (
    handle        TEXT PRIMARY KEY CHECK (handle ~ '^hdl_[A-Za-z0-9]{20,64}$'),
    resource_id   UUID NOT NULL REFERENCES resources(id),
    -- Where the value comes from: a path in secrets.yaml, or a user_secrets row.
    source        TEXT NOT NULL,
    single_use    BOOLEAN NOT NULL DEFAULT FALSE,
    expires_at    TIMESTAMPTZ,
    redeemed_at   TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE quotas (
    user_id    BIGINT NOT NULL REFERENCES users(id),
    kind       resource_kind NOT NULL,
    max_live   INT NOT NULL CHECK (max_live >= 0),
    PRIMARY KEY (user_id, kind)
);
