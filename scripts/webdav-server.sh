#!/usr/bin/env bash
# Start a throwaway WebDAV server (rclone serve webdav) on loopback for lifeboat-storage's tests.
#
#   scripts/webdav-server.sh [start]   install rclone if missing (apt-get), start the server (idempotent)
#   scripts/webdav-server.sh stop      stop it, remove its data directory and the env file
#   scripts/webdav-server.sh status    print whether it answers
#
# Data lives in $LIFEBOAT_WEBDAV_DIR (default ${TMPDIR:-/tmp}/lifeboat-webdav-<hash of the checkout>).
# The server requires basic auth with a random password. Writes $LIFEBOAT_TEST_WEBDAV_ENV
# (default <repo>/target/test-webdav.env):
#     LIFEBOAT_TEST_WEBDAV_URL   webdav://lifeboat@127.0.0.1:PORT
#     LIFEBOAT_WEBDAV_PASSWORD   the throwaway password
set -euo pipefail

LOG_TAG=webdav-server
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DIR="${LIFEBOAT_WEBDAV_DIR:-${TMPDIR:-/tmp}/lifeboat-webdav-$ROOT_HASH}"
ENV_FILE="${LIFEBOAT_TEST_WEBDAV_ENV:-$ROOT/target/test-webdav.env}"

alive() {
    local pid port; pid="$(state_get pid)"; port="$(state_get port)"
    [[ -n "$pid" && -n "$port" ]] && kill -0 "$pid" 2>/dev/null \
        && curl -sf -o /dev/null --max-time 2 -u "lifeboat:$(state_get password)" -X PROPFIND -H 'Depth: 0' \
            "http://127.0.0.1:$port/"
}

install_missing() {
    local pkgs=()
    command -v rclone >/dev/null || pkgs+=(rclone)
    command -v curl >/dev/null || pkgs+=(curl)
    if [[ ${#pkgs[@]} -gt 0 ]]; then
        log "apt-get install ${pkgs[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${pkgs[@]}" >&2
    fi
}

case "${1:-start}" in
    start)
        install_missing
        mkdir -p "$DIR/data"; chmod 700 "$DIR"
        [[ -n "$(state_get password)" ]] || state_set password "$(rand_hex 16)"
        if alive; then
            log "rclone webdav already running on port $(state_get port)"
        else
            port="$(free_port)"; state_set port "$port"
            log "starting rclone serve webdav on 127.0.0.1:$port"
            # The password reaches rclone through its environment, not its argv.
            RCLONE_PASS="$(state_get password)" setsid rclone serve webdav "$DIR/data" --addr "127.0.0.1:$port" \
                --user lifeboat >"$DIR/rclone.log" 2>&1 < /dev/null &
            state_set pid "$!"
            ok=0; for _ in $(seq 1 100); do alive && { ok=1; break; }; sleep 0.1; done
            [[ $ok -eq 1 ]] || { tail -n 20 "$DIR/rclone.log" >&2; die "rclone serve webdav did not start"; }
        fi
        mkdir -p "$(dirname "$ENV_FILE")"
        (umask 077; printf 'LIFEBOAT_TEST_WEBDAV_URL=webdav://lifeboat@127.0.0.1:%s\nLIFEBOAT_WEBDAV_PASSWORD=%s\n' \
            "$(state_get port)" "$(state_get password)" >"$ENV_FILE")
        log "wrote $ENV_FILE"
        ;;
    stop)
        stop_pid "$(state_get pid)" 50
        rm -rf "$DIR" "$ENV_FILE"
        log "stopped"
        ;;
    status)
        if alive; then echo "webdav: up on 127.0.0.1:$(state_get port)"; else echo "webdav: down"; exit 1; fi
        ;;
    *) die "usage: $0 [start|stop|status]" ;;
esac
