#!/usr/bin/env bash
# Start throwaway PostgreSQL, MariaDB and Redis servers for Lifeboat's tests (and install
# Prometheus and wrk, which lifeboatd's tests and scripts/bench-api.sh start themselves).
#
#   scripts/services.sh [start]   install missing Debian packages, start the servers (idempotent)
#   scripts/services.sh stop      stop the servers and remove their data directory and env file
#   scripts/services.sh status    print whether each server answers
#
# Every server listens on a free loopback port inside one temporary directory
# ($LIFEBOAT_SERVICES_DIR, default ${TMPDIR:-/tmp}/lifeboat-services-<hash of the checkout>).
# Each has a test user with a random password. The connection URLs (passwords included: they
# are throwaway test credentials) are written to an env file that can be sourced:
#
#   $LIFEBOAT_TEST_ENV (default <repo>/target/test-services.env)
#     LIFEBOAT_TEST_PG_URL      postgres://lifeboat:PASS@127.0.0.1:PORT/postgres   (superuser)
#     LIFEBOAT_TEST_MYSQL_URL   mysql://lifeboat:PASS@127.0.0.1:PORT/              (ALL PRIVILEGES)
#     LIFEBOAT_TEST_REDIS_URL   redis://:PASS@127.0.0.1:PORT/0                     (requirepass)
#     LIFEBOAT_TEST_PG_BINDIR   the PostgreSQL server binaries (initdb, pg_ctl, pgbench ...)
#     LIFEBOAT_TEST_REDIS_SERVER  path of redis-server (tests start private instances to kill)
#     LIFEBOAT_TEST_PROMETHEUS    path of prometheus (lifeboatd's tests start a private one)
#     LIFEBOAT_TEST_PROMTOOL      path of promtool (checks the metrics exposition)
#     LIFEBOAT_TEST_CHROMIUM      path of chromium (the dashboard's headless browser test)
#     LIFEBOAT_TEST_CHROMEDRIVER  path of chromedriver (its WebDriver server)
#
# Running it again while the servers answer only rewrites nothing and exits 0 quickly.
# Set LIFEBOAT_SERVICES="postgres mariadb" (space-separated) to start only some of them.
set -euo pipefail

LOG_TAG=services
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DIR="${LIFEBOAT_SERVICES_DIR:-${TMPDIR:-/tmp}/lifeboat-services-$ROOT_HASH}"
ENV_FILE="${LIFEBOAT_TEST_ENV:-$ROOT/target/test-services.env}"
WANT="${LIFEBOAT_SERVICES:-postgres mariadb redis}"

wants() { [[ " $WANT " == *" $1 "* ]]; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else
        die "need root to run: $*"; fi
}

# Run a command as a dedicated system user when we are root (postgres and mariadbd refuse root).
as_user() {
    local user="$1"; shift
    if [[ $(id -u) -eq 0 ]]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

pg_bindir() {
    local d
    # shellcheck disable=SC2012 # version directories have plain names; ls | sort -V picks the newest
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
    if [[ -n "$d" && -x "$d/initdb" ]]; then echo "$d"; return; fi
    d="$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")"
    [[ -x "$d/initdb" ]] && echo "$d"
}

