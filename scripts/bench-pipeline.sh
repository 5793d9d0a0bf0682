#!/usr/bin/env bash
# End-to-end throughput and memory of `lifeboat backup stdin` / `lifeboat restore --stdout`
# against the zstd CLI on the same machine, in one run, reported as ratios (the machines are
# shared, so absolute figures move; ratios measured side by side move much less).
#
#   ./scripts/bench-pipeline.sh                 # 1 GiB input, 3 runs each, plus a 4x streamed backup
#   BENCH_GIB=0.25 ./scripts/bench-pipeline.sh  # smaller input (fractions allowed)
#
# Environment:
#   BENCH_GIB=1          size of the mixed-compressibility input file in GiB
#   BENCH_RUNS=3         runs per command; the median wall time is reported
#   BENCH_BIG_FACTOR=4   the extra backup streams the file this many times through a pipe
#                        (0 skips it); it shows that memory does not grow with the input
#   BENCH_BLOCK_MIB=4    the input interleaves random, text-like and structured blocks of this size
#   BENCH_KEEP=0         1 keeps the benchmark repository and out.zst afterwards
#   BENCH_V3=1           also measure `backup stdin` / `restore --stdout` in a format 3
#                        repository (`init --format 3`: the stream is chunked into packs), a
#                        new one each run so that no run dedups against the one before
#   LIFEBOAT_BIN=...     use this binary instead of building target/release/lifeboat
#   CARGO_TARGET_DIR     where cargo builds (default: target/)
#
# Targets (README, "Performance"): backup >= 0.85x the throughput of `zstd -3 -T0`,
# restore >= 0.85x of `zstd -d`, peak RSS < 128 MiB. Lifeboat does more work than zstd
# (AES-256-GCM, two SHA-256 digests, fsync of the stored object, Argon2id unlock), so the
# targets are ratios of wall time on identical input. The script reports; it does not fail
# on a missed target (figures on a shared machine are not a pass/fail test).
#
# Output: a table on stdout and in target/bench-results.txt. Input is cached in
# target/bench-data/ and reused.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT_DIR="$ROOT/target"
DATA_DIR="$OUT_DIR/bench-data"
RESULTS="$OUT_DIR/bench-results.txt"
BENCH_GIB=${BENCH_GIB:-1}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_BIG_FACTOR=${BENCH_BIG_FACTOR:-4}
BENCH_BLOCK_MIB=${BENCH_BLOCK_MIB:-4}
BENCH_KEEP=${BENCH_KEEP:-0}
BENCH_V3=${BENCH_V3:-1}

die() { echo "bench-pipeline: $*" >&2; exit 1; }

MIB=$(awk -v g="$BENCH_GIB" 'BEGIN { m = g * 1024; if (m < 1 || m != int(m)) exit 1; print m }') \
    || die "BENCH_GIB=$BENCH_GIB must be a positive number of GiB that is a whole number of MiB"
