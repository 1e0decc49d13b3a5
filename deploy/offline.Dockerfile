# The services' image built offline (scripts/build-service-image.sh): the Dockerfile's runtime stage, but FROM the
# Debian bookworm rootfs that scripts/build-test-image.sh imports (debootstrap; nothing pulled) and with the
# binaries cargo already built on the host (Debian 12, so the same glibc). For tests and offline machines only;
# real deployments build the root Dockerfile. Not in the image: ansible and openssh-client (devops-runner's
# deployments need them), so only the other services are expected to work in it.
ARG BASE
FROM ${BASE}
RUN useradd --system --uid 10001 --home /app orchestrator
COPY bin/ /usr/local/bin/
WORKDIR /app
USER orchestrator
ENV LOG_FORMAT=json
CMD ["orchestrator", "--help"]
