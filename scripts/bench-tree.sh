#!/usr/bin/env bash
# Lifeboat against restic, borg and rustic on one directory tree, in one
# run on one machine, so the figures compare (the machines are shared: read the ratios).
#
#   ./scripts/bench-tree.sh                       # the Rust toolchain's sysroot (~1.2 GiB, ~50k files)
#   BENCH_TREE=/some/dir ./scripts/bench-tree.sh  # any other tree
#
# For each tool, in order: init; first backup; second backup of the unchanged tree; backup
# after changing 1% of the files (every 100th regular file gets 4 KiB appended); restore of
# the whole tree; restore of one file (the largest). Each step reports wall time, peak RSS and
# the repository size after it. The table goes to stdout and target/bench-tree-results.txt.
#
# Environment:
#   BENCH_TREE=<dir>        the tree to back up (copied once into target/bench-tree/src, since
#                           the 1% step changes it); default: `rustc --print sysroot`
#   BENCH_TOOLS="lifeboat restic borg rustic"   which tools to run; a tool asked for and not
#                           installed stops the script before anything runs (never skipped)
#   RUSTIC_BIN=...          the rustic binary (default: `rustic` on PATH, else
#                           /opt/rustic/bin/rustic, where scripts/install-rustic.sh puts it)
#   LIFEBOAT_BIN=...        the lifeboat binary (default: build target/release/lifeboat)
#   LIFEBOAT_INIT_ARGS=...  extra `lifeboat init` arguments (default: --format 3 when the
#                           binary has it; "--format 2" measures the one-tar format)
#   BENCH_KEEP=0            1 keeps the repositories and restores afterwards
#
# Targets (issue 14, README "Performance"): first backup >= 2x restic's speed; unchanged
# second backup >= 3x restic's speed and < 1 MiB added; bytes added after the 1% change <=
# restic's; whole-tree restore >= 2x restic's speed; peak RSS < 256 MiB. The script reports;
# it does not fail on a missed target.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK="$ROOT/target/bench-tree"
RESULTS="$ROOT/target/bench-tree-results.txt"
BENCH_TOOLS=${BENCH_TOOLS:-"lifeboat restic borg rustic"}
BENCH_KEEP=${BENCH_KEEP:-0}
PASSWORD=bench-password-not-secret

die() { echo "bench-tree: $*" >&2; exit 1; }
[[ -x /usr/bin/time ]] || die "needs /usr/bin/time (apt-get install time)"

TREE=${BENCH_TREE:-$(rustc --print sysroot)}
[[ -d "$TREE" ]] || die "BENCH_TREE=$TREE is not a directory"

if [[ " $BENCH_TOOLS " == *" lifeboat "* ]]; then
    if [[ -n "${LIFEBOAT_BIN:-}" ]]; then
        BIN=$LIFEBOAT_BIN
    else
        echo "building: cargo build --release -p lifeboat-cli" >&2
        (cd "$ROOT" && cargo build --release -p lifeboat-cli) || die "cargo build failed"
        BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/lifeboat"
    fi
    [[ -x "$BIN" ]] || die "no lifeboat binary at $BIN"
    BIN=$(realpath "$BIN")
    if [[ -z "${LIFEBOAT_INIT_ARGS+set}" ]]; then
        LIFEBOAT_INIT_ARGS=$("$BIN" init --help 2>&1 | grep -q -- '--format' && echo "--format 3" || true)
    fi
    echo "lifeboat: $BIN, init ${LIFEBOAT_INIT_ARGS:-(defaults)}" >&2
fi

# --- the other tools: each one asked for must be there (a table without it would mislead) ---
RUSTIC=
for tool in $BENCH_TOOLS; do
    case $tool in
        lifeboat) ;;
        restic | borg)
            command -v "$tool" >/dev/null \
                || die "$tool is in BENCH_TOOLS but not installed (apt-get install $tool)"
            ;;
        rustic)
            RUSTIC=${RUSTIC_BIN:-$(command -v rustic || echo /opt/rustic/bin/rustic)}
            [[ -x "$RUSTIC" ]] || die "rustic is in BENCH_TOOLS but not installed (no ${RUSTIC_BIN:+RUSTIC_BIN=}$RUSTIC): run scripts/install-rustic.sh, or set RUSTIC_BIN"
            RUSTIC=$(realpath "$RUSTIC")
            echo "rustic: $RUSTIC ($("$RUSTIC" --version 2>&1 | head -1))" >&2
            ;;
        *) die "unknown tool '$tool' in BENCH_TOOLS (lifeboat, restic, borg, rustic)" ;;
    esac
done

# --- the tree -------------------------------------------------------------------------------
SRC="$WORK/src"
mkdir -p "$WORK"
if [[ ! -f "$WORK/src.done" || "$(cat "$WORK/src.done")" != "$TREE" ]]; then
    echo "copying $TREE to $SRC" >&2
    rm -rf "$SRC" "$WORK/src.done"
    cp -a "$TREE" "$SRC"
    printf '%s' "$TREE" >"$WORK/src.done"
