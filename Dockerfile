# One multi-stage image for every service; compose picks the binary per service with `command`.
# Build: docker build -t codegen-orchestrator .   (needs registry access for the base images)

FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
# Queries are checked against the committed .sqlx cache: no database needed to build.
ENV SQLX_OFFLINE=true
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --workspace --bins \
 && mkdir -p /out \
 && for bin in api telegram-gateway graph-runner zavhoz worker-spawner reviewer devops-runner orchestrator; do \
        cp "target/release/$bin" /out/; \
    done

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git openssh-client ansible curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /app orchestrator
COPY --from=builder /out/ /usr/local/bin/
WORKDIR /app
USER orchestrator
ENV LOG_FORMAT=json
CMD ["orchestrator", "--help"]
