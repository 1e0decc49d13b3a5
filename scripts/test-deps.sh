#!/usr/bin/env bash
# Installs and starts everything the test suite needs on a Debian machine, idempotently:
# system packages, Redis and PostgreSQL on 127.0.0.1, real sops (PyPI) and other Python tools for interop
# tests, and the Docker images the tests run (built offline — nothing can be pulled).
# Prints `export` lines for what the tests read (SOPS_BIN); `make test` evaluates them.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[deps] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

need=()
for tool in git openssl curl; do
    command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
# The zavhoz-under-compose check (scripts/compose-zavhoz-check.sh) needs a compose tool: v1 from Debian, or the
# v2 plugin when the engine came with it.
if ! command -v docker-compose >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1; then
    need+=(docker-compose)
fi
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    as_root apt-get update -q >/dev/null || true
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q "${need[@]}" >/dev/null
fi

scripts/infra-up.sh >&2

log "real sops for interop tests"
echo "export SOPS_BIN=$(scripts/install-sops.sh)"

for script in scripts/install-*-pytools.sh; do
    if [ -x "$script" ]; then log "$script"; "$script" >&2; fi
done

for script in scripts/build-test-image.sh; do
    if [ -x "$script" ]; then log "$script"; "$script" >&2; fi
done
