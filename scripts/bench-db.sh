#!/usr/bin/env bash
# Database backup/restore benchmark: Lifeboat's pipeline against the plain tool pipelines.
#
#   scripts/bench-db.sh [postgres|mysql|all]     (default all)
#
# Baselines (real):
#   PostgreSQL  backup:  pg_dump -Fc -Z0 DB | zstd -3 -T0 > file
#               restore: zstd -d -c file | pg_restore -d NEWDB
#   MariaDB     backup:  mariadb-dump --single-transaction ... DB | zstd -3 -T0 > file
#               restore: zstd -d -c file | mariadb NEWDB
# on a `pgbench -i -s $SCALE` database (default scale 50, about 750 MB of tables) and a MariaDB
# table of the same shape (pgbench_accounts rows: 100000 * SCALE).
#
# Ours: `lifeboat backup postgres|mysql --url ... --repo file://...` and `lifeboat restore ID
# --repo ... --to URL --create`, run when the `lifeboat` binary ($LIFEBOAT_BIN, default
# target/release/lifeboat) has those subcommands; otherwise reported as not measured.
# Target: ours / baseline throughput >= 0.9 (time_baseline / time_ours >= 0.9).
# Results: bench-out/db-bench.txt (and printed). Not a test: nothing here asserts timings.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${BENCH_OUT:-$ROOT/bench-out}"
SCALE="${SCALE:-50}"
WHAT="${1:-all}"
LIFEBOAT_BIN="${LIFEBOAT_BIN:-$ROOT/target/release/lifeboat}"
ENV_FILE="${LIFEBOAT_TEST_ENV:-$ROOT/target/test-services.env}"
mkdir -p "$OUT"
REPORT="$OUT/db-bench.txt"

