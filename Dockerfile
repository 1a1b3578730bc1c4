# syntax=docker/dockerfile:1
#
# wsgate container image: a static-ish Rust binary on distroless, running as non-root.
#
#   docker build -t wsgate:dev .
#   docker run --rm -v "$PWD/config.toml:/etc/wsgate/config.toml:ro" -p 8080:8080 -p 9090:9090 wsgate:dev
#   docker run --rm -v "$PWD/config.toml:/etc/wsgate/config.toml:ro" wsgate:dev check --config /etc/wsgate/config.toml
#
# Reproducibility: the build uses Cargo.lock (--locked). For byte-for-byte repeatable
# images, pin both base images by digest in CI (rust:1-bookworm@sha256:..., and the
# distroless tag below), since the tags move.

############################ build ############################
FROM rust:1-bookworm AS build
WORKDIR /app

# Dependency layer: build every crate in Cargo.lock against placeholder sources, so a
# change to src/ rebuilds only wsgate itself. This layer is reused until Cargo.toml or
# Cargo.lock changes. (If the crate ever gains a build.rs, copy it here too.)
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

# The real sources. `touch` makes them newer than the placeholder build's fingerprints,
# so cargo can never mistake the placeholder binary for an up-to-date one.
COPY src ./src
# The release profile keeps line tables (file:line in panic backtraces), which make the
# binary ~45 MB instead of ~8 MB. By default they are stripped here (symbol names stay,
# so backtraces still name functions); --build-arg STRIP_DEBUG=false keeps them.
ARG STRIP_DEBUG=true
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && if [ "$STRIP_DEBUG" = "true" ]; then strip --strip-debug target/release/wsgate; fi \
 && ./target/release/wsgate --version

############################ runtime ############################
# distroless/cc: glibc, libgcc and CA certificates, no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot

COPY --from=build /app/target/release/wsgate /usr/local/bin/wsgate

# 65532 is distroless's `nonroot` user. Numeric on purpose: Kubernetes can only enforce
# `runAsNonRoot: true` for an image whose USER is numeric.
USER 65532:65532

# 8080: client-facing proxy listener (server.listen; the PORT env var overrides it).
# 9090: admin listener (server.admin_listen): /healthz, /readyz, /metrics.
EXPOSE 8080 9090

# No HEALTHCHECK: the image has no shell or curl. Orchestrators probe the admin port
# (/healthz for liveness, /readyz for readiness) directly.
ENTRYPOINT ["/usr/local/bin/wsgate"]
# Mount the config here (Kubernetes ConfigMap, Cloud Run secret volume), or override
# the arguments, e.g. `check --config /etc/wsgate/config.toml` in CI.
CMD ["run", "--config", "/etc/wsgate/config.toml"]
