#!/usr/bin/env bash
# Database backup/restore benchmark: Lifeboat's pipeline against the plain tool pipelines.
#
#   scripts/bench-db.sh [postgres|mysql|all|v3]  (default all)
#
# `v3`: dedup of repeated PostgreSQL dumps in a format 3 repository (`init --format 3`):
# three `lifeboat backup postgres` of the pgbench database in a row, the second right after
# the first, the third after V3_TX pgbench transactions (a mostly unchanged database, as
# between two hourly dumps); prints what each adds to the repository (bytes_new and the
# growth of packs/ and index/) against the dump size. Target: the second and third add < 5%.
# Each pgbench transaction updates one random account row, which moves that row in the
# table's heap and so changes the chunks at its old place and at the table's end: the
# third figure grows with V3_TX (default 10).
#
# Environment:
#   SCALE=50          pgbench scale (100000 * SCALE rows in pgbench_accounts; 50 is about 750 MB
#                     of tables); MariaDB gets a table of the same shape and row count
#   RUNS=1            repetitions of every measurement (baseline and ours alternate within a
#                     run); the best (shortest) time of each is reported
#   LIFEBOAT_BIN      the lifeboat binary (default target/release/lifeboat; build it with
#                     `cargo build --release -p lifeboat-cli`)
#   BENCH_OUT         output directory (default bench-out/)
#   LIFEBOAT_BENCH_KDF_MIB  Argon2id memory of the benchmark repository (default 64 = the
#                     product default; at least 19, the floor lifeboat accepts); every
#                     `lifeboat` run pays one key derivation to open it
#
# Baselines (real):
#   PostgreSQL  backup:  pg_dump -Fc -Z0 -d DB | zstd -3 -T0 > file
#               restore: zstd -d -c file | pg_restore -d NEWDB   (NEWDB created first)
#   MariaDB     backup:  mariadb-dump --single-transaction --quick --hex-blob --routines --triggers
#                          --events --master-data=2 --gtid ... DB | zstd -3 -T0 > file
#                        (the options lifeboat passes)
#               restore: zstd -d -c file | mariadb NEWDB           (NEWDB created first)
# Ours (the real CLI; repository on the same disk, zstd level 3, encrypted, default segments):
#   backup:  lifeboat --repo file://REPO backup postgres|mysql --url URL/DB --json
#   restore: lifeboat --repo file://REPO restore ID --to URL/NEWDB --create
# Both restores are checked (row count of the big table) after each run.
# Target: ours / baseline throughput >= 0.9 (time_baseline / time_ours >= 0.9).
# Results: $BENCH_OUT/db-bench.txt (and printed). Not a test: nothing here asserts timings.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${BENCH_OUT:-$ROOT/bench-out}"
SCALE="${SCALE:-50}"
RUNS="${RUNS:-1}"
WHAT="${1:-all}"
LIFEBOAT_BIN="${LIFEBOAT_BIN:-$ROOT/target/release/lifeboat}"
ENV_FILE="${LIFEBOAT_TEST_ENV:-$ROOT/target/test-services.env}"
KDF_MIB="${LIFEBOAT_BENCH_KDF_MIB:-64}"
mkdir -p "$OUT"
REPORT="$OUT/db-bench.txt"

"$ROOT/scripts/services.sh" start
# shellcheck disable=SC1090
source "$ENV_FILE"
command -v zstd >/dev/null || { echo "zstd missing (apt-get install zstd)" >&2; exit 1; }

# The benchmark repository's password (throwaway).
export LIFEBOAT_PASSWORD="lifeboat benchmark repository"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
ratio() { awk -v base="$1" -v ours="$2" 'BEGIN { if (ours > 0) printf "%.2f", base / ours; else print "n/a" }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 < a + 0) print b; else print a }'; }
mib_s() { awk -v bytes="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f MiB/s", bytes / 1048576 / s; else print "n/a" }'; }
say() { echo "$*" | tee -a "$REPORT"; }

url_part() { # url_part URL user|password|host|port
    python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print({"user": p.username, "password": u.unquote(p.password or ""), "host": p.hostname, "port": p.port}[sys.argv[2]])' "$1" "$2"
}
base_url() { # scheme://user:pw@host:port (no path)
    python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path="", params="", query="", fragment="").geturl())' "$1"
}

have_cli() { [[ -x "$LIFEBOAT_BIN" ]] && "$LIFEBOAT_BIN" backup "$1" --help >/dev/null 2>&1; }

new_repo() { # new_repo DIR
    rm -rf "$1"
    "$LIFEBOAT_BIN" --repo "file://$1" init --format 2 --kdf-memory-kib $((KDF_MIB * 1024)) >/dev/null 2>&1
}

