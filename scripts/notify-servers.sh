#!/usr/bin/env bash
# Start the throwaway notification servers for lifeboat-notify's and lifeboatd's tests.
#
#   scripts/notify-servers.sh [start]   install what is missing, start them (idempotent)
#   scripts/notify-servers.sh stop      stop them, remove their data directory and the env file
#   scripts/notify-servers.sh status    print whether each server answers
#
# Servers (all on free loopback ports, data in $LIFEBOAT_NOTIFY_DIR, default
# ${TMPDIR:-/tmp}/lifeboat-notify-<hash of the checkout>):
#   scripts/smtp-server.py  aiosmtpd (Debian's python3-aiosmtpd): a STARTTLS listener and an
#                           implicit-TLS listener, AUTH required, a self-signed certificate made
#                           here with openssl (CN and SAN localhost + 127.0.0.1); every message
#                           is appended as a JSON line to the spool file
#   scripts/receiver.py     an HTTP receiver for webhook (HMAC checked) and Slack payloads
#
# The env file (throwaway test credentials, so they may be written out):
#   $LIFEBOAT_TEST_NOTIFY_ENV (default <repo>/target/test-notify.env)
#     LIFEBOAT_TEST_SMTP_HOST           localhost (the name in the certificate)
#     LIFEBOAT_TEST_SMTP_STARTTLS_PORT  the STARTTLS listener
#     LIFEBOAT_TEST_SMTP_TLS_PORT       the implicit-TLS listener
#     LIFEBOAT_TEST_SMTP_USER / LIFEBOAT_TEST_SMTP_PASSWORD
#     LIFEBOAT_TEST_SMTP_CA             the certificate (PEM) to trust
#     LIFEBOAT_TEST_SMTP_SPOOL          the JSON-lines file of received messages
#     LIFEBOAT_TEST_RECEIVER_URL        http://127.0.0.1:PORT (POST /webhook/..., /slack/...,
#                                       GET /received?prefix=)
#     LIFEBOAT_TEST_WEBHOOK_SECRET      the HMAC secret the receiver checks
set -euo pipefail

LOG_TAG=notify-servers
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DIR="${LIFEBOAT_NOTIFY_DIR:-${TMPDIR:-/tmp}/lifeboat-notify-$ROOT_HASH}"
ENV_FILE="${LIFEBOAT_TEST_NOTIFY_ENV:-$ROOT/target/test-notify.env}"

# The python that has aiosmtpd: Debian's package installs into /usr/bin/python3, which is not
# the first python3 on PATH when pyenv or a venv is active.
smtp_python() {
    local py
    for py in python3 /usr/bin/python3; do
        if "$py" -c 'import aiosmtpd' 2>/dev/null; then command -v "$py"; return; fi
    done
}

