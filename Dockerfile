# Lifeboat in a container: lifeboatd (the service) and lifeboat (the CLI) in one image.
#   docker build -t lifeboat .
#   docker run --rm -v /srv/lifeboat:/var/lib/lifeboat -v /etc/lifeboat:/etc/lifeboat:ro \
#       -p 127.0.0.1:8081:8081 lifeboat --config /etc/lifeboat/lifeboat.toml --allow-plain-http
# (inside the container the loopback is the container's own: lifeboatd must listen on
# 0.0.0.0 there; publish the port on the host's loopback as above, or set tls-cert/tls-key.)
# The runtime image carries the database clients the database plans run (pg_dump,
# mariadb-dump); Redis and Elasticsearch need none.
# Checked with hadolint (scripts/check-deploy.sh).

# ---- build
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p lifeboatd -p lifeboat-cli \
    && install -D -m 0755 target/release/lifeboatd /out/lifeboatd \
    && install -D -m 0755 target/release/lifeboat /out/lifeboat

# ---- run
FROM debian:bookworm-slim
# Debian stable's point releases are the pin (bookworm); exact versions would break on each one.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates postgresql-client mariadb-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 lifeboat \
    && useradd --system --uid 10001 --gid lifeboat --home-dir /var/lib/lifeboat --shell /usr/sbin/nologin lifeboat \
    && install -d -m 0700 -o lifeboat -g lifeboat /var/lib/lifeboat
COPY --from=builder /out/lifeboatd /out/lifeboat /usr/local/bin/
USER 10001:10001
VOLUME ["/var/lib/lifeboat"]
EXPOSE 8081
ENV LIFEBOAT_LOG=info
ENTRYPOINT ["/usr/local/bin/lifeboatd"]
CMD ["--config", "/etc/lifeboat/lifeboat.toml", "--state", "/var/lib/lifeboat/lifeboatd.sqlite", "--listen", "0.0.0.0:8081", "--allow-plain-http", "--log-format", "json"]