# Time to open the repository alone (key derivation + config read), paid by every lifeboat run.
open_cost() { # open_cost REPO
    local t0 t1
    t0="$(now)"; "$LIFEBOAT_BIN" --repo "file://$1" list >/dev/null; t1="$(now)"
    elapsed "$t0" "$t1"
}

: >"$REPORT"
say "# Lifeboat database benchmark $(date -u +%FT%TZ), scale $SCALE, best of $RUNS, $(nproc) cores, $(uname -r)"
say "# lifeboat: $LIFEBOAT_BIN ($("$LIFEBOAT_BIN" --version 2>/dev/null || echo missing)), zstd $(zstd -V | grep -o 'v[0-9.]*')"

# report KIND FILE REPO ID CLI BASELINE_BACKUP BASELINE_RESTORE: prints the figures of one
# database kind (FILE: the baseline dump; CLI=1: ours was measured too, as backup ID in REPO)
# from the caller's best times base_b, base_r, ours_b and ours_r (bash's dynamic scope).
report() {
    local kind="$1" file="$2" repo="$3" id="$4" cli="$5" baseline_backup="$6" baseline_restore="$7"
    local dump_bytes stored
    dump_bytes="$(zstd -q -d -c "$file" | wc -c)"
    say "$kind dump: $dump_bytes bytes uncompressed, $(stat -c %s "$file") bytes with zstd -3"
    say "$(printf '%-60s' "$kind baseline backup  ($baseline_backup):")${base_b}s  $(mib_s "$dump_bytes" "$base_b")"
    say "$(printf '%-60s' "$kind baseline restore ($baseline_restore):")${base_r}s  $(mib_s "$dump_bytes" "$base_r")"
    if [[ $cli -eq 1 ]]; then
        stored="$("$LIFEBOAT_BIN" --repo "file://$repo" show "$id" --json | python3 -c 'import json,sys; print(sum(o["size"] for o in json.load(sys.stdin)["objects"]))')"
        say "$(printf '%-60s' "$kind ours backup  (lifeboat backup $kind):")${ours_b}s  $(mib_s "$dump_bytes" "$ours_b")  stored $stored bytes  ratio(baseline/ours) $(ratio "$base_b" "$ours_b")  target >= 0.9"
        say "$(printf '%-60s' "$kind ours restore (lifeboat restore --to --create):")${ours_r}s  $(mib_s "$dump_bytes" "$ours_r")  ratio(baseline/ours) $(ratio "$base_r" "$ours_r")  target >= 0.9"
        say "$(printf '%-61s' "$kind repository open (key derivation, in both figures):")$(open_cost "$repo")s"
    else
        say "$kind ours: not measured ($LIFEBOAT_BIN missing or without 'backup $kind')"
    fi
}

