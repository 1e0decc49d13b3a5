#!/usr/bin/env bash
# Installs (Debian packages) and starts Redis and PostgreSQL on 127.0.0.1 when they are not already running,
# then creates the orchestrator role and database. Idempotent: safe to run again.
#
#   REDIS_PORT (6379)  PG_PORT (5432)  ORCH_DB (orchestrator)  ORCH_DB_USER (orchestrator)  ORCH_DB_PASSWORD (orchestrator)
set -euo pipefail

REDIS_PORT=${REDIS_PORT:-6379}
PG_PORT=${PG_PORT:-5432}
ORCH_DB=${ORCH_DB:-orchestrator}
ORCH_DB_USER=${ORCH_DB_USER:-orchestrator}
ORCH_DB_PASSWORD=${ORCH_DB_PASSWORD:-orchestrator}
STATE_DIR=${ORCH_STATE_DIR:-$HOME/.local/state/codegen-orchestrator}

log() { printf '[infra] %s\n' "$*"; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    log "installing $*"
    as_root apt-get update -q >/dev/null || true
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q "$@" >/dev/null
}

redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

start_redis() {
    if redis_up; then log "redis already answers on 127.0.0.1:$REDIS_PORT"; return; fi
    command -v redis-server >/dev/null || apt_install redis-server redis-tools
    mkdir -p "$STATE_DIR/redis"
    # appendfsync always: the stream and its pending entries survive a restart (reliability test 5).
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
        --dir "$STATE_DIR/redis" --appendonly yes --appendfsync always \
        --logfile "$STATE_DIR/redis/redis.log" --save ''
    for _ in $(seq 50); do redis_up && break; sleep 0.1; done
    redis_up || { log "redis did not start; see $STATE_DIR/redis/redis.log"; exit 1; }
    log "redis started on 127.0.0.1:$REDIS_PORT"
}

pg_up() { pg_isready -h 127.0.0.1 -p "$PG_PORT" -q 2>/dev/null; }

start_postgres() {
    if ! pg_up; then
        command -v pg_lsclusters >/dev/null || apt_install postgresql postgresql-client
        local version
        version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
        if ! pg_lsclusters -h | awk '{print $1"/"$2}' | grep -q "^$version/main$"; then
            as_root pg_createcluster "$version" main -p "$PG_PORT" >/dev/null
        fi
        as_root pg_ctlcluster "$version" main start || true
        for _ in $(seq 100); do pg_up && break; sleep 0.1; done
        pg_up || { log "postgres did not start (pg_lsclusters says: $(pg_lsclusters -h))"; exit 1; }
        log "postgres $version started on 127.0.0.1:$PG_PORT"
    else
        log "postgres already answers on 127.0.0.1:$PG_PORT"
    fi
    create_role_and_db
}

psql_admin() { as_root su postgres -c "psql -p $PG_PORT -v ON_ERROR_STOP=1 -qtAc \"$1\""; }

create_role_and_db() {
    if [ "$(psql_admin "select 1 from pg_roles where rolname='$ORCH_DB_USER'")" != "1" ]; then
        psql_admin "create role $ORCH_DB_USER login createdb password '$ORCH_DB_PASSWORD'"
    fi
    if [ "$(psql_admin "select 1 from pg_database where datname='$ORCH_DB'")" != "1" ]; then
        psql_admin "create database $ORCH_DB owner $ORCH_DB_USER"
    fi
    log "database postgres://$ORCH_DB_USER:***@127.0.0.1:$PG_PORT/$ORCH_DB ready"
}

start_redis
start_postgres
