#!/usr/bin/env bash
# Cross-check: the Rust `lifeboat` binary writes backups, the independent Python reader
# scripts/lifeboat_decode.py (written from docs/FORMAT.md only) must restore them byte for
# byte, and must reject a corrupted copy with exit status 1 naming the damaged object.
#
# Usage: scripts/test_decoder.sh [path/to/lifeboat]
#   default binary: target/release/lifeboat, else target/debug/lifeboat (this script builds nothing)
# Needs: python3 with the `cryptography`, `zstandard` and `blake3` packages, cmp.
# Prints "decoder: N passed, M failed" last; exit status 0 only when M = 0.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
decoder="$here/lifeboat_decode.py"
py="${PYTHON:-python3}"

bin="${1:-}"
if [[ -z "$bin" ]]; then
    for c in "$root/target/release/lifeboat" "$root/target/debug/lifeboat"; do
        if [[ -x "$c" ]]; then bin="$c"; break; fi
    done
fi
if [[ -z "$bin" || ! -x "$bin" ]]; then
    echo "test_decoder: no lifeboat binary (give its path as \$1, or build target/release or target/debug)" >&2
    echo "decoder: 0 passed, 1 failed"
    exit 1
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

work="$(mktemp -d "${TMPDIR:-/tmp}/lifeboat-decoder-test.XXXXXX")"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; }
finish() {
    echo "decoder: $passed passed, $failed failed"
    if ((failed > 0)); then exit 1; fi
    exit 0
}

# The password goes through the environment only, never argv.
# Known config generations stay inside this run (lifeboat refuses a config older than one seen).
export LIFEBOAT_STATE_DIR="$work/state"
export LIFEBOAT_PASSWORD="decoder-test $(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
repo="$work/repo"

echo "test_decoder: binary $bin, work dir $work"

# ---------------------------------------------------------------- inputs
"$py" - "$work" <<'EOF'
import os, random, sys
w = sys.argv[1]
rnd = random.Random(20261121)
out = bytearray()
while len(out) < 5 * 1048576 + 12345:            # ~5 MiB, mixed compressibility
    if rnd.random() < 0.4:
        out += os.urandom(rnd.randint(1000, 200000))
    else:
        out += (b"row %06d: the quick brown fox jumps over the lazy dog\n" % rnd.randint(0, 999)) * rnd.randint(10, 3000)
open(os.path.join(w, "mixed.bin"), "wb").write(bytes(out[:5 * 1048576 + 12345]))
open(os.path.join(w, "empty.bin"), "wb").close()
EOF

# ---------------------------------------------------------------- helpers
data_files() { if [[ -d "$repo/data" ]]; then (cd "$repo" && find data -type f | sort); fi; }

# backup FILE: run `lifeboat backup stdin`, set $backup_id and $data_key (the new data object).
backup() {
    local input="$1" before after json
    before="$(data_files)"
    if ! json="$("$bin" backup stdin --name t --repo "$repo" --json <"$input" 2>"$work/backup.err")"; then
        echo "  lifeboat backup failed: $(tail -n 5 "$work/backup.err")"
        return 1
    fi
    # The id is the 32-hex string of the JSON output that names an existing backups/<id>.
    if ! backup_id="$(printf '%s' "$json" | "$py" -c '
import json, os, re, sys
repo = sys.argv[1]
text = sys.stdin.read().strip()
try:
    docs = [json.loads(text)]
except ValueError:
    docs = [json.loads(l) for l in text.splitlines() if l.strip().startswith("{")]
found = []
def walk(v, key=None):
    if isinstance(v, dict):
        for k, x in v.items():
            walk(x, k)
    elif isinstance(v, list):
        for x in v:
            walk(x, key)
    elif isinstance(v, str) and re.fullmatch(r"[0-9a-f]{32}", v) and os.path.isfile(os.path.join(repo, "backups", v)):
        found.append((key not in ("id", "backup_id", "backup"), v))
for d in docs:
    walk(d)
if not found:
    sys.exit("no backup id found in the --json output: " + text[:300])
print(sorted(found)[0][1])
' "$repo")"; then
        return 1
    fi
    after="$(data_files)"
    data_key="$(comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after") | sed '/^$/d')"
    if [[ "$(printf '%s\n' "$data_key" | sed '/^$/d' | wc -l)" -ne 1 ]]; then
        echo "  expected exactly one new data object, found: ${data_key:-none}"
        return 1
    fi
}

