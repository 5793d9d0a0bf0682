#!/usr/bin/env bash
# Lifeboat's main job on its embedded default: back up a folder into a local filesystem
# repository, verify it, restore it into a new folder and compare the two.
#
#   ./scripts/demo.sh [FOLDER]        default FOLDER: this project's docs/
#
# The repository and the restored copy are left in a temporary directory that is printed.
# Set LIFEBOAT_PASSWORD to choose the password (default: a demo password).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$(cd "${1:-$root/docs}" && pwd)"
cargo build --release --locked --quiet --manifest-path "$root/Cargo.toml" -p lifeboat-cli
lifeboat="$root/target/release/lifeboat"
work="$(mktemp -d "${TMPDIR:-/tmp}/lifeboat-demo.XXXXXX")"
export LIFEBOAT_REPO="file://$work/repo"
export LIFEBOAT_PASSWORD="${LIFEBOAT_PASSWORD:-demo password, change me}"

run() { printf '\n$ %s\n' "$*"; "$@"; }
run "$lifeboat" init
run "$lifeboat" backup files "$src" --plan demo --tag first
run "$lifeboat" list
run "$lifeboat" verify --deep
run "$lifeboat" restore latest --target "$work/restored"
run diff -r "$src" "$work/restored$src"
printf '\nRestored copy is identical. Repository: %s\n' "$work/repo"
