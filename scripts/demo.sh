#!/usr/bin/env bash
# The main job, offline: starts Redis/PostgreSQL if needed, builds and starts every service against them and
# the local simulators (Telegram, GitHub on real git, the LLM), plays a scripted person through the whole
# factory, checks what happened, then stops everything gracefully.
#
# The scripted person (scripts/demo/person.py) talks an idea through with the bot over the Telegram simulator,
# approves the spec and sets a small budget; the architect creates the repository; two coding workers run in
# parallel in real containers; the reviewer (the LLM simulator playing scripts/demo/brainstorm.yaml) asks for
# changes on one pull request, which goes back to a worker, and wants a person to decide on another, which the
# person merges with a button; the budget warning arrives at 80%; three squash merges land on main. person.py
# fails the demo unless every step was seen exactly once, and the demo checks GitHub holds one repository with
# one merged pull request per task. DEMO_CHAOS=1 also kills -9 graph-runner, worker-spawner and reviewer at
# random moments (scripts/factory-crash.sh runs that several times).
#
# The coding workers' git token is a fresh canary each run (SOPS+age file → zavhoz → worker-spawner → worker);
# after the run, scripts/demo/canary-scan.py checks it leaked nowhere (logs, Redis, PostgreSQL, LLM requests)
# and that the workers did push with it. The demo fails if the scan does.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_DIR=${DEMO_DIR:-.demo}
mkdir -p "$DEMO_DIR/logs"
# The demo has its own database and Redis key prefix, both reset on every run, so it always starts from a clean
# slate and never touches the development database or another deployment sharing the Redis.
PG_SERVER=${DEMO_PG_SERVER:-postgres://orchestrator:orchestrator@127.0.0.1:5432}
DEMO_DB=${DEMO_DB:-orchestrator_demo}
export DATABASE_URL=$PG_SERVER/$DEMO_DB
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export BUS_PREFIX=${BUS_PREFIX:-demo}
export LOG_FORMAT=json RUST_LOG=${RUST_LOG:-info}
BIN=${CARGO_TARGET_DIR:-target}/debug

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

say "1/5 infrastructure"
scripts/infra-up.sh

say "2/5 build"
cargo build -q --workspace --bins

say "3/5 a fresh demo database ($DEMO_DB) and Redis prefix ($BUS_PREFIX), migrated"
psql -X -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS $DEMO_DB WITH (FORCE)" -c "CREATE DATABASE $DEMO_DB"
redis-cli -u "$REDIS_URL" --scan --pattern "$BUS_PREFIX*" | xargs -r redis-cli -u "$REDIS_URL" DEL >/dev/null
"$BIN/orchestrator" migrate --database-url "$DATABASE_URL"

SIM_PORT=8081
LLM_PORT=8082
GH_PORT=8083
DEMO_TOKEN=1000001:demo-token
DEMO_USER=4242
declare -A PORTS=([api]=8080 [telegram-gateway]=8091 [graph-runner]=8092 [zavhoz]=8093 [worker-spawner]=8094 [reviewer]=8095 [devops-runner]=8096)
prefix() { echo "$1" | tr 'a-z-' 'A-Z_'; }

stop_all() {
    [ -n "${CHAOS_PID:-}" ] && kill "$CHAOS_PID" 2>/dev/null || true
    for pidfile in "$DEMO_DIR"/pids/*; do [ -f "$pidfile" ] && kill -TERM "$(cat "$pidfile")" 2>/dev/null || true; done
    [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null || true
    [ -n "${LLM_PID:-}" ] && kill "$LLM_PID" 2>/dev/null || true
    [ -n "${GH_PID:-}" ] && kill "$GH_PID" 2>/dev/null || true
}
trap stop_all EXIT

say "4/5 services (Telegram, GitHub and the LLM are local simulators; no tokens needed)"
# A fresh first update id per run: the gateway deduplicates updates by id across runs (as Telegram restarts its
# numbering after a pause), so a restarted simulator must not reuse the previous run's ids.
"$BIN/telegram-sim" --listen "127.0.0.1:$SIM_PORT" --token "$DEMO_TOKEN" --first-update-id "$(date +%s)" >"$DEMO_DIR/logs/telegram-sim.log" 2>&1 &
SIM_PID=$!
"$BIN/llm-sim" --listen "127.0.0.1:$LLM_PORT" --script scripts/demo/brainstorm.yaml --any-key >"$DEMO_DIR/logs/llm-sim.log" 2>&1 &
LLM_PID=$!
# GitHub is the local simulator on real bare git repositories, kept in $DEMO_DIR/github to inspect afterwards:
# the factory account `orchestrator` and the reviewer `reviewer` (GitHub refuses approving one's own PR).
# It listens on the host's address on Docker's default bridge, so worker containers (through the spawner's
# egress proxy) clone from and push to it like they would to github.com.
BRIDGE=$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null || true)
if [ -z "$BRIDGE" ]; then
    subnet=$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}')
    BRIDGE=$(python3 -c "import ipaddress,sys; print(next(ipaddress.ip_network(sys.argv[1]).hosts()))" "$subnet")
fi
GH_URL=http://$BRIDGE:$GH_PORT
rm -rf "$DEMO_DIR/github" "$DEMO_DIR/secrets"
# The workers' account `worker` pushes with the canary token, which exists only in this run's secrets file.
random_hex() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
CANARY=ghp_canary_$(random_hex)
"$BIN/github-sim" --listen "$BRIDGE:$GH_PORT" --data-dir "$DEMO_DIR/github" \
    --token orchestrator:ghp_demo_orchestrator --token reviewer:ghp_demo_reviewer --token "worker:$CANARY" \
    --org-member acme:orchestrator --org-member acme:reviewer --org-member acme:worker \
    >"$DEMO_DIR/logs/github-sim.log" 2>&1 &
GH_PID=$!
# The models: seeded into model_configs on first start only (an operator's row is never overwritten).
export GRAPH_RUNNER__BRAINSTORM__PROVIDER=openai_compatible GRAPH_RUNNER__BRAINSTORM__MODEL=sim-model
export GRAPH_RUNNER__BRAINSTORM__ENDPOINT=http://127.0.0.1:$LLM_PORT/v1/
export GRAPH_RUNNER__ARCHITECT__PROVIDER=openai_compatible GRAPH_RUNNER__ARCHITECT__MODEL=sim-model
export GRAPH_RUNNER__ARCHITECT__ENDPOINT=http://127.0.0.1:$LLM_PORT/v1/
# Prices as a frontier model's, so /status shows what the conversation would have cost (micro-dollars per
# million tokens).
for role in GRAPH_RUNNER__BRAINSTORM GRAPH_RUNNER__ARCHITECT REVIEWER__MODEL; do
    export "${role}__INPUT_PRICE_PER_MTOK_MICROS=1250000" "${role}__OUTPUT_PRICE_PER_MTOK_MICROS=10000000"
done
export GRAPH_RUNNER__GITHUB__API_URL=$GH_URL GRAPH_RUNNER__GITHUB__ORG=acme
export GRAPH_RUNNER__GITHUB__TOKEN=ghp_demo_orchestrator
export REVIEWER__GITHUB_API_URL=$GH_URL REVIEWER__GITHUB_TOKEN=ghp_demo_reviewer
export REVIEWER__MODEL__PROVIDER=openai_compatible REVIEWER__MODEL__MODEL=sim-model
export REVIEWER__MODEL__ENDPOINT=http://127.0.0.1:$LLM_PORT/v1/
# Reviews are short: a smaller completion limit keeps the estimate checked against the budget realistic.
export REVIEWER__MODEL__MAX_TOKENS=1024
# Coding workers: the scripted agent of the offline worker image; their git token comes from zavhoz as in
# production. The secrets file is made with our own CLI, encrypted to an age key made for this run (the test key
# of crates/sops/tests/fixtures when Python's cryptography is missing); the canary is its only git token.
mkdir -p "$DEMO_DIR/secrets" && chmod 700 "$DEMO_DIR/secrets"
SECRETS=$DEMO_DIR/secrets/secrets.yaml AGE_KEY=$DEMO_DIR/secrets/age-key.txt
if ! recipient=$(python3 scripts/demo/age-keygen.py "$AGE_KEY"); then
    cp crates/sops/tests/fixtures/age-key.txt "$AGE_KEY"
    recipient=$(sed -n 's/^# public key: //p' "$AGE_KEY")
fi
SECRETS_FILE=$SECRETS "$BIN/orchestrator" secrets init --recipient "$recipient" >/dev/null
printf %s "$CANARY" | SECRETS_FILE=$SECRETS SOPS_AGE_KEY_FILE=$AGE_KEY \
    "$BIN/orchestrator" secrets set git.workers_token - >/dev/null
export ZAVHOZ__SECRETS_FILE=$SECRETS ZAVHOZ__AGE_KEY_FILE=$AGE_KEY
# Each caller has its own zavhoz token, given to that service only; zavhoz holds their digests. graph-runner
# allocates the project's handle (`git-token:<project>`) and may not resolve it; the spawner resolves it.
GRAPH_RUNNER_ZAVHOZ_TOKEN=zvh_$(random_hex) SPAWNER_ZAVHOZ_TOKEN=zvh_$(random_hex)
digest() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
export ZAVHOZ__CALLERS__GRAPH_RUNNER=sha256:$(digest "$GRAPH_RUNNER_ZAVHOZ_TOKEN")
export ZAVHOZ__CALLERS__WORKER_SPAWNER=sha256:$(digest "$SPAWNER_ZAVHOZ_TOKEN")
declare -A OWN_ENV=([graph-runner]="GRAPH_RUNNER__ZAVHOZ__TOKEN=$GRAPH_RUNNER_ZAVHOZ_TOKEN"
    [worker-spawner]="WORKER_SPAWNER__ZAVHOZ__TOKEN=$SPAWNER_ZAVHOZ_TOKEN")
ZAVHOZ_URL=http://127.0.0.1:50051
export GRAPH_RUNNER__ZAVHOZ__URL=$ZAVHOZ_URL GRAPH_RUNNER__ZAVHOZ__GIT_TOKEN_SOPS_PATH=git.workers_token
export WORKER_SPAWNER__SECRETS__BACKEND=zavhoz WORKER_SPAWNER__ZAVHOZ__URL=$ZAVHOZ_URL
export GRAPH_RUNNER__WORKERS__AGENT=scripted
export GRAPH_RUNNER__WORKERS__MEMORY_MIB=512 GRAPH_RUNNER__WORKERS__CPU_MILLIS=1000 GRAPH_RUNNER__WORKERS__TIMEOUT_SECS=300
export WORKER_SPAWNER__EGRESS__ALLOW=$BRIDGE:$GH_PORT WORKER_SPAWNER__GITHUB_API_URL=$GH_URL
export TELEGRAM_GATEWAY__BOT_TOKEN=$DEMO_TOKEN TELEGRAM_GATEWAY__API_URL=http://127.0.0.1:$SIM_PORT
export TELEGRAM_GATEWAY__ALLOWED_USER_IDS=$DEMO_USER TELEGRAM_GATEWAY__POLL_TIMEOUT_SECS=2
# No Sysbox here: plain runc, and the worker image built offline.
export WORKER_SPAWNER__DOCKER__RUNTIME=runc
WORKER_SPAWNER__DOCKER__IMAGE=$(scripts/build-test-image.sh)
export WORKER_SPAWNER__DOCKER__IMAGE
SERVICES=(api telegram-gateway graph-runner zavhoz worker-spawner reviewer devops-runner)
mkdir -p "$DEMO_DIR/pids"
start_svc() {
    local svc=$1
    # shellcheck disable=SC2086 # OWN_ENV holds at most one NAME=value without spaces
    env "$(prefix "$svc")__HTTP_LISTEN=127.0.0.1:${PORTS[$svc]}" ${OWN_ENV[$svc]:-} "$BIN/$svc" \
        >>"$DEMO_DIR/logs/$svc.log" 2>&1 &
    echo $! >"$DEMO_DIR/pids/$svc"
}
svc_pid() { cat "$DEMO_DIR/pids/$1"; }
for svc in "${SERVICES[@]}"; do
    : >"$DEMO_DIR/logs/$svc.log"
    start_svc "$svc"
done
printf '%-18s %-24s %s\n' service address ready
for svc in "${SERVICES[@]}"; do
    url="http://127.0.0.1:${PORTS[$svc]}"
    for _ in $(seq 100); do curl -sf "$url/health" >/dev/null && break; sleep 0.1; done
    ready=$(curl -s "$url/ready" || echo '{"status":"down"}')
    printf '%-18s %-24s %s\n' "$svc" "$url" "$ready"
done
echo
"$BIN/orchestrator" status --api-url "http://127.0.0.1:${PORTS[api]}"

# DEMO_CHAOS=1: kill -9 graph-runner, worker-spawner and reviewer, one each, at random points of the run (in a
# random order, 1–7 s after the person starts), restarting each at once. The run must still finish with every
# step once: no second repository, pull request, merge or chat message (person.py and check_github check).
chaos() {
    local now=0 at
    # Three moments (tenths of a second) between 1 and 7 s after the person starts — the brainstorm, the
    # architect and the build all happen in that window — each given to one of the three services.
    local -a moments
    mapfile -t moments < <(for _ in 1 2 3; do echo $((10 + RANDOM % 60)); done | sort -n)
    local i=0
    for svc in $(printf '%s\n' graph-runner worker-spawner reviewer | shuf); do
        at=${moments[$i]}
        i=$((i + 1))
        sleep "$(((at - now) / 10)).$(((at - now) % 10))"
        now=$at
        kill -9 "$(svc_pid "$svc")" 2>/dev/null || true
        echo "  💥 chaos: kill -9 $svc at +$((at / 10)).$((at % 10)) s, restarted"
        start_svc "$svc"
    done
}

# The (simulated) GitHub holds exactly one repository with one merged pull request per task.
check_github() {
    local repos
    repos=$(ls "$DEMO_DIR/github/repos/acme")
    if [ "$repos" != "weather-bot.git" ]; then
        echo "repositories of acme: $repos; expected one (weather-bot.git)" >&2
        return 1
    fi
    curl -sf "$GH_URL/repos/acme/weather-bot/pulls?state=all&per_page=100" -H "Authorization: Bearer ghp_demo_orchestrator" |
        python3 -c 'import json, sys
pulls = json.load(sys.stdin)
heads = sorted(p["head"]["ref"] for p in pulls)
merged = [p for p in pulls if p.get("merged_at")]
ok = heads == ["task/bot-commands", "task/forecast-client", "task/morning-push"] and len(merged) == 3
sys.exit(0 if ok else "pull requests: %s (%d merged); expected one merged per task" % (heads, len(merged)))'
}

control="http://127.0.0.1:$SIM_PORT/control/bots/$DEMO_TOKEN"
echo
echo "A stranger (id 666) writes to the bot; the gateway refuses politely and audits it:"
curl -sf -X POST "$control/messages" -H 'content-type: application/json' \
    -d '{"from":{"id":666,"first_name":"Mallory"},"text":"let me in"}' >/dev/null
curl -sf "$control/chats/666/wait?count=1&timeout_ms=10000" | python3 -c 'import json,sys; print("  bot ->", json.load(sys.stdin)["messages"][0]["text"])'
echo
echo "The allowed person ($DEMO_USER) talks an idea through with the bot:"
if [ "${DEMO_CHAOS:-0}" = 1 ]; then
    chaos &
    CHAOS_PID=$!
fi
python3 scripts/demo/person.py "$control" "$DEMO_USER" "${DEMO_BUDGET:-0.225}"
[ -n "${CHAOS_PID:-}" ] && wait "$CHAOS_PID"
check_github
echo
echo "In PostgreSQL now:"
psql -X -q "$DATABASE_URL" -c "SELECT p.name, p.status, s.version AS spec_version, s.approved_at IS NOT NULL AS approved
    FROM projects p JOIN project_specs s ON s.project_id = p.id ORDER BY s.created_at DESC LIMIT 1"
psql -X -q "$DATABASE_URL" -c "SELECT key, branch, status, attempts, depends_on FROM tasks ORDER BY id"
echo "On the (simulated) GitHub, acme/weather-bot's pull requests:"
curl -sf "$GH_URL/repos/acme/weather-bot/pulls?state=all" -H "Authorization: Bearer ghp_demo_orchestrator" |
    python3 -c 'import json, sys
for p in json.load(sys.stdin):
    print("  #%s %s (%s @ %s, %s)" % (p["number"], p["title"], p["head"]["ref"], p["head"]["sha"][:7], p["state"]))'
echo "and its main branch:"
git --git-dir "$DEMO_DIR/github/repos/acme/weather-bot.git" log --format='  %h %an: %s' main
git --git-dir "$DEMO_DIR/github/repos/acme/weather-bot.git" ls-tree -r --name-only main | sed 's/^/    /'

say "5/5 graceful shutdown (SIGTERM)"
trap - EXIT
for svc in "${SERVICES[@]}"; do kill -TERM "$(svc_pid "$svc")" 2>/dev/null || true; done
for svc in "${SERVICES[@]}"; do
    pid=$(svc_pid "$svc")
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then echo "$svc did not stop within 10 s" >&2; exit 1; fi
    echo "$svc stopped"
done

say "canary scan: the workers' git token (and the zavhoz tokens) anywhere they should not be?"
# After the services exited (their logs are complete), while Redis, PostgreSQL and the simulators still run.
scan=0
CANARY=$CANARY GRAPH_RUNNER_ZAVHOZ_TOKEN=$GRAPH_RUNNER_ZAVHOZ_TOKEN SPAWNER_ZAVHOZ_TOKEN=$SPAWNER_ZAVHOZ_TOKEN \
    python3 scripts/demo/canary-scan.py --secret-env CANARY --secret-env GRAPH_RUNNER_ZAVHOZ_TOKEN \
    --secret-env SPAWNER_ZAVHOZ_TOKEN --logs "$DEMO_DIR/logs" \
    --service api --service telegram-gateway --service graph-runner --service zavhoz --service worker-spawner \
    --service reviewer --service devops-runner --database-url "$DATABASE_URL" --redis-url "$REDIS_URL" \
    --prefix "$BUS_PREFIX" --llm-url "http://127.0.0.1:$LLM_PORT" --github-url "$GH_URL" --repo acme/weather-bot ||
    scan=$?
kill "$SIM_PID" "$LLM_PID" "$GH_PID" 2>/dev/null || true
echo
echo "Logs: $DEMO_DIR/logs/. The repository: git clone $DEMO_DIR/github/repos/acme/weather-bot.git"
echo "Still to come: deploying what was built (devops-runner, issue 7 and later)."
if [ "$scan" -ne 0 ]; then
    echo "The canary scan FAILED (see above)." >&2
    exit "$scan"
fi
