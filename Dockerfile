# syntax=docker/dockerfile:1
# The backupman image: the `backupman` binary with the clients it runs (pg_dump/psql from
# the PostgreSQL project's repository, mariadb-dump/mariadb), as a non-root user.
#
#   docker build -t backupman:latest .
#   docker run --rm -v "$PWD/config.yml:/app/config.yml:ro" backupman:latest run
#
# The default command is `serve` (scheduled backups and the HTTP API on port 8080); give
# another command (`run`, `health`, `restore`, ...) for a one-shot run. See docs/deploy.md.

# The toolchain of `rust-version` in Cargo.toml, on the Debian release the runtime uses, so
# the binary links against the same glibc.
FROM rust:1.95-bookworm AS build
# `.git` stays out of the build context: the commit for `backupman version` comes from here
# (the release workflow passes the tag's commit).
ARG BACKUPMAN_COMMIT=unknown
ENV BACKUPMAN_COMMIT=${BACKUPMAN_COMMIT}
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the build between builds; the binary is copied out of
# the cached target folder because a cache mount is not part of the image.
# jemalloc takes its page size from the build host; on arm64 it is set to 64 KiB, which also
# runs on 4 and 16 KiB-page kernels (a 4 KiB build refuses to start on the others).
ARG TARGETARCH
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    if [ "$TARGETARCH" = "arm64" ]; then export JEMALLOC_SYS_WITH_LG_PAGE=16; fi \
    && cargo build --release --locked -p backupman-cli \
    && install -D -m 0755 target/release/backupman /out/backupman

# The PostgreSQL project's signing key, checked against its published fingerprint, so the
# runtime stage needs neither curl nor gpg.
FROM rust:1.95-bookworm AS pgdg-key
ARG PGDG_KEY_FINGERPRINT=B97B0AFCAA1A47F044F244A07FCC7D46ACCC4CF8
RUN curl -fsSL -o /tmp/pgdg.asc https://www.postgresql.org/media/keys/ACCC4CF8.asc \
    && gpg --show-keys --with-colons /tmp/pgdg.asc > /tmp/pgdg.keys \
    && grep -q "^fpr:::::::::${PGDG_KEY_FINGERPRINT}:" /tmp/pgdg.keys \
    && install -D -m 0644 /tmp/pgdg.asc /out/apt.postgresql.org.asc

FROM debian:bookworm-slim
COPY --from=pgdg-key /out/apt.postgresql.org.asc /usr/share/keyrings/apt.postgresql.org.asc
# pg_dump must be at least the server's major version: the newest client (17) dumps
# PostgreSQL 13 to 17 servers. Versions are left to the repositories (bookworm and pgdg
# only ship security and minor fixes within these packages), so a rebuild picks up fixes.
# hadolint ignore=DL3008
RUN echo "deb [signed-by=/usr/share/keyrings/apt.postgresql.org.asc] http://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
        > /etc/apt/sources.list.d/pgdg.list \
    && apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates \
        postgresql-client-17 \
        mariadb-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 backupman \
    && useradd --system --uid 10001 --gid backupman --home-dir /app --shell /usr/sbin/nologin backupman \
    && install -d -o backupman -g backupman -m 0750 /app
COPY --from=build /out/backupman /usr/local/bin/backupman
COPY --chmod=0755 deploy/docker/healthcheck.sh /usr/local/bin/backupman-healthcheck
# The default configuration is ./config.yml: mount it at /app/config.yml.
WORKDIR /app
USER 10001:10001
EXPOSE 8080
# Only `serve` listens: for any other command the check passes without asking (see
# healthcheck.sh), so a long one-shot backup is not reported unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/backupman-healthcheck"]
ENTRYPOINT ["backupman"]
CMD ["serve"]
