-- Cross-cutting: the audit log, the inbox of idempotent consumers, the transactional outbox,
-- questions to people (escalations), and references to chat messages that progress updates edit.

CREATE TABLE audit_log (
    id         BIGSERIAL PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Who acted: a service identity ('zavhoz', 'worker-spawner'), 'user:<id>' or 'telegram:<id>'.
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    -- Never a secret value: handles and ids only.
    detail     JSONB NOT NULL DEFAULT '{}',
    run_id     UUID
);
CREATE INDEX audit_log_by_action ON audit_log (action, at DESC);

-- A consumer records each event id it has applied, in the same transaction as the effect.
CREATE TABLE inbox (
    consumer     TEXT NOT NULL,
    event_id     UUID NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Messages to publish, written in the same transaction as the state change that causes them.
CREATE TABLE outbox (
    id           BIGSERIAL PRIMARY KEY,
    stream       TEXT NOT NULL,
    fields       JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE escalations (
    id           UUID PRIMARY KEY,
    run_id       UUID NOT NULL REFERENCES runs(id),
    project_id   UUID REFERENCES projects(id),
    thread_id    TEXT NOT NULL REFERENCES threads(id),
    kind         TEXT NOT NULL,
    question     TEXT NOT NULL,
    options      JSONB NOT NULL DEFAULT '[]',
    status       TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'expired')),
    answer       JSONB,
    asked_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    reminded_at  TIMESTAMPTZ,
    answered_at  TIMESTAMPTZ
);
CREATE INDEX escalations_open ON escalations (asked_at) WHERE status = 'open';

CREATE TABLE chat_message_refs (
    telegram_chat_id    BIGINT NOT NULL,
    ref_key             TEXT NOT NULL,
    telegram_message_id BIGINT NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (telegram_chat_id, ref_key)
);