bench_postgres() {
    local url="$LIFEBOAT_TEST_PG_URL" base
    base="$(base_url "$url")"
    export PGHOST PGPORT PGUSER PGPASSWORD
    PGHOST="$(url_part "$url" host)"; PGPORT="$(url_part "$url" port)"
    PGUSER="$(url_part "$url" user)"; PGPASSWORD="$(url_part "$url" password)"
    local db=lifeboat_bench rows want=$((SCALE * 100000))
    rows="$(psql -X -tAc "SELECT count(*) FROM pgbench_accounts" -d "$db" 2>/dev/null || echo 0)"
    if [[ "$rows" != "$want" ]]; then
        say "preparing pgbench -i -s $SCALE ..."
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
        pgbench -i -q -s "$SCALE" "$db" >/dev/null 2>&1
    fi
    psql -X -q -d "$db" -c "VACUUM ANALYZE" >/dev/null
    local size; size="$(psql -X -tAc "SELECT pg_size_pretty(pg_database_size('$db'))" -d postgres)"
    say "postgres $(psql -X -tAc 'SHOW server_version' -d postgres): database $db, $size, $want accounts"
    check_pg() { # check_pg DB
        local n; n="$(psql -X -tAc "SELECT count(*) FROM pgbench_accounts" -d "$1")"
        [[ "$n" == "$want" ]] || { say "ERROR: $1 has $n accounts, expected $want"; exit 1; }
    }

    local file="$OUT/pg.dump.zst" repo="$OUT/repo-pg" cli=0 t0 t1 id
    local base_b="" base_r="" ours_b="" ours_r=""
    if have_cli postgres; then cli=1; new_repo "$repo"; fi
    # Baseline and ours alternate within each run, so that load from elsewhere hits both alike.
    for _ in $(seq 1 "$RUNS"); do
        t0="$(now)"; pg_dump -Fc -Z0 -d "$db" | zstd -q -3 -T0 -f -o "$file"; t1="$(now)"
        base_b="$(min "$base_b" "$(elapsed "$t0" "$t1")")"
        if [[ $cli -eq 1 ]]; then
            t0="$(now)"
            id="$("$LIFEBOAT_BIN" --repo "file://$repo" backup postgres --url "$base/$db" --json \
                | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
            t1="$(now)"; ours_b="$(min "$ours_b" "$(elapsed "$t0" "$t1")")"
        fi
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS ${db}_restored WITH (FORCE)" -c "CREATE DATABASE ${db}_restored"
        t0="$(now)"; zstd -q -d -c "$file" | pg_restore -d "${db}_restored"; t1="$(now)"
        base_r="$(min "$base_r" "$(elapsed "$t0" "$t1")")"
        check_pg "${db}_restored"
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS ${db}_restored WITH (FORCE)"
        if [[ $cli -eq 1 ]]; then
            psql -X -q -d postgres -c "DROP DATABASE IF EXISTS ${db}_ours WITH (FORCE)" 2>/dev/null
            t0="$(now)"
            "$LIFEBOAT_BIN" --repo "file://$repo" restore "$id" --to "$base/${db}_ours" --create 2>>"$OUT/lifeboat-restore.log"
            t1="$(now)"; ours_r="$(min "$ours_r" "$(elapsed "$t0" "$t1")")"
            check_pg "${db}_ours"
            psql -X -q -d postgres -c "DROP DATABASE IF EXISTS ${db}_ours WITH (FORCE)"
        fi
    done
    report postgres "$file" "$repo" "$id" "$cli" "pg_dump -Fc -Z0 | zstd -3 -T0" "zstd -d | pg_restore -d NEWDB"
}

bench_mysql() {
    local url="$LIFEBOAT_TEST_MYSQL_URL" base
    base="$(base_url "$url")"
    local cnf="$OUT/.my.cnf"
    (umask 077; printf '[client]\nhost=%s\nport=%s\nuser=%s\npassword="%s"\n' "$(url_part "$url" host)" \
        "$(url_part "$url" port)" "$(url_part "$url" user)" "$(url_part "$url" password)" >"$cnf")
    local my=(mariadb "--defaults-extra-file=$cnf")
    local db=lifeboat_bench rows want=$((SCALE * 100000))
    rows="$("${my[@]}" -N -e "SELECT COUNT(*) FROM $db.accounts" 2>/dev/null || echo 0)"
    if [[ "$rows" != "$want" ]]; then
        say "preparing $db.accounts with $want rows ..."
        # The shape of pgbench_accounts: filler is 84 blanks there, here 84 varied characters so
        # that the dump does not compress to nothing.
        "${my[@]}" -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db;
            CREATE TABLE $db.accounts (aid INT PRIMARY KEY, bid INT NOT NULL, abalance INT NOT NULL, filler CHAR(84)) ENGINE=InnoDB;
            USE $db; INSERT INTO accounts SELECT seq, 1 + seq DIV 100000, seq MOD 9973, RPAD(MD5(seq), 84, ' ') FROM seq_1_to_$want;"
    fi
    check_my() { # check_my DB
        local n; n="$("${my[@]}" -N -e "SELECT COUNT(*) FROM $1.accounts")"
        [[ "$n" == "$want" ]] || { say "ERROR: $1 has $n accounts, expected $want"; exit 1; }
    }
    say "mysql $("${my[@]}" -N -e 'SELECT VERSION()'): database $db, $want rows"
    local file="$OUT/my.sql.zst" repo="$OUT/repo-my" cli=0 t0 t1 id
    local base_b="" base_r="" ours_b="" ours_r=""
    if have_cli mysql; then cli=1; new_repo "$repo"; fi
    for _ in $(seq 1 "$RUNS"); do
        t0="$(now)"
        mariadb-dump "--defaults-extra-file=$cnf" --single-transaction --quick --hex-blob --max-allowed-packet=1G \
            --default-character-set=utf8mb4 --routines --triggers --events --master-data=2 --gtid "$db" \
            | zstd -q -3 -T0 -f -o "$file"
        t1="$(now)"; base_b="$(min "$base_b" "$(elapsed "$t0" "$t1")")"
        if [[ $cli -eq 1 ]]; then
            t0="$(now)"
            id="$("$LIFEBOAT_BIN" --repo "file://$repo" backup mysql --url "$base/$db" --json \
                | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
            t1="$(now)"; ours_b="$(min "$ours_b" "$(elapsed "$t0" "$t1")")"
        fi
        "${my[@]}" -e "DROP DATABASE IF EXISTS ${db}_restored; CREATE DATABASE ${db}_restored"
        t0="$(now)"; zstd -q -d -c "$file" | "${my[@]}" "${db}_restored"; t1="$(now)"
        base_r="$(min "$base_r" "$(elapsed "$t0" "$t1")")"
        check_my "${db}_restored"
        "${my[@]}" -e "DROP DATABASE IF EXISTS ${db}_restored"
        if [[ $cli -eq 1 ]]; then
            "${my[@]}" -e "DROP DATABASE IF EXISTS ${db}_ours"
            t0="$(now)"
            "$LIFEBOAT_BIN" --repo "file://$repo" restore "$id" --to "$base/${db}_ours" --create 2>>"$OUT/lifeboat-restore.log"
            t1="$(now)"; ours_r="$(min "$ours_r" "$(elapsed "$t0" "$t1")")"
            check_my "${db}_ours"
            "${my[@]}" -e "DROP DATABASE IF EXISTS ${db}_ours"
        fi
    done
    report mysql "$file" "$repo" "$id" "$cli" "mariadb-dump | zstd -3 -T0" "zstd -d | mariadb NEWDB"
    rm -f "$cnf"
}