[[ "$BENCH_RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS=$BENCH_RUNS must be a positive integer"
[[ "$BENCH_BIG_FACTOR" =~ ^[0-9]+$ ]] || die "BENCH_BIG_FACTOR=$BENCH_BIG_FACTOR must be an integer"
[[ "$BENCH_BLOCK_MIB" =~ ^[1-9][0-9]*$ ]] || die "BENCH_BLOCK_MIB=$BENCH_BLOCK_MIB must be a positive integer"

# --- tools ----------------------------------------------------------------------------------
need_apt=()
command -v zstd >/dev/null || need_apt+=(zstd)
[[ -x /usr/bin/time ]] || need_apt+=(time)
command -v python3 >/dev/null || need_apt+=(python3)
if ((${#need_apt[@]})); then
    echo "installing ${need_apt[*]} (apt-get)" >&2
    SUDO=; [[ $(id -u) -eq 0 ]] || SUDO=sudo
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null \
        || die "cannot install ${need_apt[*]}"
fi

if [[ -n "${LIFEBOAT_BIN:-}" ]]; then
    BIN=$LIFEBOAT_BIN
else
    echo "building: cargo build --release -p lifeboat-cli" >&2
    (cd "$ROOT" && cargo build --release -p lifeboat-cli) || die "cargo build failed"
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/lifeboat"
fi
[[ -x "$BIN" ]] || die "no lifeboat binary at $BIN"

# --- input ----------------------------------------------------------------------------------
mkdir -p "$DATA_DIR"
INPUT="$DATA_DIR/mixed-${MIB}MiB-b${BENCH_BLOCK_MIB}.bin"
if [[ ! -f "$INPUT" || $(stat -c %s "$INPUT") -ne $((MIB * 1024 * 1024)) ]]; then
    echo "generating $INPUT (${MIB} MiB: random / text-like / structured blocks of ${BENCH_BLOCK_MIB} MiB)" >&2
    python3 - "$INPUT.tmp" "$MIB" "$BENCH_BLOCK_MIB" <<'PY'
import array, random, sys

path, mib, block_mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(20261121)
WORDS = ("the backup of a cluster restore index shard snapshot segment error warning info request "
         "user session latency bytes host replica primary commit rollback transaction select from "
         "where and or insert into values update set delete ok failed retry timeout connection").split()
LEVELS = ("INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG")
PATHS = ("/api/v1/items", "/api/v1/users", "/health", "/search", "/_bulk", "/login")

def random_block(n):
    return rng.randbytes(n)

def text_block(n):
    # Log-like lines: a timestamp, a level, a path, a status, a latency, some words.
    out, size, t = [], 0, rng.randrange(1_700_000_000, 1_800_000_000)
    while size < n:
        t += rng.randrange(0, 3)
        line = "%d.%03d %s %s %d %dms %s\n" % (
            t, rng.randrange(1000), rng.choice(LEVELS), rng.choice(PATHS), rng.choice((200, 200, 200, 404, 500)),
            rng.randrange(1, 900), " ".join(rng.choices(WORDS, k=rng.randrange(3, 12))))
        out.append(line)
        size += len(line)
    return "".join(out).encode()[:n]

counter = [0]
def structured_block(n):
    # 64-byte records: id, timestamp, a small value, a flag word, then zero padding.
    records = n // 64
    base = counter[0]
    values = array.array("Q")
    for i in range(records):
        k = base + i
        values.extend((k, 1_763_700_000_000 + 17 * k, rng.randrange(1000), k & 0xF, 0, 0, 0, 0))
    counter[0] += records
    data = values.tobytes()
    return data + bytes(n - len(data))

kinds = (random_block, text_block, structured_block)
block = block_mib * 1024 * 1024
total = mib * 1024 * 1024
with open(path, "wb") as f:
    written, i = 0, 0
    while written < total:
        n = min(block, total - written)
        f.write(kinds[i % 3](n))
        written += n
        i += 1
PY
    mv "$INPUT.tmp" "$INPUT"
fi
SIZE=$(stat -c %s "$INPUT")

# --- measuring ------------------------------------------------------------------------------
REPO="$OUT_DIR/bench-repo"
REPO3="$OUT_DIR/bench-repo-v3"
ZST="$DATA_DIR/out.zst"
export LIFEBOAT_REPO="$REPO"
export LIFEBOAT_PASSWORD=bench-password-not-secret
unset LIFEBOAT_PASSWORD_FILE LIFEBOAT_KEY_FILE LIFEBOAT_IDENTITY_FILE
cleanup() {
    if [[ "$BENCH_KEEP" != 1 ]]; then rm -rf "$REPO" "$REPO3" "$ZST"; fi
    rm -f "${TIMEFILE:-}"
}
trap cleanup EXIT
TIMEFILE=$(mktemp)

rm -rf "$REPO" "$ZST"
"$BIN" init --format 2 >"$TIMEFILE" 2>&1 || { cat "$TIMEFILE" >&2; die "lifeboat init failed"; }

declare -A WALL CPU RSS
# measure NAME COMMAND: runs COMMAND under /usr/bin/time -v, appends wall s, CPU s, max RSS KiB.
measure() {
    local name=$1 cmd=$2 start end
    start=$(date +%s.%N)
    /usr/bin/time -v -o "$TIMEFILE" bash -c "$cmd" || die "$name failed: $cmd"
    end=$(date +%s.%N)
    local user sys rss
    user=$(awk -F': ' '/User time/ {print $2}' "$TIMEFILE")
    sys=$(awk -F': ' '/System time/ {print $2}' "$TIMEFILE")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$TIMEFILE")
    WALL[$name]+="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }') "
    CPU[$name]+="$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }') "
    RSS[$name]+="$rss "
    printf '  %-16s run: %6.2f s wall, %6.2f s CPU, %6.1f MiB peak RSS\n' "$name" \
        "$(echo "${WALL[$name]}" | awk '{print $NF}')" "$(echo "${CPU[$name]}" | awk '{print $NF}')" \
        "$(awk -v r="$rss" 'BEGIN { print r / 1024 }')" >&2
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
maximum() { tr ' ' '\n' | grep -v '^$' | sort -g | tail -1; }

echo "input: $INPUT ($((SIZE / 1048576)) MiB), $BENCH_RUNS runs each, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for run in $(seq 1 "$BENCH_RUNS"); do
    echo "run $run/$BENCH_RUNS" >&2
    measure zstd-compress "zstd -q -3 -T0 -c '$INPUT' > '$ZST'"
    before=$(du -sb "$REPO" | cut -f1)
    measure lifeboat-backup "'$BIN' backup stdin --name big < '$INPUT' > /dev/null"
    STORED=$(($(du -sb "$REPO" | cut -f1) - before))
    measure zstd-decompress "zstd -q -d -c '$ZST' > /dev/null"
    measure lifeboat-restore "'$BIN' restore latest --stdout > /dev/null"
    if [[ $run -eq 1 ]]; then
        # Once, untimed: the restored bytes are the input's.
        "$BIN" restore latest --stdout | cmp -s - "$INPUT" || die "restored bytes differ from the input"
    fi
    if [[ "$BENCH_V3" == 1 ]]; then
        # Format 3: a fresh repository each run (a second backup of the same input would
        # store nothing and measure dedup, not the pipeline).
        rm -rf "$REPO3"
        LIFEBOAT_REPO="$REPO3" "$BIN" init --format 3 >"$TIMEFILE" 2>&1 \
            || { cat "$TIMEFILE" >&2; die "lifeboat init --format 3 failed"; }
        measure lifeboat-backup-v3 "LIFEBOAT_REPO='$REPO3' '$BIN' backup stdin --name big < '$INPUT' > /dev/null"
        STORED3=$(du -sb "$REPO3" | cut -f1)
        measure lifeboat-restore-v3 "LIFEBOAT_REPO='$REPO3' '$BIN' restore latest --stdout > /dev/null"
        if [[ $run -eq 1 ]]; then
            LIFEBOAT_REPO="$REPO3" "$BIN" restore latest --stdout | cmp -s - "$INPUT" \
                || die "format 3: restored bytes differ from the input"
        fi
    fi
done
# What every lifeboat command pays before any data moves: Argon2id unlock and listing.
measure lifeboat-open "'$BIN' list > /dev/null"
BIG_SIZE=$((SIZE * BENCH_BIG_FACTOR))
if ((BENCH_BIG_FACTOR > 0)); then
    echo "streamed backup of $((BIG_SIZE / 1048576)) MiB (the input cat'ed $BENCH_BIG_FACTOR times)" >&2
    files=$(printf "'%s' " $(for _ in $(seq 1 "$BENCH_BIG_FACTOR"); do echo "$INPUT"; done))
    measure lifeboat-backup-big "cat $files | '$BIN' backup stdin --name big-stream > /dev/null"
fi
ZST_SIZE=$(stat -c %s "$ZST")

# --- report ---------------------------------------------------------------------------------
mibs() { awk -v b="$1" -v t="$2" 'BEGIN { printf "%.1f", b / 1048576 / t }'; }
row() { # name bytes
    local name=$1 bytes=$2 wall cpu rss
    wall=$(echo "${WALL[$name]}" | median)
    cpu=$(echo "${CPU[$name]}" | median)
    rss=$(echo "${RSS[$name]}" | maximum)
    printf '%-22s %9.2f %9s %9.2f %9.1f\n' "$name" "$wall" "$(mibs "$bytes" "$wall")" "$cpu" \
        "$(awk -v r="$rss" 'BEGIN { print r / 1024 }')"
}
ratio() { # lifeboat-name zstd-name: throughput ratio = zstd wall / lifeboat wall
    awk -v a="$(echo "${WALL[$2]}" | median)" -v b="$(echo "${WALL[$1]}" | median)" 'BEGIN { printf "%.2f", a / b }'
}
cpu_ratio() {
    awk -v a="$(echo "${CPU[$2]}" | median)" -v b="$(echo "${CPU[$1]}" | median)" 'BEGIN { printf "%.2f", b / a }'
}
peak_rss=$(echo "${RSS[lifeboat-backup]} ${RSS[lifeboat-restore]} ${RSS[lifeboat-backup-big]:-}" \
    "${RSS[lifeboat-backup-v3]:-} ${RSS[lifeboat-restore-v3]:-}" | maximum)
peak_mib=$(awk -v r="$peak_rss" 'BEGIN { printf "%.1f", r / 1024 }')
verdict() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN { ok = (dir == "ge") ? v >= t : v < t; print ok ? "met" : "MISSED" }'; }
backup_ratio=$(ratio lifeboat-backup zstd-compress)
restore_ratio=$(ratio lifeboat-restore zstd-decompress)
{
    echo "lifeboat pipeline benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(uname -m)"
    echo "input: $((SIZE / 1048576)) MiB mixed (random / text-like / structured, ${BENCH_BLOCK_MIB} MiB blocks)," \
        "median of $BENCH_RUNS runs; zstd $(zstd -V | grep -o 'v[0-9.]*'); $("$BIN" --version)"
    echo "stored: zstd -3 $((ZST_SIZE / 1048576)) MiB, lifeboat $((STORED / 1048576)) MiB (one backup)"
    echo
    printf '%-22s %9s %9s %9s %9s\n' command "wall s" "MiB/s" "CPU s" "RSS MiB"
    row zstd-compress "$SIZE"
    row lifeboat-backup "$SIZE"
    row zstd-decompress "$SIZE"
    row lifeboat-restore "$SIZE"
    row lifeboat-open 0 | awk '{ $3 = "-"; printf "%-22s %9s %9s %9s %9s\n", $1, $2, $3, $4, $5 }'
    if ((BENCH_BIG_FACTOR > 0)); then row lifeboat-backup-big "$BIG_SIZE"; fi
    if [[ "$BENCH_V3" == 1 ]]; then
        row lifeboat-backup-v3 "$SIZE"
        row lifeboat-restore-v3 "$SIZE"
    fi
    echo
    echo "backup  / zstd -3 -T0 throughput: ${backup_ratio}x (target >= 0.85: $(verdict "$backup_ratio" 0.85 ge));" \
        "lifeboat uses $(cpu_ratio lifeboat-backup zstd-compress)x the CPU time"
    echo "restore / zstd -d     throughput: ${restore_ratio}x (target >= 0.85: $(verdict "$restore_ratio" 0.85 ge));" \
        "lifeboat uses $(cpu_ratio lifeboat-restore zstd-decompress)x the CPU time"
    if [[ "$BENCH_V3" == 1 ]]; then
        v3_ratio=$(ratio lifeboat-backup-v3 zstd-compress)
        echo "format 3 backup  / zstd -3 -T0 throughput: ${v3_ratio}x (target >= 0.95: $(verdict "$v3_ratio" 0.95 ge));" \
            "lifeboat uses $(cpu_ratio lifeboat-backup-v3 zstd-compress)x the CPU time; stored $((STORED3 / 1048576)) MiB"
        echo "format 3 restore / zstd -d     throughput: $(ratio lifeboat-restore-v3 zstd-decompress)x"
    fi
    echo "lifeboat peak RSS: ${peak_mib} MiB (target < 128: $(verdict "$peak_mib" 128 lt));" \
        "lifeboat-open is the fixed cost of every command (Argon2id unlock, listing)"
} | tee "$RESULTS"
echo "(written to $RESULTS)" >&2