# check_restore LABEL ID EXPECTED_FILE [decoder args...]
check_restore() {
    local label="$1" id="$2" expected="$3"
    shift 3
    rm -f "$work/out.bin"
    if "$py" "$decoder" --repo "$repo" --backup "$id" --out "$work/out.bin" "$@" 2>"$work/dec.err" \
        && cmp -s "$expected" "$work/out.bin"; then
        pass "$label"
    else
        fail "$label: $(tail -n 3 "$work/dec.err")"
    fi
}

# expect_failure LABEL REPO ID NEEDLE: the decoder must exit 1, name NEEDLE, write no output.
expect_failure() {
    local label="$1" r="$2" id="$3" needle="$4" rc=0
    rm -f "$work/bad.bin"
    "$py" "$decoder" --repo "$r" --backup "$id" --out "$work/bad.bin" 2>"$work/dec.err" || rc=$?
    if [[ $rc -eq 1 ]] && grep -qF -- "$needle" "$work/dec.err" && [[ ! -e "$work/bad.bin" ]] \
        && ! grep -qF -- "$LIFEBOAT_PASSWORD" "$work/dec.err"; then
        pass "$label ($(head -n 1 "$work/dec.err" | cut -c1-160))"
    else
        fail "$label: exit $rc, stderr: $(cat "$work/dec.err")"
    fi
}

# flip_byte FILE OFFSET (negative = from the end)
flip_byte() {
    "$py" - "$1" "$2" <<'EOF'
import sys
path, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(path, "rb").read())
b[off] ^= 0x5a
open(path, "wb").write(b)
EOF
}

# ---------------------------------------------------------------- init and backups
if "$bin" init --format 2 --repo "$repo" >"$work/init.out" 2>&1; then
    pass "lifeboat init"
else
    fail "lifeboat init: $(tail -n 5 "$work/init.out")"
    finish
fi
segment_size="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("segment_size", 1048576))' "$repo/config")"
head -c $((2 * segment_size)) "$work/mixed.bin" >"$work/exact.bin"
echo "test_decoder: repository segment_size $segment_size; exact-multiple case is $((2 * segment_size)) bytes"

declare -A ids keys
for case in empty exact mixed; do
    if backup "$work/$case.bin"; then
        ids[$case]="$backup_id"
        keys[$case]="$data_key"
        pass "lifeboat backup stdin ($case: $(wc -c <"$work/$case.bin") bytes, backup $backup_id)"
    else
        fail "lifeboat backup stdin ($case)"
    fi
    sleep 1 # distinct `finished` times, so `latest` is well defined
done
if [[ -z "${ids[mixed]:-}" || -z "${ids[exact]:-}" || -z "${ids[empty]:-}" ]]; then
    finish
fi

# ---------------------------------------------------------------- restores
check_restore "decode ~5 MiB mixed stream by id" "${ids[mixed]}" "$work/mixed.bin"
check_restore "decode exact multiple of segment_size" "${ids[exact]}" "$work/exact.bin"
check_restore "decode empty stream" "${ids[empty]}" "$work/empty.bin"
check_restore "decode 'latest' (the mixed stream)" latest "$work/mixed.bin"
check_restore "decode by unique id prefix" "${ids[exact]:0:12}" "$work/exact.bin"
pwfile="$work/password.txt"
printf '%s\n' "$LIFEBOAT_PASSWORD" >"$pwfile"
check_restore "decode with --password-file" "${ids[mixed]}" "$work/mixed.bin" --password-file "$pwfile"

if "$py" "$decoder" --repo "$repo" --backup "${ids[mixed]}" --out - 2>"$work/dec.err" | cmp -s - "$work/mixed.bin"; then
    pass "decode to stdout"
else
    fail "decode to stdout: $(cat "$work/dec.err")"
fi