# Format 3: what repeated dumps of a mostly unchanged database add to the repository.
bench_v3() {
    local url="$LIFEBOAT_TEST_PG_URL" base
    base="$(base_url "$url")"
    export PGHOST PGPORT PGUSER PGPASSWORD
    PGHOST="$(url_part "$url" host)"; PGPORT="$(url_part "$url" port)"
    PGUSER="$(url_part "$url" user)"; PGPASSWORD="$(url_part "$url" password)"
    local db=lifeboat_bench rows want=$((SCALE * 100000)) tx="${V3_TX:-10}"
    rows="$(psql -X -tAc "SELECT count(*) FROM pgbench_accounts" -d "$db" 2>/dev/null || echo 0)"
    if [[ "$rows" != "$want" ]]; then
        say "preparing pgbench -i -s $SCALE ..."
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
        pgbench -i -q -s "$SCALE" "$db" >/dev/null 2>&1
    fi
    psql -X -q -d "$db" -c "VACUUM ANALYZE" >/dev/null
    have_cli postgres || { say "v3: $LIFEBOAT_BIN missing or without 'backup postgres'"; return; }
    local repo="$OUT/repo-pg-v3"
    rm -rf "$repo"
    "$LIFEBOAT_BIN" --repo "file://$repo" init --format 3 --kdf-memory-kib $((KDF_MIB * 1024)) >/dev/null 2>&1
    stored() { { du -sb "$repo/packs" "$repo/index" 2>/dev/null || true; } | awk '{ s += $1 } END { print s + 0 }'; }
    say "postgres v3: database $db, $want accounts, format 3 repository $repo"
    local n before after t0 t1 json size new
    for n in 1 2 3; do
        if [[ $n -eq 3 ]]; then
            pgbench -n -t "$tx" -c 1 "$db" >/dev/null 2>&1
            say "  ($tx pgbench transactions before dump 3)"
        fi
        before="$(stored)"
        t0="$(now)"
        json="$("$LIFEBOAT_BIN" --repo "file://$repo" backup postgres --url "$base/$db" --json)"
        t1="$(now)"
        after="$(stored)"
        read -r size new < <(python3 -c 'import json,sys; m = json.loads(sys.argv[1]); s = m.get("stats", {});
print(sum(o["plain_size"] for o in m["objects"]), s.get("bytes_new", 0))' "$json")
        say "$(printf 'v3 dump %d: %s bytes in %ss, bytes_new %s (%s%%), repository grew %s bytes (%s%%)' "$n" "$size" \
            "$(elapsed "$t0" "$t1")" "$new" "$(awk -v a="$new" -v b="$size" 'BEGIN { printf "%.2f", 100 * a / b }')" \
            "$((after - before))" "$(awk -v a="$((after - before))" -v b="$size" 'BEGIN { printf "%.2f", 100 * a / b }')")"
    done
    say "v3 target: dumps 2 and 3 add < 5% of the dump"
}

case "$WHAT" in
    v3) bench_v3 ;;
    postgres) bench_postgres ;;
    mysql) bench_mysql ;;
    all) bench_postgres; bench_mysql ;;
    *) echo "usage: $0 [postgres|mysql|all|v3]" >&2; exit 2 ;;
esac
say "report: $REPORT"
