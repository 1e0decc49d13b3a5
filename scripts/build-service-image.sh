#!/usr/bin/env bash
# Builds the services' image offline — no registry, nothing pulled, nothing compiled — and prints its reference
# (`local/orch-service:<hash>`) as the last line of stdout; it is also tagged `codegen-orchestrator:latest`, the
# image compose.yaml runs, unless that tag holds an image this script did not build (a real `make up` build is
# left alone). Cached by tag: when the hash's tag exists the script only (re)tags and prints it.
#
#   base    the Debian bookworm rootfs of `scripts/build-test-image.sh --base` (debootstrap, imported once)
#   image   deploy/offline.Dockerfile: the base + the binaries cargo built in ${CARGO_TARGET_DIR:-target}/debug
#           + the non-root `orchestrator` user (uid 10001), as in the root Dockerfile
#   hash    of the base's reference, the Dockerfile and every binary's content
#
# The binaries are the host's debug builds (`cargo build --workspace --bins` first); they link against the host's
# glibc, so the host must be Debian 12 like the base (checked: the image must run `zavhoz --help`).
#
#   ORCH_SERVICE_IMAGE_REPO (local/orch-service)   CARGO_TARGET_DIR (target)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO=${ORCH_SERVICE_IMAGE_REPO:-local/orch-service}
LATEST=codegen-orchestrator:latest
BIN_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/debug
BINARIES=(api telegram-gateway graph-runner zavhoz worker-spawner reviewer devops-runner orchestrator)
DOCKERFILE=$ROOT/deploy/offline.Dockerfile
LABEL=org.codegen-orchestrator.offline-inputs

log() { printf '[service-image] %s\n' "$*" >&2; }
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

for bin in "${BINARIES[@]}"; do
    [ -x "$BIN_DIR/$bin" ] || { log "$BIN_DIR/$bin is missing: run \`cargo build --workspace --bins\` first"; exit 1; }
done

BASE=$("$ROOT/scripts/build-test-image.sh" --base | tail -n 1)
HASH=$( {
    echo "$BASE"
    cat "$DOCKERFILE"
    (cd "$BIN_DIR" && sha256sum "${BINARIES[@]}")
} | sha256sum | cut -c1-16)
IMAGE="$REPO:$HASH"

if image_exists "$IMAGE"; then
    log "$IMAGE exists (cached)"
else
    # The context lives next to the binaries so they are hard-linked, not copied (about 450 MB of debug builds).
    ctx=$(mktemp -d "$BIN_DIR/../.service-image.XXXXXX")
    trap 'rm -rf "$ctx"' EXIT
    mkdir "$ctx/bin"
    for bin in "${BINARIES[@]}"; do
        ln "$BIN_DIR/$bin" "$ctx/bin/$bin" 2>/dev/null || cp "$BIN_DIR/$bin" "$ctx/bin/$bin"
    done
    cp "$DOCKERFILE" "$ctx/Dockerfile"
    log "building $IMAGE from $BASE and $BIN_DIR"
    # The legacy builder uses local images only; nothing is pulled.
    DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE=$BASE" --label "$LABEL=$HASH" -t "$IMAGE" "$ctx" \
        >/dev/null 2>"$ctx/build.log" || { cat "$ctx/build.log" >&2; exit 1; }
    rm -rf "$ctx"
    trap - EXIT
    # Dynamically linked against the host's glibc: prove the binaries load in the image (as the image's user).
    if ! out=$(docker run --rm --network none "$IMAGE" zavhoz --help 2>&1); then
        log "zavhoz does not run in $IMAGE (is the host Debian 12 / glibc 2.36?):"
        printf '%s\n' "$out" >&2
        docker rmi -f "$IMAGE" >/dev/null
        exit 1
    fi
fi

current=$(docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$LATEST" 2>/dev/null || true)
if image_exists "$LATEST" && { [ -z "$current" ] || [ "$current" = "<no value>" ]; }; then
    log "$LATEST is not an offline build (a real one?): left alone; use $IMAGE"
elif [ "$current" != "$HASH" ]; then
    docker tag "$IMAGE" "$LATEST"
    log "tagged $LATEST"
fi
# Earlier builds (about 450 MB each) go; one still used by a container stays.
docker image ls --format '{{.Repository}}:{{.Tag}}' "$REPO" | grep -vxF "$IMAGE" | xargs -r docker rmi >/dev/null 2>&1 || true
echo "$IMAGE"
