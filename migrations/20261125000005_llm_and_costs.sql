-- LLM configuration per role (dashboard-editable), usage and cost of every call and worker, budget alerts.

CREATE TABLE model_configs (
    role            TEXT PRIMARY KEY,
    provider        TEXT NOT NULL,
    model           TEXT NOT NULL,
    -- Any OpenAI-compatible endpoint (OpenRouter, Ollama, vLLM, a simulator); null = the provider's default.
    endpoint        TEXT,
    -- A reference to the key (an env var name or a secrets.yaml path), never the key itself.
    api_key_ref     TEXT,
    temperature     REAL NOT NULL DEFAULT 0.2 CHECK (temperature BETWEEN 0 AND 2),
    max_tokens      INT NOT NULL DEFAULT 4096 CHECK (max_tokens > 0),
    system_prompt   TEXT NOT NULL DEFAULT '',
    -- Prices in millionths of a dollar per million tokens.
    input_price_per_mtok_micros  BIGINT NOT NULL DEFAULT 0 CHECK (input_price_per_mtok_micros >= 0),
    output_price_per_mtok_micros BIGINT NOT NULL DEFAULT 0 CHECK (output_price_per_mtok_micros >= 0),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE llm_usage (
    id               BIGSERIAL PRIMARY KEY,
    -- 'llm' for a call the orchestrator made, 'worker' for usage a coding worker reported.
    source           TEXT NOT NULL CHECK (source IN ('llm', 'worker')),
    user_id          BIGINT REFERENCES users(id),
    project_id       UUID REFERENCES projects(id),
    run_id           UUID,
    worker_id        UUID,
    role             TEXT NOT NULL,
    provider         TEXT NOT NULL,
    model            TEXT NOT NULL,
    prompt_tokens    BIGINT NOT NULL CHECK (prompt_tokens >= 0),
    completion_tokens BIGINT NOT NULL CHECK (completion_tokens >= 0),
    cost_usd_micros  BIGINT NOT NULL CHECK (cost_usd_micros >= 0),
    -- One row per call or per worker result, even when recording is retried.
    idempotency_key  TEXT NOT NULL UNIQUE,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX llm_usage_by_project ON llm_usage (project_id);

-- A threshold (80, 100) crossed once per project and budget, so the person is warned once.
CREATE TABLE budget_alerts (
    project_id     UUID NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    threshold_pct  INT NOT NULL,
    budget_usd_micros BIGINT NOT NULL,
    notified_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, threshold_pct, budget_usd_micros)
);
