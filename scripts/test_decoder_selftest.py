#!/usr/bin/env python3
"""Self-test of scripts/lifeboat_decode.py against scripts/lifeboat_encode_testvector.py.

Both are written from docs/FORMAT.md only. Round trips must restore the exact bytes;
every tampering (header, segment, tag, length field, truncation at and between segment
boundaries, dropped / reordered / duplicated / spliced segments, wrong credentials,
malformed zstd, wrong sizes and digests) must fail with exit status 1, one message on
stderr naming the object (and the segment where relevant), and no output file.

Run: python3 scripts/test_decoder_selftest.py      (prints "selftest: N passed, M failed")
"""

import contextlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lifeboat_decode as D  # noqa: E402
import lifeboat_encode_testvector as E  # noqa: E402

import blake3  # noqa: E402
import zstandard  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey  # noqa: E402

DECODER = os.path.join(HERE, "lifeboat_decode.py")
PW = "correct horse \u2603 battery"
SS = 4096
passed, failed = 0, 0
TMP = tempfile.mkdtemp(prefix="lifeboat-selftest-")


def result(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}: {detail}")


def mixed_data(n, seed):
    rnd = random.Random(seed)
    out = bytearray()
    while len(out) < n:
        if rnd.random() < 0.5:
            out += rnd.randbytes(rnd.randint(100, 3000))
        else:
            out += (b"line %d of very repetitive text\n" % rnd.randint(0, 9)) * rnd.randint(10, 200)
    return bytes(out[:n])


def decode(repo_root, backup=None, *extra, password=PW, out_name="out.bin", lst=False):
    """Run the decoder in-process. Returns (rc, stderr, output bytes or None, out path)."""
    out = os.path.join(TMP, out_name)
    if os.path.exists(out):
        os.unlink(out)
    argv = ["--repo", repo_root] + (["--list"] if lst else ["--backup", backup, "--out", out]) + list(extra)
    old = os.environ.pop("LIFEBOAT_PASSWORD", None)
    if password is not None:
        os.environ["LIFEBOAT_PASSWORD"] = password
    err, sout = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(sout):
            try:
                rc = D.main(argv)
            except SystemExit as e:
                rc = e.code
    finally:
        os.environ.pop("LIFEBOAT_PASSWORD", None)
        if old is not None:
            os.environ["LIFEBOAT_PASSWORD"] = old
    data = None
    if os.path.exists(out):
        with open(out, "rb") as f:
            data = f.read()
    if lst:
        return rc, err.getvalue(), sout.getvalue(), out
    return rc, err.getvalue(), data, out


def expect_ok(name, repo_root, backup, expected, *extra, **kw):
    rc, err, data, _ = decode(repo_root, backup, *extra, **kw)
    good = rc == 0 and data == expected
    detail = f"rc={rc} stderr={err.strip()!r} out={'none' if data is None else len(data)} want={len(expected)}"
    result(name, good, detail)
    return err


def expect_fail(name, repo_root, backup, needles, *extra, **kw):
    rc, err, data, out = decode(repo_root, backup, *extra, **kw)
    partials = [f for f in os.listdir(TMP) if f.endswith(".partial")]
    errors = [line for line in err.splitlines() if "error:" in line]
    problems = []
    if rc != 1:
        problems.append(f"rc={rc}")
    if data is not None:
        problems.append("output file exists")
    if partials:
        problems.append(f"partial files left: {partials}")
    if len(errors) != 1:
        problems.append(f"{len(errors)} error lines")
    for n in needles:
        if n not in err:
            problems.append(f"missing {n!r}")
    if PW in err or "horse" in err:
        problems.append("password printed")
    result(name, not problems, f"{'; '.join(problems)}; stderr={err.strip()!r}")


def new_repo(name, password=PW, segment_size=SS):
    r = E.TestRepo(os.path.join(TMP, name), segment_size)
    if password is not None:
        r.add_password_slot(password)
    r.write_config()
    return r


def backup_of(repo, enc, stored=None, doc_kw=None, manifest_kw=None, **entry_overrides):
    """Store `enc` (or `stored` bytes) with a manifest that matches what is stored."""
    entry = repo.store_data("stream", enc, stored, **entry_overrides)
    bid = os.urandom(16)
    repo.write_manifest(bid, repo.manifest_doc(bid, [entry], **(doc_kw or {})), **(manifest_kw or {}))
    return bid.hex(), entry["key"]


def enc_with_bodies(bodies, compression=1, **kw):
    return E.encode_object(1, kw.pop("plain", b""), segment_size=SS, compression=compression, bodies=bodies, **kw)


def z(data, **kw):
    return zstandard.ZstdCompressor(level=3, **kw).compress(data)


