#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, starts throwaway
# PostgreSQL, MariaDB, Redis and S3 servers on loopback, runs every Rust test, then the
# independent Python decoder against backups written by the Rust binary.
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

step "cargo test (every crate, unit + integration + doc tests)"
# --no-fail-fast: one run reports every failing test binary, not just the first.
cargo test --workspace --locked --no-fail-fast

step "reference decoder: self-test, then bytes written by the Rust binary"
python3 scripts/test_decoder_selftest.py
# The binary `cargo test` built for the CLI's integration tests (a separate
# `cargo build -p lifeboat-cli` would resolve features differently and rebuild half the tree).
[[ -x target/debug/lifeboat ]] || { echo "target/debug/lifeboat was not built by cargo test" >&2; exit 1; }
bash scripts/test_decoder.sh target/debug/lifeboat
