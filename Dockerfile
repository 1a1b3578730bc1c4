# syntax=docker/dockerfile:1
#
# wsgate container image: a Rust binary on distroless/cc, running as uid 65532.
#
#   docker build -t wsgate:dev .
#   docker run --rm -v "$PWD/config.toml:/etc/wsgate/config.toml:ro" -p 8080:8080 -p 9090:9090 wsgate:dev
#   docker run --rm -v "$PWD/config.toml:/etc/wsgate/config.toml:ro" wsgate:dev check --config /etc/wsgate/config.toml
#
# Base images are build arguments, pinned by digest by default so a rebuild fetches the
# bytes that were reviewed (tags move). The defaults are the multi-platform index digests
# these tags had when pinned (the same digests public projects pin); CI builds on local
# stand-ins and cannot reach the registries, so verify them when you first pull, and
# bump deliberately. To bump one, resolve the tag's current digest
# (the multi-platform index digest) and replace both the tag and the digest:
#   skopeo inspect --format '{{.Digest}}' docker://docker.io/library/rust:1.95-bookworm
#   crane digest gcr.io/distroless/cc-debian12:nonroot   (or docker buildx imagetools inspect)
# Keep BUILD_IMAGE on Debian bookworm, the release distroless/cc-debian12 is built from,
# so the binary never needs a newer glibc than the runtime has.
# To build from a mirror or a local stand-in (CI does, deploy/image/test.sh):
#   podman build --build-arg BUILD_IMAGE=... --build-arg RUNTIME_IMAGE=... .
ARG BUILD_IMAGE=docker.io/library/rust:1.95-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f

############################ build ############################
FROM ${BUILD_IMAGE} AS build
WORKDIR /app

# Dependency layer: build every dependency against placeholder sources, so a change to
# the sources rebuilds only wsgate itself; reused until Cargo.toml or Cargo.lock changes.
# The placeholder build uses a copy of the manifest without its [[bench]], [[test]] and
# [[example]] tables, whose files are not here yet (cargo refuses a declared target
# without its file); those tables change no dependency, so --locked still holds and the
# real build below reuses every compiled dependency.
# The profile-guided build's wrapper and profile (pgo/, named in .cargo/config.toml)
# come first too: the dependencies are compiled with the profile as well.
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY pgo pgo
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cp Cargo.toml Cargo.toml.orig \
 && sed -i '/^\[\[\(bench\|test\|example\)\]\]/,/^$/d' Cargo.toml \
 && cargo build --release --locked \
 && mv Cargo.toml.orig Cargo.toml \
 && rm -rf src

# The whole source tree (.dockerignore keeps out target/, .git, docs, deployment files),
# so every target the manifest declares is present. `touch` makes the sources newer than
# the placeholder build's fingerprints, so cargo never takes the placeholder for current.
COPY . .
# The release profile keeps line tables (file:line in panic backtraces), which make the
# binary ~45 MB instead of ~8 MB. By default they are stripped here (symbol names stay,
# so backtraces still name functions); --build-arg STRIP_DEBUG=false keeps them.
ARG STRIP_DEBUG=true
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin wsgate \
 && if [ "$STRIP_DEBUG" = "true" ]; then strip --strip-debug target/release/wsgate; fi \
 && ./target/release/wsgate --version

############################ runtime ############################
# distroless/cc: glibc, libgcc and CA certificates, no shell, no package manager.
FROM ${RUNTIME_IMAGE}

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
