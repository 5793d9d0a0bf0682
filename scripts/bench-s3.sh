#!/usr/bin/env bash
# Benchmark: upload and download of one object through lifeboat-storage's S3 backend versus
# `aws s3 cp` of the same bytes to the same server, in one run. Prints MiB/s, the ratio
# (target >= 1.0x) and our peak RSS against the bound part_size x (parallel + 1).
#
#   scripts/bench-s3.sh [SIZE_MIB]      default 1024 (1 GiB)
#
# Starts the loopback S3 servers (scripts/s3-server.sh) and installs awscli (pip) when
# missing. Uses s3s-fs by default; BENCH_ENDPOINT=http://... points it elsewhere.
set -euo pipefail

LOG_TAG=bench-s3
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SIZE_MIB="${1:-1024}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

"$ROOT/scripts/s3-server.sh" start
set -a
# shellcheck source=/dev/null # the env file s3-server.sh wrote
. "${LIFEBOAT_TEST_S3_ENV:-$ROOT/target/test-s3.env}"
set +a
ENDPOINT="${BENCH_ENDPOINT:-$LIFEBOAT_TEST_S3_ENDPOINT}"
command -v aws >/dev/null || { log "pip install awscli"; python3 -m pip install -q awscli >&2; }

# BENCH_PROFILE=dev reuses a debug build (dependencies are built at opt-level 2 in this workspace).
PROFILE="${BENCH_PROFILE:-release}"
log "building the s3_copy example ($PROFILE)"
cargo build -q --profile "$PROFILE" -p lifeboat-storage --features "${BENCH_FEATURES:-s3}" --example s3_copy
if [[ "$PROFILE" == dev ]]; then BIN="$CARGO_TARGET_DIR/debug/examples/s3_copy"; else BIN="$CARGO_TARGET_DIR/$PROFILE/examples/s3_copy"; fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/lifeboat-bench-s3.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
log "writing $SIZE_MIB MiB of random bytes"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$WORK/src.bin"
BUCKET="bench-$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
aws --endpoint-url "$ENDPOINT" s3api create-bucket --bucket "$BUCKET" >/dev/null

now() { date +%s.%N; }
rate() { python3 -c "print(f'{$SIZE_MIB / ($2 - $1):.1f}')"; }
peak() { grep -o 'peak RSS [0-9]* MiB' | grep -o '[0-9]*'; }

# aws s3 cp: default settings (8 MiB multipart chunks, 10 concurrent requests).
t0=$(now); aws --endpoint-url "$ENDPOINT" s3 cp --only-show-errors "$WORK/src.bin" "s3://$BUCKET/aws.bin"; t1=$(now)
aws_up=$(rate "$t0" "$t1")
t0=$(now); aws --endpoint-url "$ENDPOINT" s3 cp --only-show-errors "s3://$BUCKET/aws.bin" "$WORK/aws.out"; t1=$(now)
aws_down=$(rate "$t0" "$t1")

URL="s3://$BUCKET/lb?endpoint=$ENDPOINT&region=${AWS_REGION:-us-east-1}"
t0=$(now); out_up="$("$BIN" upload "$WORK/src.bin" "$URL" obj.bin)"; t1=$(now)
lb_up=$(rate "$t0" "$t1")
t0=$(now); out_down="$("$BIN" download "$URL" obj.bin "$WORK/lb.out")"; t1=$(now)
lb_down=$(rate "$t0" "$t1")

cmp "$WORK/src.bin" "$WORK/lb.out" || { log "ERROR: downloaded bytes differ"; exit 1; }
cmp "$WORK/src.bin" "$WORK/aws.out" || { log "ERROR: aws downloaded bytes differ"; exit 1; }

bound=$(( 16 * (4 + 1) ))
echo "object: $SIZE_MIB MiB, endpoint $ENDPOINT"
printf '%-10s %12s %12s %8s\n' "" "lifeboat" "aws s3 cp" "ratio"
printf '%-10s %9s MiB/s %7s MiB/s %7sx\n' upload "$lb_up" "$aws_up" "$(python3 -c "print(f'{$lb_up/$aws_up:.2f}')")"
printf '%-10s %9s MiB/s %7s MiB/s %7sx\n' download "$lb_down" "$aws_down" "$(python3 -c "print(f'{$lb_down/$aws_down:.2f}')")"
echo "peak RSS: upload $(echo "$out_up" | peak) MiB, download $(echo "$out_down" | peak) MiB" \
     "(buffer bound part_size x (parallel+1) = $bound MiB, plus the runtime)"
