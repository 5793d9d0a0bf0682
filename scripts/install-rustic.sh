#!/usr/bin/env bash
# Installs rustic (https://rustic.cli.rs, restic-compatible, in Rust) for scripts/bench-tree.sh.
# rustic is no Debian package, so it is built with cargo; the build is large (~20-60 min on 2
# cores: 29.5 min for 0.11.4 at -j 1, fat LTO), so it runs at nice 19, outside the workspace.
#
#   ./scripts/install-rustic.sh          # installs /opt/rustic/bin/rustic unless one is there
#
# Idempotent: when `rustic` is already on PATH, at RUSTIC_BIN or at $RUSTIC_ROOT/bin/rustic,
# it prints its version and does nothing.
#
# Environment:
#   RUSTIC_VERSION=0.11.4          the rustic-rs version (0.11.4 builds with Rust 1.95, --locked)
#   RUSTIC_ROOT=/opt/rustic        cargo install --root; bench-tree.sh looks in $RUSTIC_ROOT/bin too
#   RUSTIC_JOBS=1                  cargo -j (1 keeps a shared 2-core machine usable)
#   RUSTIC_TARGET_DIR=/tmp/rustic-target   CARGO_TARGET_DIR of the build (reused by a retry)
set -euo pipefail

RUSTIC_VERSION=${RUSTIC_VERSION:-0.11.4}
RUSTIC_ROOT=${RUSTIC_ROOT:-/opt/rustic}
RUSTIC_JOBS=${RUSTIC_JOBS:-1}
RUSTIC_TARGET_DIR=${RUSTIC_TARGET_DIR:-/tmp/rustic-target}

die() { echo "install-rustic: $*" >&2; exit 1; }

for bin in "${RUSTIC_BIN:-}" "$(command -v rustic || true)" "$RUSTIC_ROOT/bin/rustic"; do
    if [[ -n "$bin" && -x "$bin" ]]; then
        echo "install-rustic: already installed: $bin ($("$bin" --version 2>&1 | head -1))"
        exit 0
    fi
done

command -v cargo >/dev/null || die "needs cargo (rustup.rs) to build rustic-rs"
echo "install-rustic: building rustic-rs $RUSTIC_VERSION into $RUSTIC_ROOT (target dir $RUSTIC_TARGET_DIR, -j $RUSTIC_JOBS)" >&2
CARGO_TARGET_DIR=$RUSTIC_TARGET_DIR nice -n 19 cargo install rustic-rs --locked \
    --version "=$RUSTIC_VERSION" --root "$RUSTIC_ROOT" -j "$RUSTIC_JOBS" \
    || die "cargo install rustic-rs $RUSTIC_VERSION failed (an older --version may build: RUSTIC_VERSION=...)"
[[ -x "$RUSTIC_ROOT/bin/rustic" ]] || die "cargo install succeeded but $RUSTIC_ROOT/bin/rustic is missing"
echo "install-rustic: installed $RUSTIC_ROOT/bin/rustic ($("$RUSTIC_ROOT/bin/rustic" --version 2>&1 | head -1))"
