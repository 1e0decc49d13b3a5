#!/usr/bin/env bash
# Builds the coding-worker test image offline — no registry, nothing pulled — and prints its reference
# (`local/orch-worker-test:<hash>`) as the last line of stdout. Idempotent and cached by tag: when the tag exists
# the script only prints it.
#
#   1. Base image `local/orch-worker-base:<hash of the package recipe>`: a Debian bookworm minbase rootfs made by
#      debootstrap (from the Debian mirror apt uses) with git, curl, make and tinyproxy, imported with
#      `docker import`. Built once per recipe (about a minute).
#   2. Test image `local/orch-worker-test:<hash of the inputs>`: the base plus worker-image/execute_task.sh, the
#      scripted agent and AGENTS.md, and the unprivileged `worker` user (uid 1000), via `docker build` FROM the
#      local base (seconds).
#
# `--base` builds (when missing) and prints only the base image: scripts/build-service-image.sh builds the
# services' offline image on it.
#
# Needs: Docker, bash, sha256sum, and root (or sudo) to install and run debootstrap when the base is missing.
# Works on a fresh Debian 12 machine with Docker running and apt reachable.
#
#   ORCH_TEST_IMAGE_REPO (local/orch-worker-test)  ORCH_TEST_BASE_REPO (local/orch-worker-base)
#   DEBIAN_MIRROR (http://deb.debian.org/debian)   DEBIAN_SUITE (bookworm)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE_DIR="$ROOT/worker-image"
REPO=${ORCH_TEST_IMAGE_REPO:-local/orch-worker-test}
BASE_REPO=${ORCH_TEST_BASE_REPO:-local/orch-worker-base}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=${DEBIAN_SUITE:-bookworm}
# git: clone/commit/push; curl: egress probes; make: `make test`; tinyproxy-bin: the egress proxy.
PACKAGES=git,curl,ca-certificates,make,tinyproxy-bin
RECIPE_VERSION=1

log() { printf '[test-image] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
short_hash() { sha256sum | cut -c1-16; }
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

BASE_TAG=$(printf '%s %s %s %s' "$SUITE" "$PACKAGES" "$RECIPE_VERSION" "$(uname -m)" | short_hash)
BASE_IMAGE="$BASE_REPO:$BASE_TAG"

dockerfile() {
    cat <<EOF
FROM $BASE_IMAGE
RUN echo 'worker:x:1000:1000:coding worker:/tmp/orch/home:/bin/sh' >>/etc/passwd \\
 && echo 'worker:x:1000:' >>/etc/group \\
 && mkdir -p /workspace /out /usr/local/share/orch \\
 && chown 1000:1000 /workspace /out
COPY execute_task.sh /usr/local/bin/execute_task.sh
COPY scripted-agent.sh /usr/local/bin/orch-scripted-agent
COPY AGENTS.md /usr/local/share/orch/AGENTS.md
RUN chmod 0755 /usr/local/bin/execute_task.sh /usr/local/bin/orch-scripted-agent
LABEL org.opencontainers.image.title="orch coding worker (offline test image)"
USER 1000:1000
WORKDIR /workspace
CMD ["/usr/local/bin/execute_task.sh"]
EOF
}

TAG=$( {
    echo "$BASE_IMAGE"
    dockerfile
    cat "$IMAGE_DIR/execute_task.sh" "$IMAGE_DIR/scripted-agent.sh" "$IMAGE_DIR/AGENTS.md"
} | short_hash)
IMAGE="$REPO:$TAG"

build_base() {
    if ! command -v debootstrap >/dev/null; then
        log "installing debootstrap"
        as_root apt-get update -q >/dev/null || true
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q debootstrap >/dev/null
    fi
    local tmp
    tmp=$(mktemp -d)
    # shellcheck disable=SC2064 # expand now: the directory is known
    trap "as_root rm -rf '$tmp'" EXIT
    log "debootstrap $SUITE minbase + $PACKAGES from $MIRROR (about a minute)"
    as_root debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$tmp/rootfs" "$MIRROR" >"$tmp/debootstrap.log" 2>&1 || {
        tail -n 30 "$tmp/debootstrap.log" >&2
        exit 1
    }
    as_root rm -rf "$tmp/rootfs/var/cache/apt/archives/"*.deb "$tmp/rootfs/var/lib/apt/lists/"* "$tmp/rootfs/var/log/"*
    log "importing $BASE_IMAGE"
    as_root tar -C "$tmp/rootfs" --numeric-owner -c . |
        docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            -m "debootstrap $SUITE minbase + $PACKAGES" - "$BASE_IMAGE" >/dev/null
}

build_image() {
    local ctx
    ctx=$(mktemp -d)
    cp "$IMAGE_DIR/execute_task.sh" "$IMAGE_DIR/scripted-agent.sh" "$IMAGE_DIR/AGENTS.md" "$ctx/"
    dockerfile >"$ctx/Dockerfile"
    log "building $IMAGE"
    # The legacy builder uses local images only; nothing is pulled.
    DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" "$ctx" >/dev/null 2>"$ctx/build.log" || {
        cat "$ctx/build.log" >&2
        rm -rf "$ctx"
        exit 1
    }
    rm -rf "$ctx"
}

if [ "${1:-}" = --base ]; then
    if image_exists "$BASE_IMAGE"; then log "$BASE_IMAGE exists (cached)"; else build_base; fi
    echo "$BASE_IMAGE"
    exit 0
fi

if image_exists "$IMAGE"; then
    log "$IMAGE exists (cached)"
else
    image_exists "$BASE_IMAGE" || build_base
    build_image
fi
echo "$IMAGE"
