# shellcheck shell=bash
# Helpers shared by the server scripts (services.sh, s3-server.sh, webdav-server.sh): logging,
# the checkout's identity, free loopback ports, random secrets, a per-server state directory,
# waiting for a server and stopping a process. Each exists here once.
#
# Source it near the top of a script, after `set -euo pipefail`:
#   LOG_TAG=services                         # the prefix of log and error lines
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   DIR=...                                  # the state directory state_get/state_set use
# It defines ROOT (the checkout) and ROOT_HASH (a short stable hash of its path, so two
# checkouts on one machine get separate server directories).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC2034 # used by the scripts that source this file
ROOT_HASH="$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"

log() { printf '[%s] %s\n' "${LOG_TAG:-lifeboat}" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "${LOG_TAG:-lifeboat}" "$*" >&2; exit 1; }

# port_free PORT: true when nothing accepts connections on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: prints a random free loopback port in 20000-59999 (random, so parallel starts
# rarely pick the same one).
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        if port_free "$p"; then echo "$p"; return; fi
    done
    die "no free loopback port found"
}

# rand_hex BYTES: prints BYTES random bytes as hex (throwaway test credentials).
rand_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# state_get NAME: the content of $DIR/NAME, empty when absent.
state_get() { if [[ -f "$DIR/$1" ]]; then cat "$DIR/$1"; fi; }
# state_set NAME VALUE: writes $DIR/NAME, readable by its owner only (it may hold a password).
state_set() { (umask 077; printf "%s" "$2" >"$DIR/$1"); }

# wait_for SECONDS DESCRIPTION COMMAND...: runs COMMAND every 0.1 s until it succeeds; false
# when SECONDS pass first.
wait_for() {
    local secs="$1"; shift 2
    for _ in $(seq 1 $((secs * 10))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    return 1
}

# stop_pid PID [TENTHS]: SIGTERM, up to TENTHS tenths of a second (default 50) to exit, then
# SIGKILL. Does nothing when PID is empty or gone.
stop_pid() {
    local pid="$1" tenths="${2:-50}"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 "$tenths"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}