fi
# The 1% change is applied to a fresh copy per tool (hard links would share the change).
FILES=$(find "$SRC" -type f | wc -l)
BYTES=$(du -sb "$SRC" | cut -f1)
ONE_FILE=$(find "$SRC" -type f -printf '%s %P\n' | sort -n | tail -1 | cut -d' ' -f2-)
echo "tree: $TREE, $FILES files, $((BYTES / 1048576)) MiB; one-file restore: $ONE_FILE" >&2

TIMEFILE=$(mktemp)
cleanup() {
    rm -f "$TIMEFILE"
    if [[ "$BENCH_KEEP" != 1 ]]; then rm -rf "$WORK/repo-"* "$WORK/restore-"* "$WORK/tree-"*; fi
}
trap cleanup EXIT

# measure TOOL STEP REPO COMMAND: runs COMMAND, records wall s, peak RSS MiB and repo MiB.
declare -A WALL RSS SIZE
measure() {
    local tool=$1 step=$2 repo=$3 cmd=$4 start end
    start=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$TIMEFILE" bash -c "$cmd" >"$WORK/last.log" 2>&1 \
        || { tail -20 "$WORK/last.log" >&2; die "$tool $step failed: $cmd"; }
    end=$(date +%s.%N)
    WALL[$tool.$step]=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
    RSS[$tool.$step]=$(awk '{ v = $1 } END { printf "%.0f", v / 1024 }' "$TIMEFILE")
    SIZE[$tool.$step]=$(du -sb "$repo" | awk '{ printf "%.1f", $1 / 1048576 }')
    printf '  %-9s %-10s %8s s %6s MiB RSS  repo %9s MiB\n' "$tool" "$step" "${WALL[$tool.$step]}" \
        "${RSS[$tool.$step]}" "${SIZE[$tool.$step]}" >&2
}

# change_one_percent DIR: appends 4 KiB to every 100th regular file (sorted, so repeatable).
change_one_percent() {
    find "$1" -type f | sort | awk 'NR % 100 == 0' | while IFS= read -r f; do
        head -c 4096 /dev/urandom >>"$f"
    done
}

# Per tool: the commands for init, backup DIR, restore-all DEST, restore-one DEST FILE.
tool_cmds() {
    local tool=$1 repo=$2
    case $tool in
        lifeboat)
            INIT="LIFEBOAT_REPO='$repo' '$BIN' init $LIFEBOAT_INIT_ARGS"
            BACKUP="LIFEBOAT_REPO='$repo' '$BIN' backup files"
            RESTORE_ALL="LIFEBOAT_REPO='$repo' '$BIN' restore latest --target"
            if "$BIN" dump --help >/dev/null 2>&1; then
                RESTORE_ONE() { echo "LIFEBOAT_REPO='$repo' '$BIN' dump latest '$2' > '$1/one'"; }
            else
                # Format 2 stores a tree as one tar: one file costs reading the whole backup.
                RESTORE_ONE() { echo "LIFEBOAT_REPO='$repo' '$BIN' restore latest --stdout | tar -xO --wildcards '*$2' > '$1/one'"; }
            fi
            ;;
        restic)
            INIT="restic -r '$repo' init"
            BACKUP="restic -r '$repo' backup --quiet"
            RESTORE_ALL="restic -r '$repo' restore latest --target"
            RESTORE_ONE() { echo "restic -r '$repo' dump latest '/$2' > '$1/one'"; }
            ;;
        rustic)
            # restic-compatible repository; the password comes from RUSTIC_PASSWORD.
            INIT="'$RUSTIC' --no-progress -r '$repo' init"
            BACKUP="'$RUSTIC' --no-progress -r '$repo' backup"
            RESTORE_ALL="'$RUSTIC' --no-progress -r '$repo' restore latest"
            RESTORE_ONE() { echo "'$RUSTIC' --no-progress -r '$repo' dump 'latest:/$2' > '$1/one'"; }
            ;;
        borg)
            INIT="borg init -e repokey '$repo'"
            BACKUP="borg create \"$repo::b\$(date +%s%N)\""
            RESTORE_ALL="borg_extract_all '$repo'"
            RESTORE_ONE() { echo "borg extract --stdout \"$repo::\$(borg list --last 1 --short '$repo')\" '${2#/}' > '$1/one'"; }
            ;;
    esac
}
# borg extracts into the working directory.
borg_extract_all() { (mkdir -p "$2" && cd "$2" && borg extract "$1::$(borg list --last 1 --short "$1")"); }
export -f borg_extract_all

