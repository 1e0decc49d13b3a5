-- The reviewer's progress per review request: a redelivered request (same idempotency key) resumes where the
-- last delivery stopped, so it never asks the model twice, posts a second review or merges twice.
--   started → judged (the model's verdict is stored) → posted (the review is on the PR) → done (result stored)

ALTER TABLE reviews
    ADD COLUMN idempotency_key  TEXT,
    ADD COLUMN state            TEXT NOT NULL DEFAULT 'started'
        CHECK (state IN ('started', 'judged', 'posted', 'done')),
    ADD COLUMN requested_head_sha TEXT,
    ADD COLUMN reasons          JSONB NOT NULL DEFAULT '[]',
    ADD COLUMN github_review_id BIGINT,
    ADD COLUMN merge_sha        TEXT CHECK (merge_sha ~ '^[0-9a-f]{40}$'),
    ADD COLUMN conflict         BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN result           JSONB,
    ADD COLUMN updated_at       TIMESTAMPTZ NOT NULL DEFAULT now();

CREATE UNIQUE INDEX reviews_by_idempotency_key ON reviews (idempotency_key);