def main():
    data = mixed_data(5 * SS + 1234, 1)  # six segments: 0..5
    R = new_repo("main")

    # ------------------------------------------------------------ round trips
    bid, entry0, enc = R.stream_backup(data, segment_size=SS)
    key = entry0["key"]
    expect_ok("roundtrip zstd, 6 segments", R.root, bid, data)
    assert len(enc.segments) == 6
    for comp in (0, 1):
        b, _, _ = R.stream_backup(data, segment_size=SS, compression=comp)
        expect_ok(f"roundtrip compression={comp}", R.root, b, data)
        b, _, e = R.stream_backup(b"", segment_size=SS, compression=comp)
        expect_ok(f"empty stream compression={comp} (one segment)", R.root, b, b"")
        result(f"empty stream has exactly one segment (compression={comp})", len(e.segments) == 1)
        b, _, e = R.stream_backup(data[:3 * SS], segment_size=SS, compression=comp)
        expect_ok(f"exact multiple of segment_size compression={comp}", R.root, b, data[:3 * SS])
        b, _, _ = R.stream_backup(b"x", segment_size=SS, compression=comp)
        expect_ok(f"one byte compression={comp}", R.root, b, b"x")
    big = mixed_data(2 * 1048576 + 777, 2)
    b, _, _ = R.stream_backup(big, segment_size=1048576)
    expect_ok("1 MiB segments, 2 MiB + 777 mixed", R.root, b, big)
    b, _, _ = R.stream_backup(data, segment_size=16777216)
    expect_ok("segment_size 16 MiB (upper bound)", R.root, b, data)

    # stdout through a real process, and the exit status of the CLI itself
    env = dict(os.environ, LIFEBOAT_PASSWORD=PW)
    p = subprocess.run([sys.executable, DECODER, "--repo", R.root, "--backup", bid, "--out", "-"],
                       capture_output=True, env=env)
    result("CLI --out - writes the stream to stdout", p.returncode == 0 and p.stdout == data, p.stderr.decode())
    env["LIFEBOAT_PASSWORD"] = "wrong"
    p = subprocess.run([sys.executable, DECODER, "--repo", R.root, "--backup", bid, "--out", "-"],
                       capture_output=True, env=env)
    result("CLI wrong password exits 1 with nothing on stdout",
           p.returncode == 1 and p.stdout == b"" and b"wrong password" in p.stderr, p.stderr.decode())
    p = subprocess.run([sys.executable, DECODER, "--repo", R.root], capture_output=True, env=env)
    result("CLI usage error exits 1", p.returncode == 1, p.stderr.decode())

    # password file with a trailing newline
    pwf = os.path.join(TMP, "pw.txt")
    with open(pwf, "w", encoding="utf-8") as f:
        f.write(PW + "\n")
    expect_ok("password file (trailing newline stripped)", R.root, bid, data, "--password-file", pwf, password=None)

    with open(pwf, "w", encoding="utf-8") as f:
        f.write(PW + "\r\nsecond line is not part of it\n")
    expect_ok("password file: first line only (CRLF)", R.root, bid, data, "--password-file", pwf, password=None)
    with open(pwf, "w", encoding="utf-8") as f:
        f.write(PW + " \n")
    expect_fail("password file: trailing space is part of the password", R.root, bid, ["wrong password"],
                "--password-file", pwf, password=None)

    # keyfile slot
    K = new_repo("keyfile", password="other")
    kf = os.path.join(TMP, "key.bin")
    kcontent = os.urandom(64) + b"\n"
    with open(kf, "wb") as f:
        f.write(kcontent)
    K.add_keyfile_slot(kcontent)
    K.write_config()
    kb, _, _ = K.stream_backup(data, segment_size=SS)
    expect_ok("keyfile slot", K.root, kb, data, "--keyfile", kf, password=None)
    with open(os.path.join(TMP, "key2.bin"), "wb") as f:
        f.write(kcontent[:-1])
    expect_fail("wrong keyfile (one byte shorter)", K.root, kb, ["wrong keyfile"], "--keyfile",
                os.path.join(TMP, "key2.bin"), password=None)

    # X25519 recipients
    ident = X25519PrivateKey.generate()
    pub = ident.public_key().public_bytes_raw()
    idf = os.path.join(TMP, "id.txt")
    with open(idf, "w") as f:
        f.write("lbsk1" + ident.private_bytes_raw().hex() + "\n# comment\n")
    X = new_repo("recipient")
    X.add_recipient(pub)
    X.write_config()
    xb, _, _ = X.stream_backup(data, segment_size=SS)
    expect_ok("identity opens a type-2 slot", X.root, xb, data, "--identity-file", idf, password=None)
    expect_ok("password still opens the type-1 slot", X.root, xb, data)
    xb2, _, _ = X.stream_backup(data, segment_size=SS, master=False)
    expect_ok("identity, manifest without a master slot", X.root, xb2, data, "--identity-file", idf, password=None)
    expect_fail("password only, manifest without a master slot", X.root, xb2, [f"backups/{xb2}", "no key slot"])
    other = X25519PrivateKey.generate()
    idf2 = os.path.join(TMP, "id2.txt")
    with open(idf2, "w") as f:
        f.write("lbsk1" + other.private_bytes_raw().hex() + "\n")
    expect_fail("identity that is not a recipient", X.root, xb2, [f"backups/{xb2}", "no key slot"],
                "--identity-file", idf2, password=None)
    # Object format 2: the slot section is bound into every segment, so an identity holder
    # notices a master-key slot that was changed (a bit of its key id) or removed.
    xpath = os.path.join(X.root, "backups", xb)
    with open(xpath, "rb") as f:
        xbytes = f.read()
    xslot_id = 72 + 2 + 3  # first slot (the master key's): its key id
    with open(xpath, "wb") as f:
        f.write(xbytes[:xslot_id] + bytes([xbytes[xslot_id] ^ 1]) + xbytes[xslot_id + 1:])
    expect_fail("identity, master slot key id flipped", X.root, xb, [f"backups/{xb}", "segment 0",
                "authentication failed"], "--identity-file", idf, password=None)
    expect_fail("password, master slot key id flipped", X.root, xb, [f"backups/{xb}", "master-key slot",
                "does not open (damaged or forged"])
    with open(xpath, "wb") as f:
        f.write(xbytes)
    # Object format 1 (written before the slot section was authenticated) is still read.
    xb1, _, _ = X.stream_backup(data, segment_size=SS, header_kw={"version": 1})
    expect_ok("object format 1 manifest", X.root, xb1, data)
    expect_ok("object format 1 manifest, identity", X.root, xb1, data, "--identity-file", idf, password=None)
    # Config 2: one MAC over every member; a recipient removed (or added) without the key is refused.
    Y = new_repo("badmac")
    Y.add_recipient(pub)
    Y.write_config()
    yb, _, _ = Y.stream_backup(data, segment_size=SS)
    expect_ok("config MAC verifies, unknown member kept", Y.root, yb, data)
    ycfg = Y.config_doc()
    for label, change in (("recipient removed", {"recipients": []}), ("compression_level", {"compression_level": 0}),
                          ("unknown member", {"added_later": True})):
        Y.write_config(dict(ycfg, **change))
        expect_fail(f"config 2: {label} without the key", Y.root, yb, ["config", "MAC does not verify"])
    Y.write_config(dict(ycfg, ratio=1.5))
    expect_fail("config 2: a non-integer number", Y.root, yb, ["config", "not an integer"])
    Y.write_config(ycfg)
    # A decoy slot the password opens, wrapping a key that is not the master key.
    Z = new_repo("decoy", password=None)
    real_mk = Z.mk
    Z.mk = os.urandom(32)
    Z.add_password_slot(PW)
    Z.mk = real_mk
    Z.write_config()
    zb, _, _ = Z.stream_backup(data, segment_size=SS)
    expect_fail("decoy slot (key id does not derive)", Z.root, zb, ["config", "decoy"])
    # Argon2id parameters below the floor are refused, even on a slot nobody uses.
    W = new_repo("weakkdf")
    W.slots.append(dict(W.slots[0], id=os.urandom(8).hex(), kdf=dict(W.slots[0]["kdf"], memory_kib=8, iterations=1)))
    W.write_config()
    wb, _, _ = W.stream_backup(data, segment_size=SS)
    expect_fail("Argon2id 8 KiB / 1 pass slot", W.root, wb, ["config", "memory_kib 8"])
    # Writer signatures (slot type 3) on manifests opened with an identity.
    V = new_repo("writers")
    V.add_recipient(pub)
    writer = E.Ed25519PrivateKey.generate()
    V.add_writer(writer)
    V.write_config()
    vb, _, _ = V.stream_backup(data, segment_size=SS, master=False, signer=writer)
    expect_ok("identity, manifest signed by a registered writer", V.root, vb, data, "--identity-file", idf,
              password=None)
    vu, _, _ = V.stream_backup(data, segment_size=SS, master=False, signed=False)
    expect_fail("identity, unsigned recipient manifest", V.root, vu, [f"backups/{vu}", "no writer signature"],
                "--identity-file", idf, password=None)
    vs, _, _ = V.stream_backup(data, segment_size=SS, master=False, signer=E.Ed25519PrivateKey.generate())
    expect_fail("identity, manifest signed by an unknown writer", V.root, vs, [f"backups/{vs}", "does not list"],
                "--identity-file", idf, password=None)

    # retired master key (an interrupted rotation)
    T = new_repo("rotated")
    tb_old, _, _ = T.stream_backup(data, segment_size=SS)
    T.rotate_keep_retired(PW)
    T.write_config()
    tb_new, _, _ = T.stream_backup(data[:100], segment_size=SS)
    expect_ok("manifest wrapped for a retired master key", T.root, tb_old, data)
    expect_ok("manifest wrapped for the new master key", T.root, tb_new, data[:100])

    # unknown slot types are skipped
    b, _, _ = R.stream_backup(data, segment_size=SS, extra_slots=[(9, b"future slot"), (200, b"")])
    expect_ok("unknown slot types are skipped", R.root, b, data)

    # several objects
    M = new_repo("multi")
    e1 = E.encode_object(1, data, segment_size=SS)
    e2 = E.encode_object(1, b"second object", segment_size=SS)
    entries = [M.store_data("tree", e1), M.store_data("stream", e2)]
    mb = os.urandom(16)
    M.write_manifest(mb, M.manifest_doc(mb, entries, kind="files"))
    expect_ok("several objects: default is 'stream'", M.root, mb.hex(), b"second object")
    expect_ok("several objects: --object tree", M.root, mb.hex(), data, "--object", "tree")
    expect_fail("--object that does not exist", M.root, mb.hex(), ["no object named 'nope'"], "--object", "nope")
    mb2 = os.urandom(16)
    M.write_manifest(mb2, M.manifest_doc(mb2, [dict(entries[0], name="a"), dict(entries[1], name="b")]))
    expect_fail("several objects, none named stream", M.root, mb2.hex(), ["--object"])

    # listing, latest, prefixes
    L = new_repo("list")
    ids = {}
    for n, off in (("middle", -100), ("newest", 0), ("oldest", -200)):
        doc_id, _, _ = L.stream_backup(n.encode(), name=n, segment_size=SS, finished=E.now_rfc3339(off))
        ids[n] = doc_id
    with open(os.path.join(L.root, "backups", ".tmp-upload"), "wb") as f:
        f.write(b"junk a writer left behind")
    rc, err, out, _ = decode(L.root, lst=True)
    lines = out.strip().splitlines()
    names = [ln.split("\t")[3] for ln in lines]
    result("--list prints every backup, oldest first", rc == 0 and names == ["oldest", "middle", "newest"]
           and all(len(ln.split("\t")) == 4 for ln in lines), f"rc={rc} out={out!r} err={err!r}")
    result("--list lines carry id and finished", lines[0].split("\t")[0] == ids["oldest"]
           and lines[0].split("\t")[2] == "stream", out)
    expect_ok("latest is the greatest finished time", L.root, "latest", b"newest")
    expect_ok("unique prefix", L.root, ids["middle"][:8], b"middle")
    twin = bytes.fromhex(ids["oldest"][:30] + ("00" if ids["oldest"][30:] != "00" else "01"))
    e = E.encode_object(1, b"x", segment_size=SS)
    L.write_manifest(twin, L.manifest_doc(twin, [L.store_data("stream", e)]))
    expect_fail("ambiguous prefix", L.root, ids["oldest"][:30], ["ambiguous"])
    unknown = next(h for h in (os.urandom(16).hex() for _ in range(100)) if h[0] not in {i[0] for i in ids.values()})
    expect_fail("unknown backup id", L.root, unknown, ["not found"])
    expect_fail("prefix that matches nothing", L.root, "g", ["expected an id"])
    expect_fail("empty repository: latest", new_repo("empty").root, "latest", ["no backups"])
    # `latest` compares instants, whatever the offset or the number of fraction digits
    Z = new_repo("times")
    for label, when in (("plus2", "2026-01-01T12:00:00.987654321+02:00"), ("zulu", "2026-01-01T10:30:00.5Z"),
                        ("minus1", "2026-01-01T09:15:00-01:00")):
        Z.stream_backup(label.encode(), name=label, segment_size=SS, finished=when)
    expect_ok("latest across offsets and nanosecond fractions", Z.root, "latest", b"zulu")
    rc, err, out, _ = decode(Z.root, lst=True)
    order = [ln.split("\t")[3] for ln in out.strip().splitlines()]
    result("--list orders by instant", rc == 0 and order == ["plus2", "minus1", "zulu"], out)
    bad_t = Z.stream_backup(b"x", segment_size=SS, finished="yesterday")[0]
    expect_fail("latest with a manifest whose finished is not RFC 3339", Z.root, "latest",
                [f"backups/{bad_t}", "RFC 3339"])

    # credentials
    expect_fail("wrong password", R.root, bid, ["config", "wrong password"], password="Correct horse")
    expect_fail("no credential", R.root, bid, ["no credential"], password=None)

    # ------------------------------------------------------------ raw tampering (manifest unchanged)
    stored = enc.bytes()
    path = os.path.join(R.root, *key.split("/"))

    def tamper_raw(name, new_bytes, needles):
        with open(path, "wb") as f:
            f.write(new_bytes)
        expect_fail(name, R.root, bid, [key] + needles)
        with open(path, "wb") as f:
            f.write(stored)

    for off in (5, 40, 100, len(stored) // 2, len(stored) - 1):
        flipped = bytearray(stored)
        flipped[off] ^= 0x40
        tamper_raw(f"raw flip at byte {off} (caught by blake3)", bytes(flipped), ["blake3"])
    tamper_raw("raw truncation", stored[:-1], ["stored size"])
    tamper_raw("raw extension", stored + b"\0", ["stored size"])
    os.unlink(path)
    expect_fail("missing data object", R.root, bid, [key, "not found"])
    with open(path, "wb") as f:
        f.write(stored)
    expect_ok("restored after the raw tampering tests", R.root, bid, data)

    # ------------------------------------------------------------ tampering with a manifest that matches
    hdr_len = len(enc.header) + len(enc.slots)
    seg = enc.segments

    def fixed(name, stored_bytes, needles, **entry_overrides):
        b, k = backup_of(R, enc, stored_bytes, **entry_overrides)
        expect_fail(name, R.root, b, [k] + needles)

    def flip(buf, off, mask=0x01):
        buf = bytearray(buf)
        buf[off] ^= mask
        return bytes(buf)

    head = enc.header + enc.slots
    for off, needles in ((0, ["bad magic"]), (8, ["format version"]), (9, ["expected data object"]),
                         (10, ["unknown compression"]), (11, ["reserved"]), (12, ["segment 0", "authentication failed"]),
                         (15, ["segment_size"]), (20, ["object_id"]), (33, ["segment 0", "authentication failed"]),
                         (39, ["reserved"]), (50, ["commitment"]), (72, ["no key slots"])):
        mask = 0x03 if off in (9, 10) else 0x01  # kind 1 -> 2, compression 1 -> 2
        fixed(f"header byte {off} flipped", flip(stored, off, mask), needles)
    fixed("header kind 1 -> 2", flip(stored, 9, 0x03), ["expected data object"])
    fixed("header compression 1 -> 0 (valid value, wrong AAD)", flip(stored, 10, 0x01),
          ["segment 0:", "authentication failed"])
    fixed("header segment_size below 4096", stored[:12] + (4095).to_bytes(4, "little") + stored[16:], ["segment_size"])
    fixed("header cut inside", stored[:50], ["fixed header", "truncated"])
    fixed("slot count cut", stored[:73], ["slot count", "truncated"])

    def segs(lst):
        return head + b"".join(lst)

    # every segment: flip in ciphertext and in tag
    for i, s in enumerate(seg):
        fixed(f"segment {i}: ciphertext byte flipped", segs(seg[:i] + [flip(s, 4 + 3)] + seg[i + 1:]),
              [f"segment {i}:", "authentication failed"])
        fixed(f"segment {i}: tag byte flipped", segs(seg[:i] + [flip(s, len(s) - 1)] + seg[i + 1:]),
              [f"segment {i}:", "authentication failed"])
    # sealed_len field
    s1 = seg[1]
    fixed("sealed_len 15 (< 16)", segs([seg[0], (15).to_bytes(4, "little") + s1[4:]] + seg[2:]),
          ["segment 1", "sealed_len 15"])
    max_sealed = SS + SS // 128 + 4096 + 16
    fixed("sealed_len above the bound", segs([seg[0], (max_sealed + 1).to_bytes(4, "little") + s1[4:]] + seg[2:]),
          ["segment 1", f"sealed_len {max_sealed + 1}"])
    n1 = int.from_bytes(s1[:4], "little")
    fixed("sealed_len one too large", segs([seg[0], (n1 + 1).to_bytes(4, "little") + s1[4:]] + seg[2:]),
          ["segment 1", "authentication failed"])
    fixed("sealed_len one too small", segs([seg[0], (n1 - 1).to_bytes(4, "little") + s1[4:]] + seg[2:]),
          ["segment 1", "authentication failed"])
    # truncation at boundaries
    for n in range(len(seg)):
        needle = "stream ends without a final segment" if n == 0 else "stream ends after a non-final segment"
        fixed(f"truncated at the boundary after {n} segments", segs(seg[:n]),
              [f"segment {max(n - 1, 0)}:", needle, "truncated"])
    # truncation between boundaries
    fixed("truncated inside a length field", segs(seg[:3]) + seg[3][:2], ["segment 3", "truncated length field"])
    fixed("truncated inside a sealed segment", segs(seg[:3]) + seg[3][:100], ["segment 3", "truncated"])
    fixed("truncated inside the final tag", segs(seg)[:-1], ["segment 5", "truncated"])
    # dropped, reordered, duplicated
    fixed("middle segment dropped", segs(seg[:2] + seg[3:]), ["segment 2:", "authentication failed"])
    fixed("first segment dropped", segs(seg[1:]), ["segment 0:", "authentication failed"])
    fixed("segments 1 and 2 swapped", segs([seg[0], seg[2], seg[1]] + seg[3:]), ["segment 1:", "authentication failed"])
    fixed("last two segments swapped", segs(seg[:4] + [seg[5], seg[4]]), ["segment 4:"])
    fixed("segment 1 duplicated", segs(seg[:2] + [seg[1]] + seg[2:]), ["segment 2:", "authentication failed"])
    fixed("final segment duplicated", segs(seg + [seg[5]]), ["segment 5:", "data follows the final segment"])
    fixed("garbage after the final segment", segs(seg) + b"\0\0\0", ["segment 5:", "data follows the final segment"])
    fixed("a whole segment length after the end", segs(seg) + b"\x20\0\0\0", ["segment 5:", "data follows"])

    # segments that authenticate but break the stream rules
    chunks = E.split_chunks(data, SS)
    bodies = [(i, i == len(chunks) - 1, z(c)) for i, c in enumerate(chunks)]
    nid, ndek, npre = enc.object_id, enc.dek, bytes(7)

    def sealed(name, bodies, needles, compression=1, plain=data):
        e = E.encode_object(1, plain, segment_size=SS, compression=compression, bodies=bodies)
        b, k = backup_of(R, e)
        expect_fail(name, R.root, b, [k] + needles)

    sealed("extra valid segment after the final one", bodies + [(6, True, z(b"more"))],
           ["segment 5:", "data follows the final segment"])
    sealed("final flag on segment 2 then more segments",
           [(i, i == 2 or last, b) for i, last, b in bodies], ["segment 2:", "data follows the final segment"])
    sealed("no final segment at all", [(i, False, b) for i, _, b in bodies],
           ["segment 5:", "non-final segment", "truncated"])
    sealed("counter starting at 1", [(i + 1, last, b) for i, last, b in bodies], ["segment 0:", "authentication failed"])
    sealed("counter skipping 3", [(i if i < 3 else i + 1, last, b) for i, last, b in bodies], ["segment 3:"])
    sealed("non-final chunk too short", [(0, False, z(data[:SS - 1])), (1, True, z(data[SS - 1:2 * SS]))],
           ["segment 0:", f"non-final chunk is {SS - 1} bytes"], plain=data[:2 * SS])
    sealed("non-final chunk too long", [(0, False, z(data[:SS + 1])), (1, True, z(data[SS + 1:2 * SS]))],
           ["segment 0:", "inflates beyond"], plain=data[:2 * SS])
    sealed("final chunk too long (uncompressed)", [(0, True, data[:SS + 1])],
           ["segment 0:", "final chunk is 4097 bytes"], compression=0, plain=data[:SS + 1])
    sealed("empty final chunk after a full one", [(0, False, z(data[:SS])), (1, True, z(b""))],
           ["segment 1:", "empty final chunk"], plain=data[:SS])
    sealed("empty final chunk after a full one (uncompressed)", [(0, False, data[:SS]), (1, True, b"")],
           ["segment 1:", "empty final chunk"], compression=0, plain=data[:SS])
    sealed("zstd bomb: 64 MiB of zeros in one frame", [(0, True, z(bytes(64 << 20)))], ["segment 0:", "inflates beyond"])
    bomb = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    sealed("zstd bomb without content size", [(0, True, bomb.compress(bytes(8 << 20)) + bomb.flush())],
           ["segment 0:", "inflates beyond"])
    co = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    streamed = co.compress(data[:100]) + co.flush()
    e_ok = E.encode_object(1, data[:100], segment_size=SS, bodies=[(0, True, streamed)])
    b, _ = backup_of(R, e_ok)
    expect_ok("zstd frame without content size is accepted", R.root, b, data[:100])
    sealed("zstd frame followed by garbage", [(0, True, z(data[:100]) + b"\0")], ["segment 0:", "follow the zstd frame"],
           plain=data[:100])
    sealed("two zstd frames in one body", [(0, True, z(data[:50]) + z(data[50:100]))],
           ["segment 0:", "follow the zstd frame"], plain=data[:100])
    skippable = (0x184D2A50).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"abc"
    sealed("skippable frame before the zstd frame", [(0, True, skippable + z(data[:100]))],
           ["segment 0:", "not a zstd frame"], plain=data[:100])
    sealed("body that is not zstd", [(0, True, data[:100])], ["segment 0:", "not a zstd frame"], plain=data[:100])
    # A frame that names a dictionary (Dictionary_ID 7 inserted into the frame header).
    plainz = z(data[:100])
    did_at = 5 + (0 if plainz[4] & 0x20 else 1)
    dictz = plainz[:4] + bytes([plainz[4] | 0x01]) + plainz[5:did_at] + b"\x07" + plainz[did_at:]
    sealed("zstd frame that needs a dictionary", [(0, True, dictz)], ["segment 0:", "dictionary"], plain=data[:100])
    ck = bytearray(z(data[:1000], write_checksum=True))
    ck[-1] ^= 1
    sealed("zstd checksum mismatch", [(0, True, bytes(ck))], ["segment 0:", "corrupt"], plain=data[:1000])
    trunc = z(data[:1000])[:-3]
    sealed("truncated zstd frame", [(0, True, trunc)], ["segment 0:", "zstd"], plain=data[:1000])

    # splicing a segment from another object sealed with the same key and nonce prefix
    ea = E.encode_object(1, data, segment_size=SS, dek=ndek, nonce_prefix=npre)
    eb = E.encode_object(1, data[::-1], segment_size=SS, dek=ndek, nonce_prefix=npre)
    spliced = ea.header + ea.slots + b"".join([ea.segments[0], eb.segments[1]] + ea.segments[2:])
    b, k = backup_of(R, ea, spliced)
    expect_fail("segment spliced from another object", R.root, b, [k, "segment 1:", "authentication failed"])

    # manifest entries
    fixed("wrong dek in the manifest", stored, ["commitment"], dek=os.urandom(32).hex())
    fixed("plain_blake3 differs", stored, ["plain_blake3"], plain_blake3="0" * 64)
    fixed("plain_size smaller", stored, ["longer than the manifest's plain_size"], plain_size=len(data) - 1)
    fixed("plain_size larger", stored, [f"plaintext is {len(data)} bytes"], plain_size=len(data) + 1)
    other_id = os.urandom(16).hex()
    b, _ = backup_of(R, enc, None, object_id=other_id)
    expect_fail("object_id does not match the key", R.root, b, ["does not match key"])
    b, _ = backup_of(R, enc, None, key="data/../../../etc/passwd")
    expect_fail("object key outside data/", R.root, b, ["is not data/"])
    # a data object stored under the id of another object
    e2 = E.encode_object(1, data, segment_size=SS)
    moved = E.Encoded(e2.header, e2.slots, e2.segments, enc.object_id, e2.dek, data)
    b, k = backup_of(R, moved)
    expect_fail("data object header object_id differs from the manifest's", R.root, b, [k, "header object_id"])
    # a data object with a key slot
    e3 = E.encode_object(1, data, segment_size=SS, slot_fn=lambda h, d: [E.master_slot(h, d, R.mk, R.mk_id)])
    b, k = backup_of(R, e3)
    expect_fail("data object with a key slot", R.root, b, [k, "no key slots"])

    # ------------------------------------------------------------ manifests
    def manifest_case(name, needles, doc=None, bid_bytes=None, store_as=None, **kw):
        b = bid_bytes or os.urandom(16)
        entry = R.store_data("stream", enc)
        d = R.manifest_doc(b, [entry]) if doc is None else doc(b, entry)
        m = R.encode_manifest(b, d, **kw)
        name_hex = store_as or b.hex()
        R.put(f"backups/{name_hex}", m.bytes())
        expect_fail(name, R.root, name_hex, [f"backups/{name_hex}"] + needles)
        return m

    manifest_case("manifest JSON id differs", ["manifest id"], doc=lambda b, e: R.manifest_doc(os.urandom(16), [e]))
    manifest_case("manifest of another repository", ["belongs to repository"],
                  doc=lambda b, e: dict(R.manifest_doc(b, [e]), repository=os.urandom(16).hex()))
    manifest_case("manifest stored under another id", ["header object_id"], store_as=os.urandom(16).hex())
    manifest_case("manifest is not JSON", ["not valid UTF-8 JSON"], doc=lambda b, e: b"\xffnot json")
    manifest_case("manifest version 1 (SHA-256 digests)", ["manifest version"],
                  doc=lambda b, e: dict(R.manifest_doc(b, [e]), version=1))
    manifest_case("manifest version 4", ["manifest version"], doc=lambda b, e: dict(R.manifest_doc(b, [e]), version=4))
    # Version 3 (format 3) is read, but only with a root tree, a domain and no objects.
    manifest_case("manifest version 3 with objects and no tree", ["tree"],
                  doc=lambda b, e: dict(R.manifest_doc(b, [e]), version=3))
    manifest_case("manifest dek not hex", ["dek"], doc=lambda b, e: R.manifest_doc(b, [dict(e, dek="zz" * 32)]))
    manifest_case("manifest duplicate object names", ["duplicate"], doc=lambda b, e: R.manifest_doc(b, [e, e]))
    manifest_case("manifest commitment forged", ["commitment"], header_kw={"commitment": os.urandom(32)})
    manifest_case("manifest wrapped with a wrong key under the right id",
                  ["master-key slot", "does not open (damaged or forged)"], mk=os.urandom(32))
    # A master-key slot this reader cannot open is damage, never "sealed for someone else".
    manifest_case("manifest wrapped for an unknown master key",
                  ["master-key slot", "does not open (damaged or forged", "no master key with this id"],
                  mk_id=os.urandom(8))
    # Recipients only (no master slot at all): for a master-key holder, not ours to read.
    manifest_case("manifest without a master-key slot", ["no key slot for the available keys"], master=False)
    # kind byte 1 in a manifest: build by hand
    b = os.urandom(16)
    entry = R.store_data("stream", enc)
    m = R.encode_manifest(b, R.manifest_doc(b, [entry]))
    R.put(f"backups/{b.hex()}", m.header[:9] + b"\x01" + m.header[10:] + m.slots + b"".join(m.segments))
    expect_fail("manifest header kind 1", R.root, b.hex(), [f"backups/{b.hex()}", "expected manifest"])
    # manifest segments tampered
    b = os.urandom(16)
    m = R.encode_manifest(b, R.manifest_doc(b, [entry]))
    R.put(f"backups/{b.hex()}", m.header + m.slots + b"".join(m.segments)[:-1])
    expect_fail("manifest truncated", R.root, b.hex(), [f"backups/{b.hex()}", "truncated"])
    R.put(f"backups/{b.hex()}", m.header + m.slots + flip(b"".join(m.segments), 10))
    expect_fail("manifest segment flipped", R.root, b.hex(), [f"backups/{b.hex()}", "segment 0", "authentication"])

    # ------------------------------------------------------------ config
    C = new_repo("config")
    cb, _, _ = C.stream_backup(b"abc", segment_size=SS)
    cfg_path = os.path.join(C.root, "config")
    with open(cfg_path) as f:
        cfg = json.load(f)
    for label, change, needle in (("format", {"format": "other"}, "not a Lifeboat repository"),
                                  ("version", {"version": 1}, "unsupported repository version"),
                                  ("id", {"id": os.urandom(16).hex()}, "wrong password"),
                                  ("slot kdf salt", None, "wrong password")):
        c2 = dict(cfg, **(change or {}))
        if change is None:
            c2["slots"] = [dict(cfg["slots"][0], kdf=dict(cfg["slots"][0]["kdf"], salt=os.urandom(16).hex()))]
        with open(cfg_path, "w") as f:
            json.dump(c2, f)
        expect_fail(f"config {label} changed", C.root, cb, ["config", needle])
    with open(cfg_path, "w") as f:
        f.write("{not json")
    expect_fail("config not JSON", C.root, cb, ["config", "JSON"])

    # ------------------------------------------------------------ output handling
    outp = os.path.join(TMP, "keep.bin")
    with open(outp, "wb") as f:
        f.write(b"previous content")
    os.environ["LIFEBOAT_PASSWORD"] = "wrong"
    with contextlib.redirect_stderr(io.StringIO()):
        rc = D.main(["--repo", R.root, "--backup", bid, "--out", outp])
    del os.environ["LIFEBOAT_PASSWORD"]
    with open(outp, "rb") as f:
        kept = f.read()
    result("failure leaves an existing output file untouched", rc == 1 and kept == b"previous content")

    # ------------------------------------------------------------ bounded memory
    def peak_rss_kib(argv):
        """Run argv in a child and return (exit status, peak RSS of that child in KiB)."""
        probe = ("import resource, subprocess, sys\n"
                 "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
                 "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        env = dict(os.environ, LIFEBOAT_PASSWORD=PW)
        out = subprocess.run([sys.executable, "-c", probe] + argv, capture_output=True, text=True, env=env).stdout
        rc, rss = out.split()
        return int(rc), int(rss)

    base_rc, base_rss = peak_rss_kib([sys.executable, DECODER, "--repo", R.root, "--backup", bid, "--out",
                                      os.path.join(TMP, "base.bin")])
    # A hand-made zstd frame of 2000 RLE blocks of 128 KiB each (250 MiB) in under 8 KiB.
    frame = (zstandard.FRAME_HEADER + bytes([0x00, 0x38])
             + b"".join(((1 << 1) | (128 * 1024 << 3) | (i == 1999)).to_bytes(3, "little") + b"\0" for i in range(2000)))
    e_bomb = E.encode_object(1, b"", segment_size=SS, bodies=[(0, True, frame)])
    b, k = backup_of(R, e_bomb)
    bomb_rc, bomb_rss = peak_rss_kib([sys.executable, DECODER, "--repo", R.root, "--backup", b, "--out",
                                      os.path.join(TMP, "bomb.bin")])
    result(f"RLE zstd bomb (250 MiB) is rejected without inflating it (peak RSS {bomb_rss} KiB, "
           f"baseline {base_rss} KiB)", base_rc == 0 and bomb_rc == 1 and bomb_rss < base_rss + 32 * 1024)

    # A 160 MiB stream written segment by segment: the decoder's memory must not follow its size.
    big_ss = 1048576
    be = E.encode_object(1, b"", segment_size=big_ss, bodies=[])
    pattern = [os.urandom(big_ss), b"A" * big_ss, (b"0123456789abcdef" * 65536)]
    plain_digest, store_digest, n_seg = blake3.blake3(), blake3.blake3(), 160
    oid = be.object_id.hex()
    big_key = f"data/{oid[:2]}/{oid}"
    os.makedirs(os.path.join(R.root, "data", oid[:2]), exist_ok=True)
    with open(os.path.join(R.root, "data", oid[:2], oid), "wb") as f:
        for part in (be.header, be.slots):
            f.write(part)
            store_digest.update(part)
        for i in range(n_seg):
            chunk = pattern[i % 3]
            plain_digest.update(chunk)
            segment = E.seal_segment(be.aad, be.dek, be.object_id, be.header[32:39], i, i == n_seg - 1, z(chunk))
            f.write(segment)
            store_digest.update(segment)
        size = f.tell()
    big_entry = {"name": "stream", "key": big_key, "object_id": oid, "dek": be.dek.hex(), "size": size,
                 "blake3": store_digest.hexdigest(), "plain_size": n_seg * big_ss,
                 "plain_blake3": plain_digest.hexdigest()}
    b = os.urandom(16)
    R.write_manifest(b, R.manifest_doc(b, [big_entry]))
    big_rc, big_rss = peak_rss_kib([sys.executable, DECODER, "--repo", R.root, "--backup", b.hex(), "--out",
                                    os.path.join(TMP, "big.bin")])
    result(f"160 MiB stream restores with bounded memory (peak RSS {big_rss} KiB, baseline {base_rss} KiB)",
           big_rc == 0 and big_rss < base_rss + 32 * 1024 and os.path.getsize(os.path.join(TMP, "big.bin")) == n_seg * big_ss)
    os.unlink(os.path.join(TMP, "big.bin"))
    os.unlink(os.path.join(R.root, *big_key.split("/")))

    # ------------------------------------------------------------ sweeps
    small = mixed_data(SS + 300, 3)
    # A key-file slot: thousands of decodes must not each pay Argon2id at its 19 MiB floor.
    S = new_repo("sweep", password=None)
    sweep_key = os.path.join(TMP, "sweep.key")
    with open(sweep_key, "wb") as f:
        f.write(os.urandom(32))
    with open(sweep_key, "rb") as f:
        S.add_keyfile_slot(f.read())
    S.write_config()
    sweep_cred = ("--keyfile", sweep_key)
    se = E.encode_object(1, small, segment_size=SS, compression=0)
    sbytes = se.bytes()
    bad = []
    for off in range(len(sbytes)):
        for mask in (0x01, 0x80) if off % 5 == 0 else (0x01,):
            b, _ = backup_of(S, se, flip(sbytes, off, mask))
            rc, err, out, _ = decode(S.root, b, *sweep_cred, password=None)
            if rc != 1 or out is not None:
                bad.append((off, mask, rc))
            os.unlink(os.path.join(S.root, "backups", b))
    result(f"every byte flipped (bit 0, and bit 7 of every 5th) in a 2-segment object fails", not bad, str(bad[:5]))
    bad = []
    for cut in range(len(sbytes)):
        b, _ = backup_of(S, se, sbytes[:cut])
        rc, err, out, _ = decode(S.root, b, *sweep_cred, password=None)
        if rc != 1 or out is not None:
            bad.append((cut, rc))
        os.unlink(os.path.join(S.root, "backups", b))
    result(f"every truncation of a 2-segment object fails ({len(sbytes)} cases)", not bad, str(bad[:5]))
    sb = os.urandom(16)
    sm = S.encode_manifest(sb, S.manifest_doc(sb, [S.store_data("stream", se)]))
    mbytes = sm.bytes()
    bad = []
    for off in range(len(mbytes)):
        S.put(f"backups/{sb.hex()}", flip(mbytes, off))
        rc, err, out, _ = decode(S.root, sb.hex(), *sweep_cred, password=None)
        if rc != 1 or out is not None or f"backups/{sb.hex()}" not in err:
            bad.append((off, rc, err.strip()))
    # bytes of slot bodies that are not authenticated: none; every flip must fail
    result(f"every byte flip of a manifest fails naming it ({len(mbytes)} cases)", not bad, str(bad[:3]))
    S.put(f"backups/{sb.hex()}", mbytes)
    expect_ok("sweep object restores when intact", S.root, sb.hex(), small, *sweep_cred, password=None)

    print(f"selftest: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        rc = main()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(rc)