# Each tool's cache inside the work dir, emptied per run, so runs compare.
export XDG_CACHE_HOME="$WORK/cache" RESTIC_CACHE_DIR="$WORK/cache/restic" BORG_CACHE_DIR="$WORK/cache/borg"
export RUSTIC_CACHE_DIR="$WORK/cache/rustic"
rm -rf "$WORK/cache"
export LIFEBOAT_PASSWORD=$PASSWORD RESTIC_PASSWORD=$PASSWORD RUSTIC_PASSWORD=$PASSWORD BORG_PASSPHRASE=$PASSWORD
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
unset LIFEBOAT_PASSWORD_FILE LIFEBOAT_KEY_FILE LIFEBOAT_IDENTITY_FILE

RAN=()
echo "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for tool in $BENCH_TOOLS; do
    RAN+=("$tool")
    repo="$WORK/repo-$tool" tree="$WORK/tree-$tool"
    rm -rf "$repo" "$tree" "$WORK/restore-$tool"*
    cp -a "$SRC" "$tree"
    tool_cmds "$tool" "$repo"
    bash -c "$INIT" >"$WORK/last.log" 2>&1 || { cat "$WORK/last.log" >&2; die "$tool init failed"; }
    # Absolute paths, entered from the tree's parent so every tool records the same path.
    measure "$tool" first "$repo" "cd '$WORK' && $BACKUP '$tree'"
    measure "$tool" unchanged "$repo" "cd '$WORK' && $BACKUP '$tree'"
    change_one_percent "$tree"
    measure "$tool" changed "$repo" "cd '$WORK' && $BACKUP '$tree'"
    dest="$WORK/restore-$tool"
    mkdir -p "$dest-one"
    measure "$tool" restore "$repo" "$RESTORE_ALL '$dest'"
    measure "$tool" one-file "$repo" "$(RESTORE_ONE "$dest-one" "${tree#/}/$ONE_FILE")"
    cmp -s "$dest-one/one" "$tree/$ONE_FILE" || die "$tool: the restored file differs from $tree/$ONE_FILE"
    restored=$(find "$dest" -type f | wc -l)
    [[ $restored -eq $FILES ]] || die "$tool restored $restored files, expected $FILES"
    rm -rf "$dest" "$dest-one" "$tree"
done

# tool_version TOOL: one line naming the tool's version.
tool_version() {
    case $1 in
        lifeboat) echo "lifeboat $("$BIN" --version 2>&1 | head -1 | awk '{ print $NF }') ${LIFEBOAT_INIT_ARGS:-}" ;;
        rustic) "$RUSTIC" --version 2>&1 | head -1 ;;
        restic) restic version 2>&1 | head -1 | cut -d' ' -f1-2 ;;
        borg) borg --version 2>&1 | head -1 ;;
    esac
}

# --- report ---------------------------------------------------------------------------------
{
    echo "# bench-tree: $TREE ($FILES files, $((BYTES / 1048576)) MiB), $(nproc) cores, $(date -u +%F)"
    printf '%-9s %9s %9s %9s %9s %9s %9s %9s %9s %9s\n' tool first_s unch_s chg_s restore_s one_s \
        first_MiB +unch_MiB +chg_MiB peak_RSS
    for tool in "${RAN[@]}"; do
        printf '%-9s %9s %9s %9s %9s %9s %9s %9s %9s %9s\n' "$tool" "${WALL[$tool.first]}" \
            "${WALL[$tool.unchanged]}" "${WALL[$tool.changed]}" "${WALL[$tool.restore]}" "${WALL[$tool.one-file]}" \
            "${SIZE[$tool.first]}" \
            "$(awk -v a="${SIZE[$tool.first]}" -v b="${SIZE[$tool.unchanged]}" 'BEGIN { printf "%.1f", b - a }')" \
            "$(awk -v a="${SIZE[$tool.unchanged]}" -v b="${SIZE[$tool.changed]}" 'BEGIN { printf "%.1f", b - a }')" \
            "$(printf '%s\n' "${RSS[$tool.first]}" "${RSS[$tool.unchanged]}" "${RSS[$tool.changed]}" \
                "${RSS[$tool.restore]}" "${RSS[$tool.one-file]}" | sort -n | tail -1)"
    done
    OTHERS=()
    for tool in "${RAN[@]}"; do [[ $tool == lifeboat ]] || OTHERS+=("$tool"); done
    if [[ " ${RAN[*]} " == *" lifeboat "* ]] && ((${#OTHERS[@]})); then
        echo "# lifeboat's speed against each tool (its wall / lifeboat's wall; > 1: lifeboat is faster):"
        printf '#   %-10s' step; printf ' %8s' "${OTHERS[@]}"; echo
        for step in first unchanged changed restore one-file; do
            printf '#   %-10s' "$step"
            for tool in "${OTHERS[@]}"; do
                printf ' %7.2fx' "$(awk -v r="${WALL[$tool.$step]}" -v l="${WALL[lifeboat.$step]}" 'BEGIN { print r / l }')"
            done
            echo
        done
    fi
    echo "# versions: $(for tool in "${RAN[@]}"; do tool_version "$tool"; done | paste -sd';' | sed 's/;/; /g')"
} | tee "$RESULTS"
