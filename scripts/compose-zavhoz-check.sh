#!/usr/bin/env bash
# Runs zavhoz under docker-compose from the repository's compose.yaml — offline, nothing pulled — and checks it
# over the network with authentication and authorization enforced, with a client nobody here wrote (Python grpcio
# stubs generated from proto/zavhoz.proto). `make test` runs it last (scripts/test.sh).
#
#   1. image      scripts/build-service-image.sh: the host's debug binaries on the offline Debian base, tagged
#                 codegen-orchestrator:latest (the image compose.yaml runs); cached by content hash
#   2. setup      a private directory, as an operator would put next to compose.yaml: a fresh age key, a
#                 SOPS+age secrets.yaml made with `orchestrator secrets` holding a random test value, and a .env
#                 with the ZAVHOZ__CALLERS__* digests of two tokens from scripts/zavhoz-mint-token.sh
#                 (graph-runner, worker-spawner); a database of its own, migrated, with one person
#   3. compose    docker-compose -p orch-compose-check --project-directory DIR -f compose.yaml
#                 -f deploy/compose.offline.yaml up -d --no-deps --no-build zavhoz (host's PostgreSQL via the
#                 host network, loopback ports 18093/15051)
#   4. checks     /health, /ready; gRPC health; crates/zavhoz's interop client (reflection, UNAUTHENTICATED,
#                 idempotent Allocate, a typed refusal); scripts/compose/zavhoz_secret_client.py (no/unknown
#                 token UNAUTHENTICATED, graph-runner allocates a secret handle but its Resolve is
#                 PERMISSION_DENIED, worker-spawner resolves it to the test value); the audit rows (without the
#                 value); the value and the tokens are not in `docker-compose logs zavhoz`
#
# Prints a table of checks; exits 1 if any failed. Always ends with `docker-compose down -v` and drops the
# database: no container, network, volume or database is left behind.
#
# Needs: Docker, docker-compose (v1 or the v2 plugin), psql, curl, python3, the binaries of
# `cargo build --workspace --bins`, PostgreSQL on 127.0.0.1 (DATABASE_URL's server).
#   ORCH_COMPOSE_ZAVHOZ_HTTP_PORT (18093)  ORCH_COMPOSE_ZAVHOZ_GRPC_PORT (15051)  ORCH_COMPOSE_DB (orch_compose_check)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BIN=${CARGO_TARGET_DIR:-target}/debug
DATABASE_URL=${DATABASE_URL:-postgres://orchestrator:orchestrator@127.0.0.1:5432/orchestrator}
PG_SERVER=${DATABASE_URL%/*}
DB=${ORCH_COMPOSE_DB:-orch_compose_check}
export ORCH_COMPOSE_DATABASE_URL=$PG_SERVER/$DB
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export ORCH_COMPOSE_ZAVHOZ_HTTP_PORT=${ORCH_COMPOSE_ZAVHOZ_HTTP_PORT:-18093}
export ORCH_COMPOSE_ZAVHOZ_GRPC_PORT=${ORCH_COMPOSE_ZAVHOZ_GRPC_PORT:-15051}
HTTP=http://127.0.0.1:$ORCH_COMPOSE_ZAVHOZ_HTTP_PORT
GRPC=127.0.0.1:$ORCH_COMPOSE_ZAVHOZ_GRPC_PORT
PROJECT=orch-compose-check
SOPS_PATH=compose_check.value

log() { printf '[compose-check] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
# quiet CMD...: runs CMD with its output kept aside, shown only when it fails.
quiet() { "$@" >"$DIR/step.log" 2>&1 || { cat "$DIR/step.log" >&2; die "failed: $*"; }; }

if docker compose version >/dev/null 2>&1; then COMPOSE_BIN=(docker compose); else COMPOSE_BIN=(docker-compose); fi
command -v "${COMPOSE_BIN[0]}" >/dev/null || die "docker-compose is missing (Debian: apt-get install docker-compose)"

START=$SECONDS
DIR=$(mktemp -d /tmp/orch-compose-check.XXXXXX)
chmod 700 "$DIR"
compose() {
    "${COMPOSE_BIN[@]}" --project-directory "$DIR" -p "$PROJECT" -f "$ROOT/compose.yaml" \
        -f "$ROOT/deploy/compose.offline.yaml" "$@"
}
drop_db() { psql -X -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1; }
cleanup() {
    local rc=$?
    [ -f "$DIR/.env" ] || touch "$DIR/.env"
    compose down -v --remove-orphans >/dev/null 2>&1 || log "docker-compose down failed"
    drop_db || true
    rm -rf "$DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. image -------------------------------------------------------------------------------------------------
t=$SECONDS
export ORCH_SERVICE_IMAGE
ORCH_SERVICE_IMAGE=$(scripts/build-service-image.sh | tail -n 1)
PY=$(scripts/install-zavhoz-pytools.sh 2>"$DIR/pytools.log" | tail -n 1) ||
    { cat "$DIR/pytools.log" >&2; die "scripts/install-zavhoz-pytools.sh failed"; }
log "image $ORCH_SERVICE_IMAGE ready in $((SECONDS - t)) s"

# --- 2. setup -------------------------------------------------------------------------------------------------
touch "$DIR/.env"
compose down -v --remove-orphans >/dev/null 2>&1 || true # a run killed before its cleanup
for port in "$ORCH_COMPOSE_ZAVHOZ_HTTP_PORT" "$ORCH_COMPOSE_ZAVHOZ_GRPC_PORT"; do
    ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || die "port $port is taken (ORCH_COMPOSE_ZAVHOZ_*_PORT)"
done

# The age identity and the secrets file an operator keeps next to compose.yaml.
if ! recipient=$(python3 scripts/demo/age-keygen.py "$DIR/age-key.txt"); then
    cp crates/sops/tests/fixtures/age-key.txt "$DIR/age-key.txt"
    recipient=$(sed -n 's/^# public key: //p' "$DIR/age-key.txt")
fi
VALUE=cmpchk_$(head -c 16 /dev/urandom | od -An -vtx1 | tr -d ' \n')
quiet env SECRETS_FILE="$DIR/secrets.yaml" "$BIN/orchestrator" secrets init --recipient "$recipient"
printf %s "$VALUE" | quiet env SECRETS_FILE="$DIR/secrets.yaml" SOPS_AGE_KEY_FILE="$DIR/age-key.txt" \
    "$BIN/orchestrator" secrets set "$SOPS_PATH" -
# zavhoz runs as uid 10001 (the image's `orchestrator` user) and reads both files through read-only mounts;
# the directory itself stays private to this user.
if [ "$(id -u)" -eq 0 ]; then
    chown 10001 "$DIR/age-key.txt" "$DIR/secrets.yaml"
    chmod 0400 "$DIR/age-key.txt"
else
    chmod 0644 "$DIR/age-key.txt" "$DIR/secrets.yaml"
fi

# One token per caller; zavhoz's .env holds only their digests.
mint() { scripts/zavhoz-mint-token.sh "$1" >"$DIR/$1.minted"; }
mint graph-runner
mint worker-spawner
GR_TOKEN=$(sed -n 's/^ZAVHOZ_TOKEN=//p' "$DIR/graph-runner.minted")
WS_TOKEN=$(sed -n 's/^ZAVHOZ_TOKEN=//p' "$DIR/worker-spawner.minted")
{
    echo "# written by scripts/compose-zavhoz-check.sh for one run"
    grep -h '^ZAVHOZ__CALLERS__' "$DIR/graph-runner.minted" "$DIR/worker-spawner.minted"
    # One port on one server: the interop client allocates it and is refused the next one.
    echo "ZAVHOZ__SERVERS=[srv-compose]"
    echo "ZAVHOZ__PORT_RANGE_START=20000"
    echo "ZAVHOZ__PORT_RANGE_END=20000"
    echo "RUST_LOG=info"
} >"$DIR/.env"
rm -f "$DIR"/*.minted

drop_db
quiet psql -X -q "$PG_SERVER/postgres" -c "CREATE DATABASE $DB"
quiet "$BIN/orchestrator" migrate --database-url "$ORCH_COMPOSE_DATABASE_URL"
sql() { psql -X -q -t -A "$ORCH_COMPOSE_DATABASE_URL" -c "$1"; }
USER_ID=$(sql "INSERT INTO users (display_name, is_allowed) VALUES ('compose check', true) RETURNING id" | head -n 1)

# --- 3. compose -----------------------------------------------------------------------------------------------
t=$SECONDS
compose up -d --no-deps --no-build zavhoz >"$DIR/up.log" 2>&1 || { cat "$DIR/up.log" >&2; die "docker-compose up failed"; }
CONTAINER=$(compose ps -q zavhoz)
[ -n "$CONTAINER" ] || die "no zavhoz container"
ready=
for _ in $(seq 1 120); do
    if curl -sf "$HTTP/ready" >/dev/null 2>&1; then ready=1; break; fi
    state=$(docker inspect -f '{{.State.Status}} {{.RestartCount}}' "$CONTAINER" 2>/dev/null || echo gone)
    case $state in running\ 0) ;; *) break ;; esac
    sleep 0.5
done
if [ -z "$ready" ]; then
    compose logs --no-color zavhoz | tail -n 30 >&2
    die "zavhoz did not become ready (container: ${state:-?})"
fi
log "zavhoz ready under compose in $((SECONDS - t)) s"

# --- 4. checks ------------------------------------------------------------------------------------------------
ROWS=()
FAILED=0
check() { # name, expected, actual
    if [ "$2" = "$3" ]; then ROWS+=("ok|$1|$3"); else ROWS+=("FAIL|$1|got ${3:-<nothing>}, want $2"); FAILED=1; fi
}

check "container image" "$ORCH_SERVICE_IMAGE" "$(docker inspect -f '{{.Config.Image}}' "$CONTAINER")"
check "container user (non-root)" "10001" "$(docker exec "$CONTAINER" id -u)"
check "compose project / service" "$PROJECT/zavhoz" \
    "$(docker inspect -f '{{index .Config.Labels "com.docker.compose.project"}}/{{index .Config.Labels "com.docker.compose.service"}}' "$CONTAINER")"
check "secrets.yaml and age key mounted read-only" "false false" \
    "$(docker inspect -f '{{range .Mounts}}{{.RW}} {{end}}' "$CONTAINER" | xargs)"
check "GET /health" "200" "$(curl -s -o /dev/null -w '%{http_code}' "$HTTP/health")"
check "GET /ready" "200" "$(curl -s -o /dev/null -w '%{http_code}' "$HTTP/ready")"

STUBS=$DIR/stubs
mkdir -p "$STUBS"
quiet "$PY" -m grpc_tools.protoc -Iproto --python_out="$STUBS" --grpc_python_out="$STUBS" zavhoz.proto

# j FILE KEY...: one value of a client's JSON output.
j() { "$PY" -c 'import functools, json, sys; print(functools.reduce(lambda v, k: v[k], sys.argv[2:], json.load(open(sys.argv[1]))))' "$@"; }

if "$PY" crates/zavhoz/tests/it/interop_client.py "$STUBS" "$GRPC" "$GR_TOKEN" "$USER_ID" \
    >"$DIR/interop.json" 2>"$DIR/interop.err"; then
    for name in "" zavhoz.v1.ResourceService; do
        check "gRPC health '${name}'" SERVING "$(j "$DIR/interop.json" "health:$name")"
    done
    check "reflection lists ResourceService" True \
        "$("$PY" -c 'import json,sys; print("zavhoz.v1.ResourceService" in json.load(open(sys.argv[1]))["services"])' "$DIR/interop.json")"
    check "Allocate without a token" UNAUTHENTICATED "$(j "$DIR/interop.json" unauthenticated)"
    check "Allocate port (graph-runner), retried" "srv-compose:20000 same=True" \
        "$(j "$DIR/interop.json" allocated server):$(j "$DIR/interop.json" allocated port) same=$(j "$DIR/interop.json" allocated same_on_retry)"
    check "next port refused (ErrorInfo)" "RESOURCE_EXHAUSTED NO_PORT_FREE" \
        "$(j "$DIR/interop.json" exhausted code) $(j "$DIR/interop.json" exhausted reason)"
else
    check "interop client (crates/zavhoz/tests/it/interop_client.py)" "runs" "failed: $(tail -n 1 "$DIR/interop.err")"
fi

if "$PY" scripts/compose/zavhoz_secret_client.py "$STUBS" "$GRPC" "$GR_TOKEN" "$WS_TOKEN" "$USER_ID" "$SOPS_PATH" \
    >"$DIR/secret.json" 2>"$DIR/secret.err"; then
    S=$DIR/secret.json
    HANDLE=$(j "$S" allocated handle)
    check "gRPC health 'zavhoz.v1.SecretService'" SERVING "$(j "$S" "health:zavhoz.v1.SecretService")"
    check "Allocate secret without a token" UNAUTHENTICATED "$(j "$S" allocate_without_token)"
    check "Allocate secret with an unknown token" UNAUTHENTICATED "$(j "$S" allocate_with_unknown_token)"
    check "Allocate secret (graph-runner)" "RESOURCE_KIND_SECRET RESOURCE_STATE_LIVE sops:$SOPS_PATH hdl_" \
        "$(j "$S" allocated kind) $(j "$S" allocated state) $(j "$S" allocated secret_source) ${HANDLE:0:4}"
    check "Resolve without a token" UNAUTHENTICATED "$(j "$S" resolve_without_token)"
    check "Resolve by graph-runner" PERMISSION_DENIED "$(j "$S" resolve_by_graph_runner)"
    check "Resolve by worker-spawner = the test value" "sha256 $(printf %s "$VALUE" | sha256sum | cut -c1-16)" \
        "sha256 $(j "$S" resolve_by_worker_spawner value_sha256 | cut -c1-16)"
    check "audit: secret.resolve by worker-spawner" 1 \
        "$(sql "SELECT count(*) FROM audit_log WHERE action = 'secret.resolve' AND actor = 'worker-spawner' AND subject = '$HANDLE' AND detail->>'purpose' = 'compose check'")"
    check "audit: secret.resolve_denied for graph-runner" 1 \
        "$(sql "SELECT count(*) FROM audit_log WHERE action = 'secret.resolve_denied' AND actor = 'graph-runner' AND subject = '$HANDLE'")"
else
    check "secret client (scripts/compose/zavhoz_secret_client.py)" "runs" "failed: $(tail -n 1 "$DIR/secret.err")"
fi
check "audit rows holding the value" 0 \
    "$(sql "SELECT count(*) FROM audit_log WHERE detail::text LIKE '%$VALUE%' OR subject LIKE '%$VALUE%'")"

compose logs --no-color zavhoz >"$DIR/zavhoz.log" 2>&1
# Positive controls: the search reads zavhoz's JSON lines, and the resolves' spans there name the handle.
check "docker-compose logs zavhoz: JSON lines (control)" yes \
    "$(grep -q '"message":"zavhoz ready to serve"' "$DIR/zavhoz.log" && echo yes || echo no)"
check "docker-compose logs zavhoz: the handle (control)" yes \
    "$([ -n "${HANDLE:-}" ] && grep -qF -- "$HANDLE" "$DIR/zavhoz.log" && echo yes || echo no)"
for secret in VALUE GR_TOKEN WS_TOKEN; do
    check "docker-compose logs zavhoz: \$$secret" "0 hits" "$(grep -cF -- "${!secret}" "$DIR/zavhoz.log" || true) hits"
done

printf '\nzavhoz under docker-compose (%s, project %s), checked in %d s:\n' "$ORCH_SERVICE_IMAGE" "$PROJECT" \
    "$((SECONDS - START))"
for row in "${ROWS[@]}"; do
    IFS='|' read -r result name detail <<<"$row"
    printf '  %-4s  %-48s  %s\n' "$result" "$name" "$detail"
done
if [ "$FAILED" -ne 0 ]; then
    echo "the end of zavhoz's log:"
    tail -n 20 "$DIR/zavhoz.log"
    exit 1
fi
