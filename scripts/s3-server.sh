#!/usr/bin/env bash
# Start throwaway S3 servers on loopback for lifeboat-storage's tests and benchmarks.
#
#   scripts/s3-server.sh [start]   install what is missing, start the servers (idempotent)
#   scripts/s3-server.sh stop      stop them, remove their data directory and the env file
#   scripts/s3-server.sh status    print whether each server answers
#
# Servers:
#   s3s-fs 0.14.1  (cargo install s3s-fs --version 0.14.1 --locked --features binary): real SigV4,
#                  checksum validation, data on disk. The bulk of the suite runs against it.
#   moto_server    (pip install 'moto[server]'): versioning and object lock.
# Both listen on free loopback ports; their data lives in $LIFEBOAT_S3_DIR (default
# ${TMPDIR:-/tmp}/lifeboat-s3-<hash of the checkout>). The test credentials are random per data
# directory and are written, with the endpoints, to an env file that tests read by themselves
# (or that can be sourced):
#
#   $LIFEBOAT_TEST_S3_ENV (default <repo>/target/test-s3.env)
#     LIFEBOAT_TEST_S3_ENDPOINT    http://127.0.0.1:PORT  (s3s-fs)
#     LIFEBOAT_TEST_MOTO_ENDPOINT  http://127.0.0.1:PORT  (moto_server)
#     LIFEBOAT_TEST_S3S_BIN        path of s3s-fs (tests start private instances to kill mid-upload)
#     AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION   throwaway test credentials
set -euo pipefail

LOG_TAG=s3-server
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DIR="${LIFEBOAT_S3_DIR:-${TMPDIR:-/tmp}/lifeboat-s3-$ROOT_HASH}"
ENV_FILE="${LIFEBOAT_TEST_S3_ENV:-$ROOT/target/test-s3.env}"
S3S_VERSION=0.14.1

pid_alive() { local pid; pid="$(state_get "$1.pid")"; [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; }
http_up() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/" ; }
alive() { pid_alive "$1" && [[ -n "$(state_get "$1.port")" ]] && http_up "$(state_get "$1.port")"; }

s3s_bin() {
    local b; b="$(command -v s3s-fs 2>/dev/null || true)"
    [[ -z "$b" && -x "$HOME/.cargo/bin/s3s-fs" ]] && b="$HOME/.cargo/bin/s3s-fs"
    echo "$b"
}

install_missing() {
    command -v curl >/dev/null || { log "apt-get install curl"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >&2; }
    local b; b="$(s3s_bin)"
    if [[ -z "$b" ]] || ! "$b" --version 2>/dev/null | grep -q "$S3S_VERSION"; then
        log "cargo install s3s-fs $S3S_VERSION (takes a few minutes)"
        cargo install s3s-fs --version "$S3S_VERSION" --locked --features binary >&2 || die "cargo install s3s-fs failed"
    fi
    if ! command -v moto_server >/dev/null || ! python3 -c 'import moto.server, flask' 2>/dev/null; then
        log "pip install 'moto[server]'"
        python3 -m pip install -q 'moto[server]' >&2 || die "pip install moto[server] failed"
    fi
}

start_s3s() {
    if alive s3s; then log "s3s-fs already running on port $(state_get s3s.port)"; return; fi
    mkdir -p "$DIR/s3s-data"
    local port; port="$(free_port)"
    state_set s3s.port "$port"
    log "starting s3s-fs on 127.0.0.1:$port"
    setsid "$(s3s_bin)" --host 127.0.0.1 --port "$port" --access-key "$(state_get access_key)" \
        --secret-key "$(state_get secret_key)" "$DIR/s3s-data" >"$DIR/s3s.log" 2>&1 < /dev/null &
    state_set s3s.pid "$!"
    for _ in $(seq 1 100); do http_up "$port" && return 0; sleep 0.1; done
    tail -n 20 "$DIR/s3s.log" >&2; die "s3s-fs did not start"
}

start_moto() {
    if alive moto; then log "moto_server already running on port $(state_get moto.port)"; return; fi
    local port; port="$(free_port)"
    state_set moto.port "$port"
    log "starting moto_server on 127.0.0.1:$port"
    setsid moto_server -H 127.0.0.1 -p "$port" >"$DIR/moto.log" 2>&1 < /dev/null &
    state_set moto.pid "$!"
    for _ in $(seq 1 300); do http_up "$port" && return 0; sleep 0.1; done
    tail -n 20 "$DIR/moto.log" >&2; die "moto_server did not start"
}

write_env() {
    mkdir -p "$(dirname "$ENV_FILE")"
    (umask 077; cat >"$ENV_FILE" <<ENV
LIFEBOAT_TEST_S3_ENDPOINT=http://127.0.0.1:$(state_get s3s.port)
LIFEBOAT_TEST_MOTO_ENDPOINT=http://127.0.0.1:$(state_get moto.port)
LIFEBOAT_TEST_S3S_BIN=$(s3s_bin)
AWS_ACCESS_KEY_ID=$(state_get access_key)
AWS_SECRET_ACCESS_KEY=$(state_get secret_key)
AWS_REGION=us-east-1
ENV
    )
    log "wrote $ENV_FILE"
}

stop_one() { stop_pid "$(state_get "$1.pid")" 50; }

case "${1:-start}" in
    start)
        install_missing
        mkdir -p "$DIR"; chmod 700 "$DIR"
        [[ -n "$(state_get access_key)" ]] || state_set access_key "lifeboat-$(rand_hex 6)"
        [[ -n "$(state_get secret_key)" ]] || state_set secret_key "$(rand_hex 20)"
        start_s3s
        start_moto
        write_env
        ;;
    stop)
        stop_one s3s; stop_one moto
        rm -rf "$DIR" "$ENV_FILE"
        log "stopped"
        ;;
    status)
        rc=0
        for s in s3s moto; do
            if alive "$s"; then echo "$s: up on 127.0.0.1:$(state_get "$s.port")"; else echo "$s: down"; rc=1; fi
        done
        exit $rc
        ;;
    *) die "usage: $0 [start|stop|status]" ;;
esac