if list="$("$py" "$decoder" --repo "$repo" --list 2>"$work/dec.err")" \
    && [[ "$(printf '%s\n' "$list" | wc -l)" -eq 3 ]] \
    && grep -q "^${ids[mixed]}"$'\t' <<<"$list" && grep -q "^${ids[exact]}"$'\t' <<<"$list" \
    && grep -q "^${ids[empty]}"$'\t' <<<"$list"; then
    pass "--list shows the 3 backups"
else
    fail "--list: $(cat "$work/dec.err") ${list:-}"
fi

rc=0
LIFEBOAT_PASSWORD="not the password" "$py" "$decoder" --repo "$repo" --backup "${ids[mixed]}" --out "$work/bad.bin" \
    2>"$work/dec.err" || rc=$?
if [[ $rc -eq 1 ]] && grep -q "wrong password" "$work/dec.err" && [[ ! -e "$work/bad.bin" ]]; then
    pass "wrong password is rejected"
else
    fail "wrong password: exit $rc, $(cat "$work/dec.err")"
fi

# ---------------------------------------------------------------- corrupted copies
cp -a "$repo" "$work/repo2"
size="$(wc -c <"$work/repo2/${keys[mixed]}")"
flip_byte "$work/repo2/${keys[mixed]}" $((size / 2))
expect_failure "corrupted byte in the middle of the data object" "$work/repo2" "${ids[mixed]}" "${keys[mixed]}"

cp -a "$repo" "$work/repo3"
flip_byte "$work/repo3/${keys[exact]}" -1
expect_failure "corrupted last byte (tag) of a data object" "$work/repo3" "${ids[exact]}" "${keys[exact]}"

cp -a "$repo" "$work/repo4"
size="$(wc -c <"$work/repo4/${keys[mixed]}")"
truncate -s $((size - 1)) "$work/repo4/${keys[mixed]}"
expect_failure "truncated data object" "$work/repo4" "${ids[mixed]}" "${keys[mixed]}"

cp -a "$repo" "$work/repo5"
flip_byte "$work/repo5/backups/${ids[mixed]}" -20
expect_failure "corrupted manifest" "$work/repo5" "${ids[mixed]}" "backups/${ids[mixed]}"

# ---------------------------------------------------------------- key file slot
# The brief's form is `key add --key-file F`; this binary may instead take the new key file as
# `--new-key-file F` (with `--generate` to create it), `--key-file` being the unlock option.
key_help="$("$bin" key add --help 2>&1 || true)"
keyfile="$work/lifeboat.key"
key_add=()
if grep -q -- "--new-key-file" <<<"$key_help"; then
    key_add=(--new-key-file "$keyfile")
    if grep -q -- "--generate" <<<"$key_help"; then
        key_add+=(--generate)
    else
        head -c 32 /dev/urandom >"$keyfile"
    fi
elif grep -q -- "--key-file" <<<"$key_help"; then
    head -c 32 /dev/urandom >"$keyfile"
    key_add=(--key-file "$keyfile")
