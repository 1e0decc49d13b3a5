#!/usr/bin/env bash
# Builds the production coding-worker image from worker-image/Dockerfile (needs a registry for the base image
# and network access to the agents' download sites; it cannot run on the offline development machines — use
# scripts/build-test-image.sh there).
#
#   ORCH_WORKER_IMAGE (orch-worker:latest)   BASE_IMAGE (ubuntu:22.04)
#   INSTALL_AGENTS ("droid claude-code codex aider")
#   CLAUDE_CODE_VERSION / CODEX_VERSION (latest)   AIDER_VERSION (latest)   NODE_MAJOR (22)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE=${ORCH_WORKER_IMAGE:-orch-worker:latest}

args=(--build-arg "BASE_IMAGE=${BASE_IMAGE:-ubuntu:22.04}")
for name in INSTALL_AGENTS NODE_MAJOR CLAUDE_CODE_VERSION CODEX_VERSION AIDER_VERSION; do
    if [ -n "${!name:-}" ]; then
        args+=(--build-arg "$name=${!name}")
    fi
done

docker build "${args[@]}" -t "$IMAGE" "$ROOT/worker-image"
echo "$IMAGE"