APT_UPDATED=0
apt_install() {
    [[ $# -eq 0 ]] && return 0
    command -v apt-get >/dev/null || die "missing packages ($*) and no apt-get to install them"
    export DEBIAN_FRONTEND=noninteractive
    if [[ $APT_UPDATED -eq 0 ]]; then
        log "apt-get update"
        as_root apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    # policy-rc.d on containers prevents the packages from starting their own daemons; on a full
    # system they may start one on the default port, which does not disturb ours.
    as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >&2
}

install_missing() {
    local pkgs=()
    if wants postgres; then
        [[ -n "$(pg_bindir)" ]] || pkgs+=(postgresql)
        command -v pg_dump >/dev/null && command -v pg_restore >/dev/null && command -v psql >/dev/null \
            || pkgs+=(postgresql-client)
    fi
    if wants mariadb; then
        command -v mariadbd >/dev/null || [[ -x /usr/sbin/mariadbd ]] || pkgs+=(mariadb-server)
        command -v mariadb-dump >/dev/null && command -v mariadb >/dev/null || pkgs+=(mariadb-client)
    fi
    if wants redis; then
        command -v redis-server >/dev/null || pkgs+=(redis-server)
        command -v redis-cli >/dev/null || pkgs+=(redis-tools)
    fi
    # Prometheus (a real server scrapes lifeboatd in its tests; promtool checks the exposition)
    # and wrk (scripts/bench-api.sh's load generator).
    command -v prometheus >/dev/null && command -v promtool >/dev/null || pkgs+=(prometheus)
    command -v wrk >/dev/null || pkgs+=(wrk)
    # Headless Chromium and its WebDriver (the dashboard's browser test, crates/http/tests/it/dashboard.rs).
    command -v chromium >/dev/null || pkgs+=(chromium)
    command -v chromedriver >/dev/null || pkgs+=(chromium-driver)
    apt_install "${pkgs[@]}"
    # zstd is used by the benchmarks and handy for manual restores; tiny.
    command -v zstd >/dev/null || apt_install zstd || true
}

rand_pw() { rand_hex 18; }

pg_alive() {
    local port; port="$(state_get pg.port)"; [[ -n "$port" ]] || return 1
    PGPASSWORD="$(state_get pg.password)" psql -X -q -h 127.0.0.1 -p "$port" -U lifeboat -d postgres \
        -tAc 'select 1' >/dev/null 2>&1
}
mariadb_alive() {
    local port; port="$(state_get mariadb.port)"; [[ -n "$port" ]] || return 1
    MYSQL_PWD="$(state_get mariadb.password)" mariadb --no-defaults -h 127.0.0.1 -P "$port" -u lifeboat \
        -e 'select 1' >/dev/null 2>&1
}
redis_alive() {
    local port; port="$(state_get redis.port)"; [[ -n "$port" ]] || return 1
    [[ "$(REDISCLI_AUTH="$(state_get redis.password)" redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == PONG ]]
}

# ---------- PostgreSQL ----------
start_postgres() {
    if pg_alive; then log "postgres already running on port $(state_get pg.port)"; return; fi
    local bindir; bindir="$(pg_bindir)"; [[ -n "$bindir" ]] || die "PostgreSQL server binaries not found"
    local pgdir="$DIR/pg" port pw
    local runas=postgres
    [[ $(id -u) -eq 0 ]] || runas="$(id -un)"
    if [[ -d "$pgdir/data" && -f "$DIR/pg.port" ]]; then
        port="$(state_get pg.port)"; pw="$(state_get pg.password)"
        port_free "$port" || port="$(free_port)"
    else
        rm -rf "$pgdir"; mkdir -p "$pgdir"
        port="$(free_port)"; pw="$(rand_pw)"
        [[ $(id -u) -eq 0 ]] && chown -R "$runas" "$pgdir"
        printf '%s\n' "$pw" >"$pgdir/pwfile"; chmod 600 "$pgdir/pwfile"
        [[ $(id -u) -eq 0 ]] && chown "$runas" "$pgdir/pwfile"
        log "initdb (PostgreSQL $("$bindir/postgres" --version | awk '{print $3}'))"
        as_user "$runas" "$bindir/initdb" -D "$pgdir/data" -U lifeboat --pwfile="$pgdir/pwfile" \
            --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 --no-sync >"$pgdir/initdb.log" 2>&1 \
            || { cat "$pgdir/initdb.log" >&2; die "initdb failed"; }
        rm -f "$pgdir/pwfile"
        cat >>"$pgdir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$pgdir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
wal_level = replica
EOF
        state_set pg.password "$pw"
    fi
    state_set pg.port "$port"
    log "starting postgres on 127.0.0.1:$port"
    as_user "$runas" "$bindir/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -o "-p $port" -w -t 60 start >&2 \
        || { tail -n 30 "$pgdir/server.log" >&2; die "postgres did not start"; }
    wait_for 30 postgres pg_alive || { tail -n 30 "$pgdir/server.log" >&2; die "postgres does not accept the test user"; }
}

stop_postgres() {
    local bindir; bindir="$(pg_bindir)"
    if [[ -n "$bindir" && -f "$DIR/pg/data/postmaster.pid" ]]; then
        local runas=postgres; [[ $(id -u) -eq 0 ]] || runas="$(id -un)"
        as_user "$runas" "$bindir/pg_ctl" -D "$DIR/pg/data" -m immediate -w stop >&2 || true
    fi
}

# ---------- MariaDB ----------
mariadbd_bin() { command -v mariadbd 2>/dev/null || echo /usr/sbin/mariadbd; }
start_mariadb() {
    if mariadb_alive; then log "mariadb already running on port $(state_get mariadb.port)"; return; fi
    local mdir="$DIR/mariadb" port pw runas=mysql fresh=0
    [[ $(id -u) -eq 0 ]] || runas="$(id -un)"
    if [[ -d "$mdir/data/mysql" && -f "$DIR/mariadb.port" ]]; then
        port="$(state_get mariadb.port)"; pw="$(state_get mariadb.password)"
        port_free "$port" || port="$(free_port)"
    else
        rm -rf "$mdir"; mkdir -p "$mdir/data" "$mdir/binlog"
        [[ $(id -u) -eq 0 ]] && chown -R "$runas" "$mdir"
        port="$(free_port)"; pw="$(rand_pw)"; fresh=1
        log "mariadb-install-db"
        as_user "$runas" mariadb-install-db --no-defaults --datadir="$mdir/data" --auth-root-authentication-method=socket \
            --skip-test-db >"$mdir/install.log" 2>&1 || { cat "$mdir/install.log" >&2; die "mariadb-install-db failed"; }
        state_set mariadb.password "$pw"
    fi
    state_set mariadb.port "$port"
    log "starting mariadbd on 127.0.0.1:$port"
    local userarg=(); [[ $(id -u) -eq 0 ]] && userarg=(--user="$runas")
    # setsid: the server outlives this script; output goes to its own log.
    setsid "$(mariadbd_bin)" --no-defaults "${userarg[@]}" --datadir="$mdir/data" --socket="$mdir/mysqld.sock" \
        --port="$port" --bind-address=127.0.0.1 --pid-file="$mdir/mariadbd.pid" --log-error="$mdir/error.log" \
        --skip-name-resolve --log-bin="$mdir/binlog/mariadb-bin" --server-id=1 --binlog-format=ROW \
        --max-allowed-packet=1G --innodb-buffer-pool-size=256M --innodb-flush-log-at-trx-commit=0 \
        --innodb-doublewrite=0 --sync-binlog=0 --event-scheduler=OFF --character-set-server=utf8mb4 \
        --collation-server=utf8mb4_unicode_ci </dev/null >/dev/null 2>&1 &
    wait_for 60 mariadb mariadb-admin --no-defaults --socket="$mdir/mysqld.sock" ping \
        || { tail -n 30 "$mdir/error.log" >&2; die "mariadbd did not start"; }
    if [[ $fresh -eq 1 ]]; then
        # root authenticates through the unix socket as the OS root user (or the installing user).
        local rootuser=root; [[ $(id -u) -eq 0 ]] || rootuser="$(id -un)"
        mariadb --no-defaults --socket="$mdir/mysqld.sock" -u "$rootuser" <<EOF || die "creating the mariadb test user failed"
CREATE USER 'lifeboat'@'%' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO 'lifeboat'@'%' WITH GRANT OPTION;
CREATE USER 'lifeboat'@'localhost' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO 'lifeboat'@'localhost' WITH GRANT OPTION;
FLUSH PRIVILEGES;
EOF
    fi
    wait_for 30 mariadb mariadb_alive || die "mariadb does not accept the test user"
}

stop_mariadb() {
    local pidf="$DIR/mariadb/mariadbd.pid"
    if [[ -f "$pidf" ]]; then stop_pid "$(cat "$pidf")" 100; fi
}

# ---------- Redis ----------
start_redis() {
    if redis_alive; then log "redis already running on port $(state_get redis.port)"; return; fi
    local rdir="$DIR/redis" port pw
    mkdir -p "$rdir"
    pw="$(state_get redis.password)"; [[ -n "$pw" ]] || pw="$(rand_pw)"
    port="$(free_port)"
    state_set redis.password "$pw"; state_set redis.port "$port"
    printf 'requirepass %s\n' "$pw" >"$rdir/redis.conf"; chmod 600 "$rdir/redis.conf"
    log "starting redis-server on 127.0.0.1:$port"
    redis-server "$rdir/redis.conf" --port "$port" --bind 127.0.0.1 --dir "$rdir" --daemonize yes \
        --pidfile "$rdir/redis.pid" --logfile "$rdir/redis.log" --save '' --appendonly no >&2 \
        || die "redis-server did not start"
    wait_for 30 redis redis_alive || { tail -n 20 "$rdir/redis.log" >&2; die "redis does not answer"; }
}

stop_redis() {
    local pidf="$DIR/redis/redis.pid"
    if [[ -f "$pidf" ]]; then stop_pid "$(cat "$pidf")" 50; fi
}

write_env() {
    mkdir -p "$(dirname "$ENV_FILE")"
    local tmp="$ENV_FILE.tmp.$$"
    {
        echo "# written by scripts/services.sh; throwaway test credentials"
        echo "export LIFEBOAT_SERVICES_DIR='$DIR'"
        if wants postgres; then
            echo "export LIFEBOAT_TEST_PG_URL='postgres://lifeboat:$(state_get pg.password)@127.0.0.1:$(state_get pg.port)/postgres'"
            echo "export LIFEBOAT_TEST_PG_BINDIR='$(pg_bindir)'"
        fi
        if wants mariadb; then
            echo "export LIFEBOAT_TEST_MYSQL_URL='mysql://lifeboat:$(state_get mariadb.password)@127.0.0.1:$(state_get mariadb.port)/'"
        fi
        if wants redis; then
            echo "export LIFEBOAT_TEST_REDIS_URL='redis://:$(state_get redis.password)@127.0.0.1:$(state_get redis.port)/0'"
            echo "export LIFEBOAT_TEST_REDIS_SERVER='$(command -v redis-server)'"
        fi
        echo "export LIFEBOAT_TEST_PROMETHEUS='$(command -v prometheus)'"
        echo "export LIFEBOAT_TEST_PROMTOOL='$(command -v promtool)'"
        echo "export LIFEBOAT_TEST_CHROMIUM='$(command -v chromium)'"
        echo "export LIFEBOAT_TEST_CHROMEDRIVER='$(command -v chromedriver)'"
    } >"$tmp"
    chmod 600 "$tmp"; mv "$tmp" "$ENV_FILE"
}

cmd_start() {
    install_missing
    mkdir -p "$DIR"; chmod 755 "$DIR"
    wants postgres && start_postgres
    wants mariadb && start_mariadb
    wants redis && start_redis
    write_env
    # The SMTP server and webhook/Slack receiver of the notification tests (their own env file,
    # target/test-notify.env); skipped when LIFEBOAT_SERVICES is set without "notify".
    if [[ -z "${LIFEBOAT_SERVICES:-}" ]] || wants notify; then bash "$ROOT/scripts/notify-servers.sh" start; fi
    log "ready; env file: $ENV_FILE"
}

cmd_stop() {
    stop_postgres; stop_mariadb; stop_redis
    bash "$ROOT/scripts/notify-servers.sh" stop
    rm -rf "$DIR"; rm -f "$ENV_FILE"
    log "stopped"
}

cmd_status() {
    local rc=0
    if pg_alive; then echo "postgres: up on $(state_get pg.port)"; else echo "postgres: down"; rc=1; fi
    if mariadb_alive; then echo "mariadb: up on $(state_get mariadb.port)"; else echo "mariadb: down"; rc=1; fi
    if redis_alive; then echo "redis: up on $(state_get redis.port)"; else echo "redis: down"; rc=1; fi
    return $rc
}

case "${1:-start}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) die "usage: $0 [start|stop|status]" ;;
esac