fi
if ((${#key_add[@]})); then
    if "$bin" key add --repo "$repo" "${key_add[@]}" >"$work/key.out" 2>&1 && [[ -s "$keyfile" ]]; then
        pass "lifeboat key add ${key_add[0]}"
        rm -f "$work/out.bin"
        if env -u LIFEBOAT_PASSWORD "$py" "$decoder" --repo "$repo" --backup "${ids[mixed]}" --keyfile "$keyfile" \
            --out "$work/out.bin" 2>"$work/dec.err" && cmp -s "$work/mixed.bin" "$work/out.bin"; then
            pass "decode with the key file only"
        else
            fail "decode with the key file only: $(cat "$work/dec.err")"
        fi
    else
        fail "lifeboat key add ${key_add[*]}: $(tail -n 5 "$work/key.out")"
    fi
else
    echo "skip: '$bin key add' has no --key-file / --new-key-file option; key file case not run"
fi

# ---------------------------------------------------------------- key rotation (re-wrapped manifests)
# Done on a copy, before any recipient-only manifest exists (the master key cannot re-wrap those).
if "$bin" key rotate --help >/dev/null 2>&1; then
    cp -a "$repo" "$work/repo6"
    # The copy has the repository's id: its newer generations must not make the original look rolled back.
    if LIFEBOAT_STATE_DIR="$work/state6" "$bin" key rotate --repo "$work/repo6" >"$work/rotate.out" 2>&1; then
        rm -f "$work/out.bin"
        if "$py" "$decoder" --repo "$work/repo6" --backup "${ids[mixed]}" --out "$work/out.bin" 2>"$work/dec.err" \
            && cmp -s "$work/mixed.bin" "$work/out.bin"; then
            pass "decode after lifeboat key rotate"
        else
            fail "decode after lifeboat key rotate: $(cat "$work/dec.err")"
        fi
    else
        fail "lifeboat key rotate: $(tail -n 5 "$work/rotate.out")"
    fi
fi

# ---------------------------------------------------------------- X25519 recipient (type-2 slots)
if "$bin" key recipient generate --help >/dev/null 2>&1; then
    identity="$work/identity.txt"
    if "$bin" key recipient generate --output "$identity" >"$work/gen.out" 2>&1 \
        && pub="$(grep -o 'lbpk1[0-9a-f]\{64\}' "$work/gen.out" "$identity" | head -n 1 | sed 's/^[^:]*://')" \
        && [[ -n "$pub" ]] \
        && "$bin" key recipient add --repo "$repo" "$pub" >"$work/rcpt.out" 2>&1 \
        && backup "$work/exact.bin"; then
        pass "lifeboat key recipient generate + add, backup $backup_id"
        rm -f "$work/out.bin"
        if env -u LIFEBOAT_PASSWORD "$py" "$decoder" --repo "$repo" --backup "$backup_id" --identity-file "$identity" \
            --out "$work/out.bin" 2>"$work/dec.err" && cmp -s "$work/exact.bin" "$work/out.bin"; then
            pass "decode with the X25519 identity only"
        else
            fail "decode with the X25519 identity only: $(cat "$work/dec.err")"
        fi
        # A write-only host: no password, only the recipient's public key and a registered writer key.
        before="$(data_files)"
        writer_pub=""
        if "$bin" key writer generate --output "$work/host.writer" >"$work/writer.out" 2>&1; then
            writer_pub="$(grep -o 'lbwp1[0-9a-f]\{64\}' "$work/writer.out" | head -n 1)"
            "$bin" key writer add --repo "$repo" "$writer_pub" >>"$work/writer.out" 2>&1 || writer_pub=""
        fi
        if [[ -n "$writer_pub" ]] && json="$(env -u LIFEBOAT_PASSWORD "$bin" backup stdin --name w --repo "$repo" \
            --recipient "$pub" --writer-key-file "$work/host.writer" --json \
            <"$work/mixed.bin" 2>"$work/backup.err")" \
            && wo_id="$(printf '%s' "$json" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["id"])')"; then
            rm -f "$work/out.bin"
            if env -u LIFEBOAT_PASSWORD "$py" "$decoder" --repo "$repo" --backup "$wo_id" --identity-file "$identity" \
                --out "$work/out.bin" 2>"$work/dec.err" && cmp -s "$work/mixed.bin" "$work/out.bin"; then
                pass "decode a write-only (--recipient) backup with the identity"
            else
                fail "decode a write-only (--recipient) backup with the identity: $(cat "$work/dec.err")"
            fi
        else
            fail "write-only backup with --recipient: $(tail -n 5 "$work/backup.err")"
        fi
    else
        fail "recipient set-up: $(cat "$work/gen.out" "$work/rcpt.out" 2>/dev/null | grep -v lbsk1 | tail -n 5)"
    fi
else
    echo "skip: '$bin key recipient generate' is absent; recipient case not run"
fi

# ---------------------------------------------------------------- files backup (tar tree)
# The decoder restores the raw `tree` object; Python's tarfile must read it: a pre-1970
# mtime (a PAX record) and a hard link (type 1) included.
tree_src="$work/tree-src"
mkdir -p "$tree_src/sub"
printf 'from 1960\n' >"$tree_src/old.txt"
touch -d @-315619200 "$tree_src/old.txt"
printf 'linked\n' >"$tree_src/first"
ln "$tree_src/first" "$tree_src/sub/second"
if json="$("$bin" backup files "$tree_src" --repo "$repo" --json 2>"$work/backup.err")" \
    && tree_id="$(printf '%s' "$json" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["id"])')"; then
    rm -f "$work/tree.tar"
    if "$py" "$decoder" --repo "$repo" --backup "$tree_id" --out "$work/tree.tar" 2>"$work/dec.err" \
        && "$py" - "$work/tree.tar" "$(cd "$tree_src" && pwd -P)" >"$work/tar.out" 2>&1 <<'EOF_PY'
import sys, tarfile
tar, root = sys.argv[1], sys.argv[2].lstrip("/")
with tarfile.open(tar) as t:
    old = t.getmember(root + "/old.txt")
    second = t.getmember(root + "/sub/second")
    assert old.mtime == -315619200, old.mtime
    assert old.mode <= 0o7777, "mode holds permission bits only: " + oct(old.mode)
    assert second.islnk() and second.linkname == root + "/first", (second.type, second.linkname)
    assert t.extractfile(root + "/first").read() == b"linked\n"
EOF_PY
    then
        pass "decode a files backup; tarfile reads its 1960 mtime and hard link"
    else
        fail "decode a files backup: $(cat "$work/dec.err" "$work/tar.out" 2>/dev/null | tail -n 5)"
    fi
else
    fail "lifeboat backup files: $(tail -n 5 "$work/backup.err")"
fi

# ---------------------------------------------------------------- small segments, no compression
init_help="$("$bin" init --help 2>&1 || true)"
if grep -q -- "--segment-size" <<<"$init_help" && grep -q -- "--compression-level" <<<"$init_help"; then
    repo="$work/small"
    if "$bin" init --format 2 --repo "$repo" --segment-size 4096 --compression-level 0 >"$work/init.out" 2>&1; then
        head -c 3 "$work/mixed.bin" >"$work/three.bin"
        head -c $((4096 * 7)) "$work/mixed.bin" >"$work/seven.bin"
        head -c 300001 "$work/mixed.bin" >"$work/odd.bin"
        for case in empty three seven odd; do
            if backup "$work/$case.bin"; then
                check_restore "segment_size 4096, compression 0: $case ($(wc -c <"$work/$case.bin") bytes)" \
                    "$backup_id" "$work/$case.bin"
            else
                fail "backup into the 4096-byte segment repository ($case)"
            fi
        done
    else
        fail "lifeboat init --segment-size 4096 --compression-level 0: $(tail -n 5 "$work/init.out")"
    fi
fi

# ---------------------------------------------------------------- format 3 (chunks, packs, trees)
# A format 3 repository: the decoder rebuilds the blob map from the packs' own directories,
# restores the tree (files, a multi-chunk file, a symlink, a hard link, a FIFO, modes and
# mtimes) and one file by path, and names the pack when a byte of it is flipped.
if grep -q -- "--format" <<<"$("$bin" init --help 2>&1 || true)"; then
    repo="$work/v3"
    v3_src="$work/v3-src"
    mkdir -p "$v3_src/sub/deeper"
    printf 'alpha\n' >"$v3_src/a.txt"
    chmod 0640 "$v3_src/a.txt"
    touch -d @1000000000 "$v3_src/a.txt"
    head -c $((5 * 1048576)) "$work/mixed.bin" >"$v3_src/sub/big.bin"
    ln -s ../a.txt "$v3_src/sub/link"
    ln "$v3_src/a.txt" "$v3_src/sub/deeper/hard"
    mkfifo "$v3_src/fifo"
    : >"$v3_src/empty"
    export XDG_CACHE_HOME="$work/cache"
    if "$bin" init --repo "$repo" --format 3 >"$work/init.out" 2>&1 \
        && "$bin" backup files "$v3_src" --repo "$repo" >"$work/backup.out" 2>&1 \
        && "$bin" backup files "$v3_src" --repo "$repo" >>"$work/backup.out" 2>&1; then
        real_src="$(cd "$v3_src" && pwd -P)"
        if "$py" "$decoder" --repo "$repo" --list >"$work/v3.list" 2>"$work/dec.err" && [[ $(wc -l <"$work/v3.list") -eq 2 ]]; then
            pass "format 3: list two backups"
        else
            fail "format 3: list: $(cat "$work/dec.err" "$work/v3.list" | tail -n 5)"
        fi
        if "$py" "$decoder" --repo "$repo" --backup latest --target "$work/v3-out" 2>"$work/dec.err" \
            && diff -r --no-dereference -x fifo "$v3_src" "$work/v3-out$real_src" >"$work/diff.out" 2>&1 \
            && [[ -p "$work/v3-out$real_src/fifo" ]] \
            && [[ $(stat -c '%a %Y' "$work/v3-out$real_src/a.txt") == "640 1000000000" ]] \
            && [[ $(stat -c %i "$work/v3-out$real_src/a.txt") == $(stat -c %i "$work/v3-out$real_src/sub/deeper/hard") ]]; then
            pass "format 3: restore a tree (multi-chunk file, symlink, hard link, FIFO, mode, mtime)"
        else
            fail "format 3: restore a tree: $(cat "$work/dec.err" "$work/diff.out" 2>/dev/null | tail -n 5)"
        fi
        if "$py" "$decoder" --repo "$repo" --backup latest --path "$real_src/sub/big.bin" --out "$work/one.bin" 2>"$work/dec.err" \
            && cmp -s "$work/one.bin" "$v3_src/sub/big.bin"; then
            pass "format 3: restore one file by its path"
        else
            fail "format 3: restore one file: $(tail -n 5 "$work/dec.err")"
        fi
        pack="$(find "$repo/packs" -type f -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2)"
        "$py" - "$pack" <<'EOF_PY'
import sys
path = sys.argv[1]
with open(path, "r+b") as f:
    data = bytearray(f.read())
    data[len(data) // 2] ^= 0x01
    f.seek(0)
    f.write(data)
EOF_PY
        rm -rf "$work/v3-bad"
        if "$py" "$decoder" --repo "$repo" --backup latest --target "$work/v3-bad" 2>"$work/dec.err"; then
            fail "format 3: a flipped byte in a pack was not noticed"
        elif grep -q "packs/" "$work/dec.err" && grep -q "fails authentication" "$work/dec.err"; then
            pass "format 3: a flipped byte in a pack is refused, naming the pack"
        else
            fail "format 3: damaged pack: unexpected message: $(tail -n 3 "$work/dec.err")"
        fi
    else
        fail "format 3 backup: $(cat "$work/init.out" "$work/backup.out" | tail -n 5)"
    fi

    # A format 3 stream backup (`backup stdin`, in a repository of its own so that the
    # damaged pack above plays no part): the decoder resolves the record's file node in the
    # root tree, reads its chunks and checks the stream's plain_size and plain_blake3.
    repo="$work/v3-stream"
    if "$bin" init --repo "$repo" --format 3 >"$work/init.out" 2>&1 \
        && "$bin" backup stdin --repo "$repo" --name app.sql <"$work/mixed.bin" >"$work/backup.out" 2>&1; then
        if "$py" "$decoder" --repo "$repo" --backup latest --out "$work/v3-stream.bin" 2>"$work/dec.err" \
            && cmp -s "$work/v3-stream.bin" "$work/mixed.bin"; then
            pass "format 3: decode a backup stdin stream into a file"
        else
            fail "format 3: decode a stream: $(tail -n 5 "$work/dec.err")"
        fi
        if "$py" "$decoder" --repo "$repo" --backup latest --object stream --out - 2>"$work/dec.err" \
            | cmp -s - "$work/mixed.bin"; then
            pass "format 3: decode a backup stdin stream to standard output"
        else
            fail "format 3: decode a stream to stdout: $(tail -n 5 "$work/dec.err")"
        fi
    else
        fail "format 3 stream backup: $(cat "$work/init.out" "$work/backup.out" | tail -n 5)"
    fi
fi

finish
