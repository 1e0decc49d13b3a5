# Everyday commands. `make demo` runs the main job; `make test` runs the tests (installing what they need).
SHELL := /bin/bash
.PHONY: build up down migrate test demo bench fmt lint infra sqlx-prepare

DATABASE_URL ?= postgres://orchestrator:orchestrator@127.0.0.1:5432/orchestrator
COMPOSE := $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)

build:
	cargo build --workspace --bins

# The whole stack under Docker Compose (real deployments, where images can be pulled).
up:
	@test -f .env || { echo "copy .env.example to .env first"; exit 1; }
	$(COMPOSE) up -d --build

down:
	$(COMPOSE) down

migrate:
	cargo run -q -p orchestrator -- migrate --database-url "$(DATABASE_URL)"

# Redis and PostgreSQL on 127.0.0.1 (installs them from Debian packages when missing).
infra:
	scripts/infra-up.sh

# Installs/starts what the tests need (Redis, PostgreSQL, sops, offline Docker images), then runs them all.
test:
	deps=$$(scripts/test-deps.sh) && eval "$$deps" && scripts/test.sh

demo:
	scripts/demo.sh

bench: infra
	cargo bench -p orch-bus

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# Refresh the committed sqlx query cache after changing a query (needs a migrated database).
sqlx-prepare: infra
	cargo run -q -p orchestrator -- migrate --database-url "$(DATABASE_URL)"
	SQLX_OFFLINE=false DATABASE_URL="$(DATABASE_URL)" SQLX_OFFLINE_DIR=$(CURDIR)/.sqlx cargo build --workspace
