#!/usr/bin/env bash
# Load benchmark of lifeboatd's API while a backup runs (a benchmark, not a timed test).
#
#   scripts/bench-api.sh                 defaults below
#   BENCH_MIB=400 BENCH_SECONDS=30 BENCH_CONNECTIONS=10 BENCH_DELAY_MS=40 scripts/bench-api.sh
#
# Builds release lifeboatd and lifeboat, makes a temporary repository, starts lifeboatd on a
# free loopback port with a stdin plan that backs up BENCH_MIB MiB of random data, starts that
# backup through the API, and while it runs holds GET /api/v1/status and GET /metrics (two wrk
# processes at once, each BENCH_CONNECTIONS connections pausing BENCH_DELAY_MS between
# requests, so a few hundred requests/s each rather than as many as the machine allows) for
# BENCH_SECONDS. Prints per endpoint: requests/s achieved, p50/p99 latency (wrk --latency),
# errors (socket errors and non-2xx answers, which must be 0), and whether the backup was
# still running when the load stopped. Exit 1 on any error. Needs Debian's wrk
# (scripts/services.sh installs it).
set -euo pipefail
LOG_TAG=bench-api
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

MIB="${BENCH_MIB:-400}"
SECONDS_LOAD="${BENCH_SECONDS:-30}"
CONNS="${BENCH_CONNECTIONS:-10}"
DELAY_MS="${BENCH_DELAY_MS:-40}"

command -v wrk >/dev/null || die "wrk is not installed (bash scripts/services.sh start installs it)"
command -v curl >/dev/null || die "curl is not installed"

log "cargo build --release -p lifeboatd -p lifeboat-cli"
cargo build --release --locked -p lifeboatd -p lifeboat-cli >&2
LIFEBOATD="$ROOT/target/release/lifeboatd"
LIFEBOAT="$ROOT/target/release/lifeboat"

work="$(mktemp -d "${TMPDIR:-/tmp}/lifeboat-bench-api.XXXXXX")"
daemon_pid=""
cleanup() { stop_pid "$daemon_pid" 100; rm -rf "$work"; }
trap cleanup EXIT

(umask 077; rand_hex 16 >"$work/repo.pw")
export LIFEBOAT_STATE_DIR="$work/known"
LIFEBOAT_REPO="$work/repo" LIFEBOAT_PASSWORD_FILE="$work/repo.pw" "$LIFEBOAT" init >&2
cat >"$work/lifeboat.toml" <<EOF
[service]
grace = "5s"

[plans.bulk]
repository = "$work/repo"
password-file = "$work/repo.pw"
source = { kind = "stdin", command = ["head", "-c", "$((MIB * 1024 * 1024))", "/dev/urandom"] }
EOF
if "$LIFEBOAT" token create --help >/dev/null 2>&1; then
    token="$("$LIFEBOAT" token create --state "$work/state/lifeboatd.sqlite" --name bench --scope operate \
        | grep -o 'lbt_[A-Za-z0-9_]*' | head -n1)"
else
    # A CLI without `token create`: lifeboatd's example writes the token the same way.
    cargo build --release --locked -p lifeboatd --example token >&2
    token="$("$ROOT/target/release/examples/token" "$work/state/lifeboatd.sqlite" bench operate)"
fi
[[ -n "$token" ]] || die "lifeboat token create printed no token"

port="$(free_port)"
TMPDIR="$work" "$LIFEBOATD" --config "$work/lifeboat.toml" --state "$work/state/lifeboatd.sqlite" \
    --listen "127.0.0.1:$port" >"$work/lifeboatd.log" 2>&1 &
daemon_pid=$!
base="http://127.0.0.1:$port"
wait_for 60 lifeboatd curl -fsS "$base/readyz" || { tail -n 20 "$work/lifeboatd.log" >&2; die "lifeboatd did not get ready"; }

auth=(-H "Authorization: Bearer $token")
job_json="$(curl -fsS -X POST "${auth[@]}" -H 'Content-Type: application/json' -d '{}' "$base/api/v1/plans/bulk/run")"
job="$(python3 -c 'import json,sys; v=json.loads(sys.argv[1]); j=v.get("job", v); print(j["id"] if isinstance(j, dict) else j)' "$job_json")"
job_state() {
    curl -fsS "${auth[@]}" "$base/api/v1/jobs/$job" \
        | python3 -c 'import json,sys; v=json.load(sys.stdin); print(v.get("job", v)["state"])'
}
job_running() { [[ "$(job_state)" == running ]]; }
wait_for 30 "job running" job_running || die "the backup job $job did not start: $(job_state)"
started=$(date +%s.%N)

cat >"$work/auth.lua" <<EOF
wrk.headers["Authorization"] = "Bearer $token"
function delay() return $DELAY_MS end
EOF
log "load: GET /api/v1/status and GET /metrics, each $CONNS connections with ${DELAY_MS} ms pauses, ${SECONDS_LOAD}s, backup of $MIB MiB running"
wrk -t2 -c"$CONNS" -d"${SECONDS_LOAD}s" --timeout 5s --latency -s "$work/auth.lua" "$base/api/v1/status" >"$work/status.txt" 2>&1 &
w1=$!
wrk -t2 -c"$CONNS" -d"${SECONDS_LOAD}s" --timeout 5s --latency -s "$work/auth.lua" "$base/metrics" >"$work/metrics.txt" 2>&1 &
w2=$!
wait "$w1" "$w2"
state_after="$(job_state)"

failed=0
report() {
    local name="$1" file="$2"
    local rps p50 p99 non2xx sockerr requests
    rps="$(awk '/^Requests\/sec:/ { print $2 }' "$file")"
    requests="$(awk '/requests in/ { print $1 }' "$file")"
    p50="$(awk '$1 == "50%" { print $2 }' "$file")"
    p99="$(awk '$1 == "99%" { print $2 }' "$file")"
    non2xx="$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$file")"; non2xx="${non2xx:-0}"
    sockerr="$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$file")"; sockerr="${sockerr:-0}"
    printf '%-16s %8s req/s  (%s requests)  p50 %-8s p99 %-8s non-2xx %s  socket errors %s\n' \
        "$name" "$rps" "$requests" "$p50" "$p99" "$non2xx" "$sockerr"
    if [[ -z "$rps" || "$non2xx" != 0 || "$sockerr" != 0 ]]; then failed=1; cat "$file" >&2; fi
}
echo
echo "lifeboatd API under load while a ${MIB} MiB backup runs ($(nproc) cores; wrk -t2 -c$CONNS, ${DELAY_MS} ms between requests per connection, ${SECONDS_LOAD}s):"
report "/api/v1/status" "$work/status.txt"
report "/metrics" "$work/metrics.txt"
echo "backup job $job after the load: $state_after"
[[ "$state_after" == running ]] || echo "NOTE: the backup finished before the load ended; raise BENCH_MIB for a load entirely during it"
for _ in $(seq 1 600); do s="$(job_state)"; [[ "$s" == running || "$s" == queued ]] || break; sleep 1; done
echo "backup job $job: $(job_state), $(python3 -c "print(round($(date +%s.%N) - $started, 1))") s after it started (to within 1 s)"
[[ "$(job_state)" == succeeded ]] || { tail -n 30 "$work/lifeboatd.log" >&2; die "the backup under load did not succeed"; }
exit "$failed"
