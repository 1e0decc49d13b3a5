#!/usr/bin/env bash
# Installs the Python gRPC tools the zavhoz interop test uses (grpcio, grpcio-tools to generate stubs from
# proto/zavhoz.proto at test time, grpcio-health-checking, grpcio-reflection, grpcio-status) into a private
# venv, idempotently, and prints the venv's python path on stdout (progress goes to stderr).
#
#   scripts/install-zavhoz-pytools.sh            # then: cargo test -p zavhoz
#   ZAVHOZ_PYTOOLS_VENV=/elsewhere scripts/install-zavhoz-pytools.sh
#
# Needs python3 with the venv module (Debian: python3-venv); honours PIP_INDEX_URL / PIP_FIND_LINKS.
set -euo pipefail

VENV="${ZAVHOZ_PYTOOLS_VENV:-${HOME}/.cache/codegen-orchestrator/venv-grpc}"
PY="${VENV}/bin/python"
PACKAGES=(grpcio grpcio-tools grpcio-health-checking grpcio-reflection grpcio-status)

log() { echo "install-zavhoz-pytools: $*" >&2; }

installed() {
    [[ -x "${PY}" ]] && "${PY}" -c 'import grpc, grpc_tools, grpc_health, grpc_reflection, grpc_status' 2>/dev/null
}

if installed; then
    log "already installed in ${VENV}"
    echo "${PY}"
    exit 0
fi

PYTHON="$(command -v python3 || true)"
if [[ -z "${PYTHON}" ]]; then
    log "python3 not found; install it first (apt-get install -y python3 python3-venv)"
    exit 1
fi
if [[ ! -x "${VENV}/bin/pip" ]]; then
    log "creating venv ${VENV}"
    mkdir -p "$(dirname "${VENV}")"
    "${PYTHON}" -m venv "${VENV}" >&2 || {
        log "python3 -m venv failed; on Debian run: apt-get install -y python3-venv"
        exit 1
    }
fi
log "installing ${PACKAGES[*]}"
"${VENV}/bin/pip" install --disable-pip-version-check --quiet "${PACKAGES[@]}" >&2
installed || { log "the packages do not import after installation"; exit 1; }
log "installed: $("${PY}" -c 'import grpc; print("grpcio", grpc.__version__)')"
echo "${PY}"
