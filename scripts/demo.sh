#!/usr/bin/env bash
# Lifeboat's main job on its embedded default: back up a folder into a local filesystem
# repository, verify it, restore it into a new folder and compare the two; then the same
# folder as a plan run by lifeboatd (the service, on its embedded SQLite state): start it on
# loopback, make a token, run the plan through the API, show the status, stop it.
#
#   ./scripts/demo.sh [FOLDER]        default FOLDER: this project's docs/
#
# The repository and the restored copy are left in a temporary directory that is printed.
# Set LIFEBOAT_PASSWORD to choose the password (default: a demo password).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$(cd "${1:-$root/docs}" && pwd)"
cargo build --release --locked --quiet --manifest-path "$root/Cargo.toml" -p lifeboat-cli -p lifeboatd
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

# The service: the same folder as a plan, run by lifeboatd through its HTTP API.
lifeboatd="$root/target/release/lifeboatd"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat >"$work/lifeboat.toml" <<TOML
[service]
listen = "127.0.0.1:$port"
state = "$work/lifeboatd.sqlite"

[plans.demo]
repository = "file://$work/repo"
password-env = "LIFEBOAT_PASSWORD"
source = { kind = "files", paths = ["$src"] }
schedule = { cron = "0 2 * * *" }
TOML
run "$lifeboatd" --config "$work/lifeboat.toml" --check
"$lifeboatd" --config "$work/lifeboat.toml" 2>"$work/lifeboatd.log" &
daemon=$!
trap 'kill "$daemon" 2>/dev/null || true' EXIT
until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    kill -0 "$daemon" 2>/dev/null || { cat "$work/lifeboatd.log" >&2; exit 1; }
    sleep 0.2
done
token="$("$lifeboat" token create --state "$work/lifeboatd.sqlite" --name demo --scope operate)"
api() { curl -fsS -H "Authorization: Bearer $token" "$@"; }
printf '\n$ curl -X POST http://127.0.0.1:%s/api/v1/plans/demo/run\n' "$port"
job="$(api -X POST "http://127.0.0.1:$port/api/v1/plans/demo/run" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')"
echo "job $job queued"
state=queued
while [[ "$state" == queued || "$state" == running ]]; do
    sleep 0.5
    state="$(api "http://127.0.0.1:$port/api/v1/jobs/$job" | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])')"
done
echo "job $job $state"
# The CLI asks the running service; the token comes from the environment, never argv.
export LIFEBOAT_SERVER="http://127.0.0.1:$port"
LIFEBOAT_TOKEN="$token" run "$lifeboat" status
LIFEBOAT_TOKEN="$token" run "$lifeboat" jobs
kill -TERM "$daemon"
wait "$daemon"
trap - EXIT
[[ "$state" == succeeded ]] || { echo "the plan's job ended $state (log: $work/lifeboatd.log)" >&2; exit 1; }
printf '\nlifeboatd ran the plan and stopped cleanly. Its state: %s\n' "$work/lifeboatd.sqlite"
