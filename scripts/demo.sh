#!/usr/bin/env bash
# The main job, offline: starts Redis/PostgreSQL if needed, builds and starts every service against them,
# shows that each is up and ready, then stops them gracefully.
#
# What runs today is the foundation (issue 2): the services start, connect, answer health and drain on SIGTERM.
# The conversation → spec → repository → parallel workers → review → merge pipeline plugs into this same script
# as it lands (issues 3–6), driven by the local Telegram, GitHub and LLM simulators.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_DIR=${DEMO_DIR:-.demo}
mkdir -p "$DEMO_DIR/logs"
export DATABASE_URL=${DATABASE_URL:-postgres://orchestrator:orchestrator@127.0.0.1:5432/orchestrator}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export LOG_FORMAT=json RUST_LOG=${RUST_LOG:-info}
BIN=${CARGO_TARGET_DIR:-target}/debug

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

say "1/5 infrastructure"
scripts/infra-up.sh

say "2/5 build"
cargo build -q --workspace --bins

say "3/5 database migrations"
"$BIN/orchestrator" migrate --database-url "$DATABASE_URL"

declare -A PORTS=([api]=8080 [telegram-gateway]=8091 [graph-runner]=8092 [zavhoz]=8093 [worker-spawner]=8094 [reviewer]=8095 [devops-runner]=8096)
declare -A PIDS=()
prefix() { echo "$1" | tr 'a-z-' 'A-Z_'; }

stop_all() {
    for svc in "${!PIDS[@]}"; do kill -TERM "${PIDS[$svc]}" 2>/dev/null || true; done
}
trap stop_all EXIT

say "4/5 services"
for svc in api telegram-gateway graph-runner zavhoz worker-spawner reviewer devops-runner; do
    env "$(prefix "$svc")__HTTP_LISTEN=127.0.0.1:${PORTS[$svc]}" "$BIN/$svc" >"$DEMO_DIR/logs/$svc.log" 2>&1 &
    PIDS[$svc]=$!
done
printf '%-18s %-24s %s\n' service address ready
for svc in api telegram-gateway graph-runner zavhoz worker-spawner reviewer devops-runner; do
    url="http://127.0.0.1:${PORTS[$svc]}"
    for _ in $(seq 100); do curl -sf "$url/health" >/dev/null && break; sleep 0.1; done
    ready=$(curl -s "$url/ready" || echo '{"status":"down"}')
    printf '%-18s %-24s %s\n' "$svc" "$url" "$ready"
done
echo
"$BIN/orchestrator" status --api-url "http://127.0.0.1:${PORTS[api]}"

say "5/5 graceful shutdown (SIGTERM)"
trap - EXIT
for svc in "${!PIDS[@]}"; do kill -TERM "${PIDS[$svc]}"; done
for svc in "${!PIDS[@]}"; do
    if wait "${PIDS[$svc]}"; then echo "$svc exited 0"; else echo "$svc exited $?"; fi
done
echo
echo "Logs: $DEMO_DIR/logs/. The end-to-end factory pipeline joins this demo as issues 3-6 land."
