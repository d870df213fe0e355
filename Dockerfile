# syntax=docker/dockerfile:1
# tollgate container image: built on Debian bookworm with the project's own dependency script,
# run on bookworm-slim with only the shared libraries the binary links, as a non-root user.
#   docker build -t tollgate:0.1.0 .

FROM debian:bookworm AS build
WORKDIR /src
# The dependency layer first, so that source edits do not reinstall the toolchain.
COPY scripts/install-deps scripts/install-deps
RUN bash scripts/install-deps build && rm -rf /var/lib/apt/lists/*
COPY . .
# The ccache cache mount keeps rebuilds incremental across image builds (BuildKit).
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DTOLLGATE_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" --target tollgate \
 && strip /build/tollgate

FROM debian:bookworm-slim AS runtime
# The runtime halves of the -dev packages in scripts/install-deps (Boost Asio/Beast and CLI11 are
# header-only). tests/shell/test_dockerfile.sh maps every library the built binary links to its
# package and fails when one is missing here; the ldd check below catches it again at build time.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libssl3 zlib1g libyaml-cpp0.7 libsqlite3-0 libhiredis0.14 libjemalloc2 \
      libprometheus-cpp-core1.0 libspdlog1.10 libfmt9 libdate-tz3 \
      ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/*
# 65532 is the conventional non-root uid of distroless images; the Kubernetes manifests run as it.
RUN groupadd --system --gid 65532 tollgate \
 && useradd --system --uid 65532 --gid 65532 --home-dir /var/lib/tollgate --no-create-home \
      --shell /usr/sbin/nologin tollgate \
 && install -d -o 65532 -g 65532 -m 0750 /var/lib/tollgate \
 && install -d -m 0755 /etc/tollgate
COPY --from=build /build/tollgate /usr/local/bin/tollgate
RUN if ldd /usr/local/bin/tollgate | grep 'not found'; then exit 1; fi \
 && /usr/local/bin/tollgate version

USER 65532:65532
# Relative paths (and the embedded defaults' ./tollgate-data) land on the writable data folder.
WORKDIR /var/lib/tollgate
VOLUME ["/var/lib/tollgate"]
EXPOSE 9090
ENTRYPOINT ["tollgate"]
CMD ["run", "--config", "/etc/tollgate/tollgate.yaml"]