install_missing() {
    local pkgs=()
    [[ -n "$(smtp_python)" ]] || pkgs+=(python3-aiosmtpd)
    command -v openssl >/dev/null || pkgs+=(openssl)
    command -v curl >/dev/null || pkgs+=(curl)
    [[ ${#pkgs[@]} -eq 0 ]] && return 0
    log "apt-get install ${pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${pkgs[@]}" >&2 \
        || die "apt-get install ${pkgs[*]} failed"
}

pid_alive() { local pid; pid="$(state_get "$1.pid")"; [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; }
smtp_up() { port_free "$(state_get smtp.starttls_port)" && return 1; ! port_free "$(state_get smtp.tls_port)"; }
receiver_up() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$(state_get receiver.port)/received"; }
smtp_alive() { pid_alive smtp && smtp_up; }
receiver_alive() { pid_alive receiver && receiver_up; }

make_cert() {
    [[ -f "$DIR/cert.pem" && -f "$DIR/key.pem" ]] && return 0
    log "openssl: a self-signed certificate for localhost"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -addext "basicConstraints=critical,CA:FALSE" \
        -keyout "$DIR/key.pem" -out "$DIR/cert.pem" 2>/dev/null || die "openssl could not make a certificate"
    chmod 600 "$DIR/key.pem"
}

# in_use LOG: the server in LOG could not bind its port. free_port only checks that nothing
# answers there at that moment, so another process may take the port before the server
# binds it (seen on a busy CI machine): then a new port is picked and the start retried.
in_use() { grep -q "Address already in use" "$1" 2>/dev/null; }

start_smtp() {
    if smtp_alive; then log "smtp-server already running"; return; fi
    touch "$DIR/spool.jsonl"
    for attempt in 1 2 3 4 5; do
        state_set smtp.starttls_port "$(free_port)"
        state_set smtp.tls_port "$(free_port)"
        log "starting smtp-server (STARTTLS $(state_get smtp.starttls_port), TLS $(state_get smtp.tls_port))"
        setsid "$(smtp_python)" "$ROOT/scripts/smtp-server.py" --starttls-port "$(state_get smtp.starttls_port)" \
            --tls-port "$(state_get smtp.tls_port)" --cert "$DIR/cert.pem" --key "$DIR/key.pem" \
            --user "$(state_get smtp.user)" --password-file "$DIR/smtp.password" --spool "$DIR/spool.jsonl" \
            >"$DIR/smtp.log" 2>&1 </dev/null &
        state_set smtp.pid "$!"
        if wait_for 15 smtp smtp_up; then return; fi
        stop_pid "$(state_get smtp.pid)" 20
        in_use "$DIR/smtp.log" || break
        log "smtp-server: a port was taken before it could bind it (attempt $attempt); another port"
    done
    tail -n 20 "$DIR/smtp.log" >&2
    die "smtp-server did not start"
}

start_receiver() {
    if receiver_alive; then log "receiver already running on port $(state_get receiver.port)"; return; fi
    for attempt in 1 2 3 4 5; do
        state_set receiver.port "$(free_port)"
        log "starting receiver on 127.0.0.1:$(state_get receiver.port)"
        setsid python3 "$ROOT/scripts/receiver.py" --port "$(state_get receiver.port)" \
            --secret-file "$DIR/webhook.secret" >"$DIR/receiver.log" 2>&1 </dev/null &
        state_set receiver.pid "$!"
        if wait_for 15 receiver receiver_up; then return; fi
        stop_pid "$(state_get receiver.pid)" 20
        in_use "$DIR/receiver.log" || break
        log "receiver: port $(state_get receiver.port) was taken before it could bind it (attempt $attempt); another port"
    done
    tail -n 20 "$DIR/receiver.log" >&2
    die "receiver did not start"
}

write_env() {
    mkdir -p "$(dirname "$ENV_FILE")"
    (umask 077; cat >"$ENV_FILE" <<ENV
LIFEBOAT_TEST_SMTP_HOST=localhost
LIFEBOAT_TEST_SMTP_STARTTLS_PORT=$(state_get smtp.starttls_port)
LIFEBOAT_TEST_SMTP_TLS_PORT=$(state_get smtp.tls_port)
LIFEBOAT_TEST_SMTP_USER=$(state_get smtp.user)
LIFEBOAT_TEST_SMTP_PASSWORD=$(cat "$DIR/smtp.password")
LIFEBOAT_TEST_SMTP_CA=$DIR/cert.pem
LIFEBOAT_TEST_SMTP_SPOOL=$DIR/spool.jsonl
LIFEBOAT_TEST_RECEIVER_URL=http://127.0.0.1:$(state_get receiver.port)
LIFEBOAT_TEST_WEBHOOK_SECRET=$(cat "$DIR/webhook.secret")
ENV
    )
    log "wrote $ENV_FILE"
}

case "${1:-start}" in
    start)
        install_missing
        mkdir -p "$DIR"; chmod 700 "$DIR"
        [[ -n "$(state_get smtp.user)" ]] || state_set smtp.user "lifeboat-$(rand_hex 4)"
        [[ -f "$DIR/smtp.password" ]] || state_set smtp.password "$(rand_hex 12)"
        [[ -f "$DIR/webhook.secret" ]] || state_set webhook.secret "$(rand_hex 20)"
        make_cert
        start_smtp
        start_receiver
        write_env
        ;;
    stop)
        stop_pid "$(state_get smtp.pid)" 50; stop_pid "$(state_get receiver.pid)" 50
        rm -rf "$DIR" "$ENV_FILE"
        log "stopped"
        ;;
    status)
        rc=0
        if smtp_alive; then echo "smtp: up (STARTTLS 127.0.0.1:$(state_get smtp.starttls_port), TLS 127.0.0.1:$(state_get smtp.tls_port))"; else echo "smtp: down"; rc=1; fi
        if receiver_alive; then echo "receiver: up on 127.0.0.1:$(state_get receiver.port)"; else echo "receiver: down"; rc=1; fi
        exit $rc
        ;;
    *) die "usage: $0 [start|stop|status]" ;;
esac