"$ROOT/scripts/services.sh" start
# shellcheck disable=SC1090
source "$ENV_FILE"
command -v zstd >/dev/null || { echo "zstd missing (apt-get install zstd)" >&2; exit 1; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
ratio() { awk -v base="$1" -v ours="$2" 'BEGIN { if (ours > 0) printf "%.2f", base / ours; else print "n/a" }'; }
say() { echo "$*" | tee -a "$REPORT"; }

url_part() { # url_part URL user|password|host|port
    python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print({"user": p.username, "password": u.unquote(p.password or ""), "host": p.hostname, "port": p.port}[sys.argv[2]])' "$1" "$2"
}

have_cli() { [[ -x "$LIFEBOAT_BIN" ]] && "$LIFEBOAT_BIN" backup "$1" --help >/dev/null 2>&1; }

: >"$REPORT"
say "# Lifeboat database benchmark $(date -u +%FT%TZ), scale $SCALE, $(nproc) cores"

bench_postgres() {
    local url="$LIFEBOAT_TEST_PG_URL"
    export PGHOST PGPORT PGUSER PGPASSWORD
    PGHOST="$(url_part "$url" host)"; PGPORT="$(url_part "$url" port)"
    PGUSER="$(url_part "$url" user)"; PGPASSWORD="$(url_part "$url" password)"
    local db=lifeboat_bench rows
    rows="$(psql -X -tAc "SELECT count(*) FROM pgbench_accounts" -d "$db" 2>/dev/null || echo 0)"
    if [[ "$rows" != "$((SCALE * 100000))" ]]; then
        say "preparing pgbench -i -s $SCALE ..."
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
        pgbench -i -q -s "$SCALE" "$db" >/dev/null 2>&1
    fi
    local size; size="$(psql -X -tAc "SELECT pg_size_pretty(pg_database_size('$db'))" -d postgres)"
    say "postgres: database $db, $size"

    local file="$OUT/pg.dump.zst" t0 t1 base_b base_r
    t0="$(now)"; pg_dump -Fc -Z0 -d "$db" | zstd -q -3 -T0 -f -o "$file"; t1="$(now)"
    base_b="$(elapsed "$t0" "$t1")"
    say "postgres baseline backup  (pg_dump -Fc -Z0 | zstd -3 -T0): ${base_b}s, $(stat -c %s "$file") bytes"
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS ${db}_restored WITH (FORCE)" -c "CREATE DATABASE ${db}_restored"
    t0="$(now)"; zstd -q -d -c "$file" | pg_restore -d "${db}_restored"; t1="$(now)"
    base_r="$(elapsed "$t0" "$t1")"
    say "postgres baseline restore (zstd -d | pg_restore):         ${base_r}s"

    if have_cli postgres; then
        local repo="$OUT/repo-pg" ours_b ours_r id
        rm -rf "$repo"
        "$LIFEBOAT_BIN" init --repo "file://$repo" >/dev/null
        t0="$(now)"
        id="$("$LIFEBOAT_BIN" backup postgres --url "$url" --repo "file://$repo" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
        t1="$(now)"; ours_b="$(elapsed "$t0" "$t1")"
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS ${db}_ours WITH (FORCE)"
        t0="$(now)"
        "$LIFEBOAT_BIN" restore "$id" --repo "file://$repo" --to "${url%/*}/${db}_ours" --create >/dev/null
        t1="$(now)"; ours_r="$(elapsed "$t0" "$t1")"
        say "postgres ours backup  ${ours_b}s  ratio(baseline/ours) $(ratio "$base_b" "$ours_b")  target >= 0.9"
        say "postgres ours restore ${ours_r}s  ratio(baseline/ours) $(ratio "$base_r" "$ours_r")  target >= 0.9"
    else
        say "postgres ours: not measured ($LIFEBOAT_BIN has no 'backup postgres' yet)"
    fi
}

bench_mysql() {
    local url="$LIFEBOAT_TEST_MYSQL_URL"
    local cnf="$OUT/.my.cnf"
    (umask 077; printf '[client]\nhost=%s\nport=%s\nuser=%s\npassword="%s"\n' "$(url_part "$url" host)" \
        "$(url_part "$url" port)" "$(url_part "$url" user)" "$(url_part "$url" password)" >"$cnf")
    local my=(mariadb "--defaults-extra-file=$cnf")
    local db=lifeboat_bench rows
    rows="$("${my[@]}" -N -e "SELECT COUNT(*) FROM $db.accounts" 2>/dev/null || echo 0)"
    if [[ "$rows" != "$((SCALE * 100000))" ]]; then
        say "preparing $db.accounts with $((SCALE * 100000)) rows ..."
        "${my[@]}" -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db;
            CREATE TABLE $db.accounts (aid INT PRIMARY KEY, bid INT NOT NULL, abalance INT NOT NULL, filler CHAR(84)) ENGINE=InnoDB;
            USE $db; INSERT INTO accounts SELECT seq, 1 + seq DIV 100000, 0, '' FROM seq_1_to_$((SCALE * 100000));"
    fi
    say "mysql: database $db, $((SCALE * 100000)) rows"
    local file="$OUT/my.sql.zst" t0 t1 base_b base_r
    t0="$(now)"
    mariadb-dump "--defaults-extra-file=$cnf" --single-transaction --routines --triggers --events --hex-blob "$db" \
        | zstd -q -3 -T0 -f -o "$file"
    t1="$(now)"; base_b="$(elapsed "$t0" "$t1")"
    say "mysql baseline backup  (mariadb-dump | zstd -3 -T0): ${base_b}s, $(stat -c %s "$file") bytes"
    "${my[@]}" -e "DROP DATABASE IF EXISTS ${db}_restored; CREATE DATABASE ${db}_restored"
    t0="$(now)"; zstd -q -d -c "$file" | "${my[@]}" "${db}_restored"; t1="$(now)"
    base_r="$(elapsed "$t0" "$t1")"
    say "mysql baseline restore (zstd -d | mariadb):          ${base_r}s"

    if have_cli mysql; then
        local repo="$OUT/repo-my" ours_b ours_r id
        rm -rf "$repo"
        "$LIFEBOAT_BIN" init --repo "file://$repo" >/dev/null
        t0="$(now)"
        id="$("$LIFEBOAT_BIN" backup mysql --url "${url%/}/$db" --repo "file://$repo" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
        t1="$(now)"; ours_b="$(elapsed "$t0" "$t1")"
        "${my[@]}" -e "DROP DATABASE IF EXISTS ${db}_ours"
        t0="$(now)"
        "$LIFEBOAT_BIN" restore "$id" --repo "file://$repo" --to "${url%/}/${db}_ours" --create >/dev/null
        t1="$(now)"; ours_r="$(elapsed "$t0" "$t1")"
        say "mysql ours backup  ${ours_b}s  ratio(baseline/ours) $(ratio "$base_b" "$ours_b")  target >= 0.9"
        say "mysql ours restore ${ours_r}s  ratio(baseline/ours) $(ratio "$base_r" "$ours_r")  target >= 0.9"
    else
        say "mysql ours: not measured ($LIFEBOAT_BIN has no 'backup mysql' yet)"
    fi
    rm -f "$cnf"
}

case "$WHAT" in
    postgres) bench_postgres ;;
    mysql) bench_mysql ;;
    all) bench_postgres; bench_mysql ;;
    *) echo "usage: $0 [postgres|mysql|all]" >&2; exit 2 ;;
esac
say "report: $REPORT"
