# syntax=docker/dockerfile:1
# The production image, for machines with a Docker engine:
#   docker build --build-arg REVISION=$(git rev-parse HEAD) -t startupwebapp .
# `cargo xtask image` builds the equivalent image without a daemon (same
# user, entrypoint, environment, port and health check); CI and deploys use
# that one, so keep the two in step.

FROM rust:1.95-bookworm AS build
WORKDIR /build
COPY . .
# Paths inside the binary do not depend on the builder's cargo home.
ENV CARGO_ENCODED_RUSTFLAGS=--remap-path-prefix=/usr/local/cargo=/cargo
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked --bin startupwebapp \
 && cp target/release/startupwebapp /startupwebapp

# glibc, libgcc_s, CA certificates, /tmp and the nonroot user (65532).
FROM gcr.io/distroless/cc-debian12:nonroot
ARG REVISION=unknown
LABEL org.opencontainers.image.title="startupwebapp" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build --chown=0:0 --chmod=0755 /startupwebapp /app/startupwebapp
WORKDIR /app
ENV APP_BIND_ADDRESS=0.0.0.0:8000
USER 65532:65532
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/app/startupwebapp", "healthcheck"]
ENTRYPOINT ["/app/startupwebapp"]
CMD ["serve"]
