#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, starts throwaway
# PostgreSQL, MariaDB, Redis and S3 servers on loopback (and installs Prometheus and wrk),
# runs every Rust test (lifeboatd's ten-minute real-clock test in the background beside the
# rest), checks deploy/, then the independent Python decoder against backups written by the
# Rust binary.
#
#   ./scripts/test.sh            everything
#   LIFEBOAT_KEEP_SERVICES=1     leave the servers running afterwards (faster reruns)
#
# A server that cannot be installed or started fails the run: nothing is skipped.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
step() { printf '\n==> %s\n' "$*" >&2; }

# A full disk shows up later as strange failures (a database PANICs writing its WAL), so
# say up front how much room there is.
free_kib=$(df -Pk "$root" | awk 'NR == 2 { print $4 }')
echo "free disk under $root: $((free_kib / 1024)) MiB" >&2
if (( free_kib < 6 * 1024 * 1024 )); then
    echo "WARNING: under 6 GiB free; the build and the test servers may run out of disk" >&2
fi

step "python packages for the reference decoder"
python3 -c 'import blake3, cryptography, zstandard' 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check blake3 'cryptography>=44' zstandard

stop_services() {
    if [[ "${LIFEBOAT_KEEP_SERVICES:-0}" != 1 ]]; then
        bash scripts/services.sh stop >/dev/null 2>&1 || true
        bash scripts/s3-server.sh stop >/dev/null 2>&1 || true
        bash scripts/webdav-server.sh stop >/dev/null 2>&1 || true
    fi
}
trap stop_services EXIT

step "database servers (PostgreSQL, MariaDB, Redis)"
bash scripts/services.sh start
step "S3 servers (s3s-fs, moto) and the WebDAV server"
bash scripts/s3-server.sh start
bash scripts/webdav-server.sh start
set -a
# shellcheck disable=SC1091
source target/test-services.env
# shellcheck disable=SC1091
source target/test-s3.env
# shellcheck disable=SC1091
source target/test-webdav.env
set +a

step "build every test binary once"
# The same build `cargo test --workspace` uses (same features), so the run below only runs.
# Its list of artifacts names lifeboatd's test binary, for the background test next.
cargo test --workspace --locked --no-run --message-format=json-render-diagnostics >target/test-artifacts.json
lifeboatd_it="$(python3 - <<'PY'
import json
for line in open("target/test-artifacts.json"):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "it" \
            and m.get("manifest_path", "").endswith("crates/server/Cargo.toml"):
        print(m["executable"])
PY
)"
[[ -x "$lifeboatd_it" ]] || { echo "lifeboatd's test binary not found in cargo's artifacts" >&2; exit 1; }

step "lifeboatd's real-clock test (ten minutes) started in the background"
# A plan scheduled every minute must run exactly ten times in ten real minutes. It is one
# #[ignore]d test in crates/server/tests/it; it runs beside the rest of the suite (it is
# mostly asleep) and is waited for at the end.
real_clock_log="$root/target/real-clock-test.log"
(cd crates/server && exec "$lifeboatd_it" --ignored --exact --nocapture \
    real_clock::a_plan_every_minute_runs_ten_times_in_ten_real_minutes) >"$real_clock_log" 2>&1 &
real_clock_pid=$!
stop_real_clock() { kill "$real_clock_pid" 2>/dev/null || true; stop_services; }
trap stop_real_clock EXIT

step "deploy/ checks (systemd-analyze verify and security, Kubernetes manifests, Dockerfile)"
bash scripts/check-deploy.sh target/debug/lifeboatd

step "cargo test (every crate, unit + integration + doc tests)"
# --no-fail-fast: one run reports every failing test binary, not just the first.
suite=0
cargo test --workspace --locked --no-fail-fast || suite=$?

step "waiting for lifeboatd's real-clock test"
real_clock=0
wait "$real_clock_pid" || real_clock=$?
trap stop_services EXIT
tail -n 25 "$real_clock_log" >&2
if (( real_clock != 0 )); then echo "lifeboatd's real-clock test FAILED (log: $real_clock_log)" >&2; fi
if (( suite != 0 || real_clock != 0 )); then exit 1; fi

step "reference decoder: self-test, then bytes written by the Rust binary"
python3 scripts/test_decoder_selftest.py
# The binary `cargo test` built for the CLI's integration tests (a separate
# `cargo build -p lifeboat-cli` would resolve features differently and rebuild half the tree).
[[ -x target/debug/lifeboat ]] || { echo "target/debug/lifeboat was not built by cargo test" >&2; exit 1; }
bash scripts/test_decoder.sh target/debug/lifeboat
