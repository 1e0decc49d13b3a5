#!/usr/bin/env bash
# Runs the whole test suite: lint gates, then every test of the workspace against real Redis and PostgreSQL
# (and Docker, git, sops where a crate needs them). Expects `scripts/infra-up.sh` (or .ci/run) to have started
# the infrastructure; DATABASE_URL and REDIS_URL default to what infra-up.sh creates.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL=${DATABASE_URL:-postgres://orchestrator:orchestrator@127.0.0.1:5432/orchestrator}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
if [ -z "${SOPS_BIN:-}" ] && [ -x scripts/install-sops.sh ]; then
    SOPS_BIN=$(scripts/install-sops.sh)
    export SOPS_BIN
fi

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

echo "== build every binary (the process-level tests start them)"
cargo build --workspace --bins

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-tests=pass
    cargo test --workspace --doc
else
    cargo test --workspace
fi

echo "== end to end: the offline demo (a Telegram conversation → repository → parallel workers → review with"
echo "   requested changes → a budget warning → a question answered → merges; then the canary scan)"
demo_log=${DEMO_LOG:-.demo/e2e.log}
mkdir -p "$(dirname "$demo_log")"
if ! scripts/demo.sh >"$demo_log" 2>&1; then
    echo "the demo FAILED; the end of its output ($demo_log):"
    tail -80 "$demo_log"
    exit 1
fi
grep -E "demo person:|pull requests merged|worker pushed with the canary" "$demo_log"

echo "== factory crash runs (kill -9 graph-runner, worker-spawner, reviewer at random points)"
scripts/factory-crash.sh "${CRASH_RUNS:-3}"

echo "== zavhoz under docker-compose (offline image, authn/authz over gRPC)"
scripts/compose-zavhoz-check.sh
