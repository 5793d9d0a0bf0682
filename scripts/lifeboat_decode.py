#!/usr/bin/env python3
"""Independent reference decoder for Lifeboat repositories (config 2, objects 2 and 1, manifests 2).

Written from docs/FORMAT.md only (not from the Rust code), on the standard library plus
the `cryptography`, `zstandard` and `blake3` packages. It unlocks a repository, decrypts a backup
manifest and restores one of its objects byte for byte, enforcing every reader rule of
FORMAT.md, with memory bounded by one segment.

  lifeboat_decode.py --repo DIR --backup ID|PREFIX|latest [--password-file F] [--keyfile F]
                     [--identity-file F] [--object NAME] --out FILE|-
  lifeboat_decode.py --repo DIR --list [credentials]
  lifeboat_decode.py --export-file FILE.lbx --identity-file F --out FILE|-

The password may also come from the environment variable LIFEBOAT_PASSWORD. Any failure
prints one message on stderr and exits with status 1; a file given to --out is written
to a temporary name and renamed only when every check passed.
"""

import argparse
import hashlib
import hmac
import json
import os
import re
import sys
import tempfile
from datetime import datetime

import blake3
import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"LIFEBOAT"
OBJECT_VERSIONS = (1, 2)  # 2 binds the slot section into the segments' AAD (FORMAT.md 3.3)
HEADER_LEN = 72
KIND_DATA, KIND_MANIFEST, KIND_DOMAIN = 1, 2, 3
MIN_SEGMENT, MAX_SEGMENT = 4096, 16777216
TAG_LEN = 16
ZSTD_MAGIC = 0xFD2FB528
ZSTD_MAX_BLOCK = 128 * 1024  # largest regenerated size of one zstd block (RFC 8878)
ID_RE = re.compile(r"^[0-9a-f]{32}$")
DATA_KEY_RE = re.compile(r"^data/([0-9a-f]{2})/([0-9a-f]{32})$")


class DecodeError(Exception):
    """A failure to report: one line, already naming the object and place."""


# ---------------------------------------------------------------- primitives


def hkdf(ikm, info, salt=b""):
    """HKDF-SHA256, Extract with `salt` (empty = RFC 5869 default) then Expand to 32 bytes."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt or None, info=info.encode()).derive(ikm)


def aead_open(key, nonce, sealed, aad):
    """AES-256-GCM open; returns None when authentication fails."""
    try:
        return AESGCM(key).decrypt(nonce, sealed, aad)
    except InvalidTag:
        return None


def unhex(value, nbytes, what):
    """Decode a lowercase hex string of exactly `nbytes` bytes."""
    if not isinstance(value, str) or len(value) != 2 * nbytes or not re.fullmatch(r"[0-9a-f]*", value):
        raise DecodeError(f"{what}: expected {2 * nbytes} lowercase hex digits")
    return bytes.fromhex(value)


def warn(msg):
    print(f"lifeboat_decode: warning: {msg}", file=sys.stderr)


# ---------------------------------------------------------------- zstd


def zstd_frame_blocks(frame, where):
    """Walk the structure of one zstd frame (RFC 8878 section 3.1.1) without decompressing.

    Returns a list of (end_offset, max_regenerated_bytes) per block, plus the frame end
    including its checksum. Rejects anything but exactly one standard frame filling `frame`.
    """
    n = len(frame)
    if n < 5 or int.from_bytes(frame[0:4], "little") != ZSTD_MAGIC:
        raise DecodeError(f"{where}: body is not a zstd frame")
    fhd = frame[4]
    if fhd & 0x08:
        raise DecodeError(f"{where}: zstd frame header has its reserved bit set")
    fcs_flag, single, checksum, dict_flag = fhd >> 6, (fhd >> 5) & 1, (fhd >> 2) & 1, fhd & 3
    did_at = 5 + (0 if single else 1)
    did_len = (0, 1, 2, 4)[dict_flag]
    if n < did_at + did_len:
        raise DecodeError(f"{where}: zstd frame is truncated")
    if int.from_bytes(frame[did_at:did_at + did_len], "little") != 0:
        raise DecodeError(f"{where}: zstd frame needs a dictionary (FORMAT.md 3.3: none is allowed)")
    pos = did_at + did_len + ((1 if single else 0), 2, 4, 8)[fcs_flag]
    blocks = []
    while True:
        if pos + 3 > n:
            raise DecodeError(f"{where}: zstd frame is truncated")
        bh = int.from_bytes(frame[pos:pos + 3], "little")
        pos += 3
        last, btype, bsize = bh & 1, (bh >> 1) & 3, bh >> 3
        if btype == 3 or bsize > ZSTD_MAX_BLOCK:
            raise DecodeError(f"{where}: zstd frame has an invalid block header")
        csize, regen = {0: (bsize, bsize), 1: (1, bsize), 2: (bsize, ZSTD_MAX_BLOCK)}[btype]
        pos += csize
        if pos > n:
            raise DecodeError(f"{where}: zstd frame is truncated")
        blocks.append((pos, regen))
        if last:
            break
    pos += 4 if checksum else 0
    if pos > n:
        raise DecodeError(f"{where}: zstd frame is truncated")
    if pos != n:
        raise DecodeError(f"{where}: {n - pos} bytes follow the zstd frame (a body is exactly one frame)")
    return blocks


def zstd_decompress_bounded(frame, limit, where):
    """Decompress exactly one zstd frame, failing as soon as the output exceeds `limit` bytes.

    The frame is fed block by block, and one block regenerates at most 128 KiB, so memory
    stays below limit + 128 KiB whatever the frame claims.
    """
    blocks = zstd_frame_blocks(frame, where)
    dobj = zstandard.ZstdDecompressor().decompressobj()
    out = bytearray()
    view = memoryview(frame)
    start = 0
    try:
        for end, _regen in blocks:
            out += dobj.decompress(view[start:end])
            start = end
            if len(out) > limit:
                raise DecodeError(f"{where}: zstd frame inflates beyond the segment size {limit}")
        if start < len(frame):
            out += dobj.decompress(view[start:])
    except zstandard.ZstdError as e:
        raise DecodeError(f"{where}: zstd frame is corrupt ({e})") from None
    if len(out) > limit:
        raise DecodeError(f"{where}: zstd frame inflates beyond the segment size {limit}")
    if not dobj.eof or dobj.unused_data:
        raise DecodeError(f"{where}: zstd frame is incomplete or followed by data")
    return bytes(out)


# ---------------------------------------------------------------- credentials and config


class Credentials:
    def __init__(self, password=None, keyfile=None, identity=None):
        self.password = password  # bytes or None
        self.keyfile = keyfile  # bytes or None
        self.identity = identity  # X25519PrivateKey or None
        self.identity_public = None
        self.identity_id = None
        if identity is not None:
            self.identity_public = identity.public_key().public_bytes_raw()
            self.identity_id = hashlib.sha256(self.identity_public).digest()[:8]


def read_password_file(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DecodeError(f"password file {path}: {e.strerror}") from None
    # The password is the file's first line, without its line break (as the lifeboat CLI reads it).
    data = data.split(b"\n", 1)[0]
    if data.endswith(b"\r"):
        data = data[:-1]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError(f"password file {path}: not valid UTF-8") from None
    return data


def read_identity_file(path):
    try:
        with open(path, "rb") as f:
            lines = f.read(65536).decode("ascii", "replace").splitlines()
    except OSError as e:
        raise DecodeError(f"identity file {path}: {e.strerror}") from None
    # FORMAT.md 2.2: the first line that is neither empty nor a `#` comment.
    text = next((l.strip() for l in lines if l.strip() and not l.strip().startswith("#")), "")
    if not re.fullmatch(r"lbsk1[0-9a-f]{64}", text):
        raise DecodeError(f"identity file {path}: no identity line (FORMAT.md 2.2: lbsk1 + 64 lowercase hex on the "
                          "first line that is not empty or a # comment)")
    return X25519PrivateKey.from_private_bytes(bytes.fromhex(text[5:]))


# FORMAT.md 2.1: what a reader accepts in a config (version 2).
ARGON_MEMORY_KIB = (19456, 4194304)
ARGON_ITERATIONS = (2, 32)
ARGON_LANES = (1, 16)
MAX_KEY_SLOTS, MAX_RECIPIENTS, MAX_WRITERS = 32, 64, 64


def canonical_config(cfg):
    """FORMAT.md 2.5: the bytes the config MAC covers (every member but `mac`, sorted, compact)."""
    def check(v, where):
        if isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool)
                                    and not -(1 << 63) <= v < (1 << 64)):
            raise DecodeError(f"config: {where}: number {v!r} is not an integer a config may hold")
        if isinstance(v, dict):
            for k, x in v.items():
                check(x, f"{where}.{k}")
        elif isinstance(v, list):
            for n, x in enumerate(v):
                check(x, f"{where}[{n}]")
    doc = {k: v for k, v in cfg.items() if k != "mac"}
    check(doc, "config")
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def master_key_id(mk):
    return hkdf(mk, "lifeboat/v2/key-id")[:8]


def parse_public(text, prefix, where):
    if not isinstance(text, str) or not text.startswith(prefix):
        raise DecodeError(f"{where}: not {prefix} + 64 hex")
    return unhex(text[len(prefix):], 32, where)


class Repo:
    """A repository stored in a local directory (the `fs` storage layout)."""

    def __init__(self, root):
        if root.startswith("file://"):
            root = root[len("file://"):]
        self.root = root
        if not os.path.isdir(root):
            raise DecodeError(f"repository {root}: not a directory")
        self.config = None
        self.repo_id = None
        self.master_keys = {}  # key id (8 bytes) -> master key
        self.load_config()

    def path(self, key):
        return os.path.join(self.root, *key.split("/"))

    def load_config(self):
        try:
            with open(self.path("config"), "rb") as f:
                cfg = json.loads(f.read().decode("utf-8"))
        except OSError as e:
            raise DecodeError(f"config: cannot read ({e.strerror})") from None
        except (UnicodeDecodeError, ValueError) as e:
            raise DecodeError(f"config: not valid UTF-8 JSON ({e})") from None
        if not isinstance(cfg, dict) or cfg.get("format") != "lifeboat-repository":
            raise DecodeError("config: not a Lifeboat repository (format member)")
        if cfg.get("version") != 2:
            raise DecodeError(f"config: unsupported repository version {cfg.get('version')!r}")
        self.repo_id = unhex(cfg.get("id"), 16, "config: id")
        self.master_key_id = unhex(cfg.get("master_key_id"), 8, "config: master_key_id")
        for member in ("slots", "recipients", "writers", "retired_master_keys"):
            if not isinstance(cfg.get(member, []), list):
                raise DecodeError(f"config: {member} is not a list")
        gen = cfg.get("generation")
        if not isinstance(gen, int) or isinstance(gen, bool) or gen < 1:
            raise DecodeError("config: generation is not a positive integer")
        self.canonical = canonical_config(cfg)
        self.mac = unhex(cfg.get("mac"), 32, "config: mac")
        for member, most in (("slots", MAX_KEY_SLOTS), ("recipients", MAX_RECIPIENTS), ("writers", MAX_WRITERS)):
            if len(cfg.get(member, [])) > most:
                raise DecodeError(f"config: {len(cfg[member])} {member} (at most {most})")
        if not cfg.get("slots"):
            raise DecodeError("config: no key slots")
        # Every key whose signature vouches for a manifest opened through a recipient slot.
        self.signers = {}
        sk = parse_public(cfg.get("signing_key"), "lbwp1", "config: signing_key")
        self.signers[hashlib.sha256(sk).digest()[:8]] = sk
        for n, entry in enumerate(cfg.get("recipients", []) + cfg.get("writers", [])):
            recipient = n < len(cfg.get("recipients", []))
            where = f"config: {'recipients' if recipient else 'writers'}[{n if recipient else n - len(cfg.get('recipients', []))}]"
            if not isinstance(entry, dict):
                raise DecodeError(f"{where}: not an object")
            pub = parse_public(entry.get("public_key"), "lbpk1" if recipient else "lbwp1", f"{where}.public_key")
            if unhex(entry.get("id"), 8, f"{where}.id") != hashlib.sha256(pub).digest()[:8]:
                raise DecodeError(f"{where}: id is not SHA-256(public key)[:8]")
            if not recipient:
                self.signers[hashlib.sha256(pub).digest()[:8]] = pub
        self.config = cfg
        for n, slot in enumerate(cfg.get("slots", [])):
            if isinstance(slot, dict) and slot.get("kind") == "password":
                self._argon_params(slot, n)  # out-of-range slots are refused, even unused ones

    def unlock(self, creds):
        """Open the master key with any slot the credentials fit; returns True when unlocked."""
        tried = []
        mk = None
        for n, slot in enumerate(self.config.get("slots", [])):
            if not isinstance(slot, dict):
                raise DecodeError(f"config: slots[{n}] is not an object")
            kind = slot.get("kind")
            if kind == "password" and creds.password is not None:
                tried.append("password")
                kek = self._password_kek(slot, n, creds.password)
            elif kind == "keyfile" and creds.keyfile is not None:
                tried.append("keyfile")
                kdf = slot.get("kdf")
                if not isinstance(kdf, dict) or kdf.get("algorithm") != "hkdf-sha256":
                    raise DecodeError(f"config: slots[{n}]: keyfile slot kdf must be hkdf-sha256")
                salt = unhex(kdf.get("salt"), 16, f"config: slots[{n}].kdf.salt")
                kek = hkdf(creds.keyfile, "lifeboat/v1/keyfile", salt)
            else:
                continue
            slot_id = unhex(slot.get("id"), 8, f"config: slots[{n}].id")
            nonce = unhex(slot.get("nonce"), 12, f"config: slots[{n}].nonce")
            wrapped = unhex(slot.get("wrapped"), 48, f"config: slots[{n}].wrapped")
            mk = aead_open(kek, nonce, wrapped, b"lifeboat/v1/slot" + self.repo_id + slot_id)
            if mk is not None:
                if master_key_id(mk) != self.master_key_id:
                    raise DecodeError(f"config: slots[{n}] (id {slot_id.hex()}) unwraps a key whose id is "
                                      f"{master_key_id(mk).hex()}, not the master key {self.master_key_id.hex()}: "
                                      "a decoy slot")
                break
        if mk is None:
            if creds.password is None and creds.keyfile is None:
                return False  # identity only: manifests are opened through their X25519 slots
            if not tried:
                msg = "config: no key slot of the kind given (password / keyfile)"
            else:
                msg = f"config: wrong {' or '.join(sorted(set(tried)))}: no key slot opened"
            if creds.identity is None:
                raise DecodeError(msg)
            warn(f"{msg}; trying the identity only")
            return False
        expect = hmac.new(hkdf(mk, "lifeboat/v2/config-mac"), b"lifeboat/v2/config" + self.canonical,
                          hashlib.sha256).digest()
        if not hmac.compare_digest(expect, self.mac):
            raise DecodeError("config: its MAC does not verify under the master key (a member was changed, added "
                              "or removed by someone without the key)")
        self.master_keys[self.master_key_id] = mk
        self._open_retired(mk)
        return True

    @staticmethod
    def _argon_params(slot, n):
        kdf = slot.get("kdf")
        where = f"config: slots[{n}].kdf"
        if not isinstance(kdf, dict) or kdf.get("algorithm") != "argon2id" or kdf.get("version") != 19:
            raise DecodeError(f"{where}: password slot kdf must be argon2id version 19")
        params = []
        for name, (low, high) in (("memory_kib", ARGON_MEMORY_KIB), ("iterations", ARGON_ITERATIONS),
                                  ("parallelism", ARGON_LANES)):
            v = kdf.get(name)
            if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
                raise DecodeError(f"{where}: {name} {v!r} outside {low}..{high} (refused, not clamped)")
            params.append(v)
        return params

    @classmethod
    def _password_kek(cls, slot, n, password):
        m, t, p = cls._argon_params(slot, n)
        where = f"config: slots[{n}].kdf"
        kdf = slot["kdf"]
        salt = unhex(kdf.get("salt"), 16, f"{where}.salt")
        try:
            return Argon2id(salt=salt, length=32, iterations=t, lanes=p, memory_cost=m).derive(password)
        except (ValueError, MemoryError) as e:
            raise DecodeError(f"{where}: Argon2id failed ({e})") from None

    def _open_retired(self, mk):
        key = hkdf(mk, "lifeboat/v1/retired-wrap")
        for n, r in enumerate(self.config.get("retired_master_keys", [])):
            where = f"config: retired_master_keys[{n}]"
            if not isinstance(r, dict):
                raise DecodeError(f"{where}: not an object")
            old_id = unhex(r.get("id"), 8, f"{where}.id")
            nonce = unhex(r.get("nonce"), 12, f"{where}.nonce")
            wrapped = unhex(r.get("wrapped"), 48, f"{where}.wrapped")
            old = aead_open(key, nonce, wrapped, b"lifeboat/v1/retired" + self.repo_id + old_id)
            if old is not None and master_key_id(old) != old_id:
                raise DecodeError(f"{where}: the key is not the one its id {old_id.hex()} names")
            if old is None:
                warn(f"{where} (id {old_id.hex()}) does not authenticate under the current master key; ignored")
            else:
                self.master_keys.setdefault(old_id, old)


# ---------------------------------------------------------------- objects


class HashingReader:
    """Reads a file while hashing and counting every stored byte."""

    def __init__(self, f):
        self.f = f
        self.digest = blake3.blake3()
        self.count = 0

    def read(self, n):
        data = self.f.read(n)
        self.digest.update(data)
        self.count += len(data)
        return data

    def read_exact(self, n, what):
        parts = []
        left = n
        while left:
            chunk = self.read(left)
            if not chunk:
                raise DecodeError(f"{what}: truncated ({n - left} of {n} bytes present)")
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)


class ObjectReader:
    """One stored object: fixed header, slot section, then a segment stream."""

    def __init__(self, repo, key, expected_kind, expected_id):
        self.key = key
        try:
            self.file = open(repo.path(key), "rb")
        except FileNotFoundError:
            raise DecodeError(f"{key}: object not found") from None
        except OSError as e:
            raise DecodeError(f"{key}: cannot read ({e.strerror})") from None
        self.size = os.fstat(self.file.fileno()).st_size
        self.r = HashingReader(self.file)
        self.header = self.r.read_exact(HEADER_LEN, f"{key}: fixed header")
        self._parse_header(expected_kind, expected_id)
        self.slots = self._parse_slots()
        self.opened_by = None  # the slot type that gave the data key
        self.pk = None

    def close(self):
        self.file.close()

    def _parse_header(self, expected_kind, expected_id):
        h, key = self.header, self.key
        if h[0:8] != MAGIC:
            raise DecodeError(f"{key}: bad magic (not a Lifeboat object)")
        if h[8] not in OBJECT_VERSIONS:
            raise DecodeError(f"{key}: unsupported object format version {h[8]}")
        self.version = h[8]
        if h[9] not in (KIND_DATA, KIND_MANIFEST, KIND_DOMAIN):
            raise DecodeError(f"{key}: unknown object kind {h[9]}")
        if h[9] != expected_kind:
            names = {KIND_DATA: "data object", KIND_MANIFEST: "manifest", KIND_DOMAIN: "domain object"}
            raise DecodeError(f"{key}: object kind is {names[h[9]]}, expected {names[expected_kind]}")
        if h[10] not in (0, 1):
            raise DecodeError(f"{key}: unknown compression {h[10]}")
        if h[11] != 0 or h[39] != 0:
            raise DecodeError(f"{key}: reserved header bytes are not zero")
        self.kind, self.compression = h[9], h[10]
        self.segment_size = int.from_bytes(h[12:16], "little")
        if not MIN_SEGMENT <= self.segment_size <= MAX_SEGMENT:
            raise DecodeError(f"{key}: segment_size {self.segment_size} outside {MIN_SEGMENT}..{MAX_SEGMENT}")
        self.object_id = h[16:32]
        if self.object_id != expected_id:
            raise DecodeError(f"{key}: header object_id {self.object_id.hex()} does not match {expected_id.hex()}")
        self.nonce_prefix = h[32:39]
        self.commitment = h[40:72]

    def _parse_slots(self):
        key = self.key
        raw = self.r.read_exact(2, f"{key}: slot count")
        count = int.from_bytes(raw, "little")
        if self.kind == KIND_DATA and count != 0:
            raise DecodeError(f"{key}: a data object must have no key slots, found {count}")
        slots = []
        for n in range(count):
            head = self.r.read_exact(3, f"{key}: slot {n}")
            stype, blen = head[0], int.from_bytes(head[1:3], "little")
            body = self.r.read_exact(blen, f"{key}: slot {n} body")
            raw += head + body
            want = {1: 68, 2: 100}.get(stype)
            if want is not None and blen != want:
                raise DecodeError(f"{key}: slot {n} of type {stype} has body length {blen}, expected {want}")
            slots.append((stype, body))  # unknown types are kept and skipped
        # FORMAT.md 3.3: the segments' associated data; version 2 adds SHA-256 of the slot
        # section exactly as stored, so a changed, dropped or added slot fails every segment.
        self.aad = self.header if self.version == 1 else self.header + hashlib.sha256(raw).digest()
        return slots

    def unwrap_dek(self, repo, creds):
        """Find the DEK of a manifest from its type-1 (master key) or type-2 (X25519) slots.

        FORMAT.md 3.2: when nothing opens, a master-key slot is damage for a reader that holds
        master keys (known id or not), and so is a recipient slot addressed to our identity;
        only a manifest with no slot for us at all is "sealed for other recipients".
        """
        failed = []
        for n, (stype, body) in enumerate(self.slots):
            if stype == 1 and repo.master_keys and body[0:8] not in repo.master_keys:
                failed.append(f"master-key slot {body[0:8].hex()} does not open (damaged or forged: "
                              "the repository has no master key with this id)")
                continue
            if stype == 1 and body[0:8] in repo.master_keys:
                wrap = hkdf(repo.master_keys[body[0:8]], "lifeboat/v1/master-wrap")
                dek = aead_open(wrap, body[8:20], body[20:68], self.header)
                if dek is None:
                    failed.append(f"master-key slot {body[0:8].hex()} does not open (damaged or forged)")
                    continue
            elif stype == 2 and creds.identity is not None and body[0:8] == creds.identity_id:
                eph = body[8:40]
                try:
                    shared = creds.identity.exchange(X25519PublicKey.from_public_bytes(eph))
                except ValueError:
                    shared = bytes(32)
                if shared == bytes(32):
                    failed.append(f"recipient slot {body[0:8].hex()} does not open (all-zero X25519 result)")
                    continue
                kek = hkdf(shared, "lifeboat/v1/x25519-wrap", eph + creds.identity_public)
                dek = aead_open(kek, body[40:52], body[52:100], self.header)
                if dek is None:
                    failed.append(f"recipient slot {body[0:8].hex()} does not open (damaged or forged)")
                    continue
            else:
                continue
            self.opened_by = stype
            return dek
        if failed:
            raise DecodeError(f"{self.key}: {'; '.join(failed)}")
        have = [f"master key {k.hex()}" for k in repo.master_keys]
        if creds.identity is not None:
            have.append(f"recipient {creds.identity_id.hex()}")
        raise DecodeError(f"{self.key}: no key slot for the available keys ({', '.join(have) or 'none'})")

    def set_dek(self, dek):
        """Check the key commitment, then derive the payload key."""
        if len(dek) != 32:
            raise DecodeError(f"{self.key}: data key is not 32 bytes")
        if not hmac.compare_digest(hkdf(dek, "lifeboat/v1/commitment", self.object_id), self.commitment):
            raise DecodeError(f"{self.key}: key commitment does not match (wrong or swapped key)")
        self.pk = hkdf(dek, "lifeboat/v1/payload", self.object_id)

    def chunks(self):
        """Yield verified plaintext chunks in order, enforcing FORMAT.md section 3.3."""
        key, ss = self.key, self.segment_size
        max_sealed = ss + ss // 128 + 4096 + TAG_LEN
        aead = AESGCM(self.pk)
        i = 0
        lenb = self.r.read(4)
        while True:
            where = f"{key}: segment {i}"
            if not lenb:
                raise DecodeError(f"{where}: stream ends without a final segment (truncated)")
            if len(lenb) < 4:
                raise DecodeError(f"{where}: truncated length field")
            if i > 0xFFFFFFFF:
                raise DecodeError(f"{where}: segment counter overflow")
            sealed_len = int.from_bytes(lenb, "little")
            if sealed_len < TAG_LEN or sealed_len > max_sealed:
                raise DecodeError(f"{where}: sealed_len {sealed_len} outside {TAG_LEN}..{max_sealed}")
            sealed = self.r.read_exact(sealed_len, where)
            lenb = self.r.read(4)
            at_end = not lenb
            body = self._open(aead, i, at_end, sealed)
            if body is None:
                # Say what went wrong when the segment is valid with the other flag.
                if self._open(aead, i, not at_end, sealed) is not None:
                    if at_end:
                        raise DecodeError(f"{where}: stream ends after a non-final segment (truncated)")
                    raise DecodeError(f"{where}: data follows the final segment")
                raise DecodeError(f"{where}: authentication failed (corrupt, reordered, dropped or duplicated segment, "
                                  "changed key slots, or wrong key)")
            if self.compression == 1:
                chunk = zstd_decompress_bounded(body, ss, where)
            else:
                chunk = body
            if not at_end and len(chunk) != ss:
                raise DecodeError(f"{where}: non-final chunk is {len(chunk)} bytes, expected segment_size {ss}")
            if at_end and len(chunk) > ss:
                raise DecodeError(f"{where}: final chunk is {len(chunk)} bytes, more than segment_size {ss}")
            if at_end and i > 0 and len(chunk) == 0:
                raise DecodeError(f"{where}: empty final chunk after other chunks (only an empty stream has one)")
            yield chunk
            if at_end:
                return
            i += 1

    def _open(self, aead, i, last, sealed):
        nonce = self.nonce_prefix + i.to_bytes(4, "big") + (b"\x01" if last else b"\x00")
        try:
            return aead.decrypt(nonce, sealed, self.aad)
        except InvalidTag:
            return None


# ---------------------------------------------------------------- export files


class ExportFile:
    """A named export file encrypted for recipients (FORMAT.md, export files): one object in
    the manifest layout (kind 2) with recipient slots only, outside any repository."""

    master_keys = {}

    def __init__(self, path):
        self.file_path = path

    def path(self, key):
        return self.file_path


def decrypt_export(path, creds, out):
    """Write the plaintext (the .tar.gz or .tar.zst) of an encrypted export file to `out`."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_LEN)
    except OSError as e:
        raise DecodeError(f"{path}: cannot read ({e.strerror})") from None
    if len(head) < HEADER_LEN:
        raise DecodeError(f"{path}: shorter than an object header (not an encrypted export)")
    src = ExportFile(path)
    obj = ObjectReader(src, path, KIND_MANIFEST, head[16:32])
    try:
        obj.set_dek(obj.unwrap_dek(src, creds))
        for chunk in obj.chunks():
            out.write(chunk)
    finally:
        obj.close()


# ---------------------------------------------------------------- manifests


def read_manifest(repo, creds, backup_id_hex):
    key = f"backups/{backup_id_hex}"
    obj = ObjectReader(repo, key, KIND_MANIFEST, bytes.fromhex(backup_id_hex))
    try:
        obj.set_dek(obj.unwrap_dek(repo, creds))
        plain = b"".join(obj.chunks())
    finally:
        obj.close()
    if obj.opened_by == 2:
        check_signature(repo, obj, plain)
    try:
        m = json.loads(plain.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise DecodeError(f"{key}: manifest is not valid UTF-8 JSON ({e})") from None
    if not isinstance(m, dict):
        raise DecodeError(f"{key}: manifest is not a JSON object")
    if m.get("version") not in (2, 3):
        raise DecodeError(f"{key}: unsupported manifest version {m.get('version')!r}")
    if m["version"] == 3:
        # FORMAT.md 11.5: the data is a root tree of a dedup domain; a stream backup's
        # objects are records of file nodes of that tree, never data objects.
        unhex(m.get("tree"), 32, f"{key}: tree")
        unhex(m.get("domain"), 8, f"{key}: domain")
        check_v3_records(m, key)
        return check_ids(m, key, repo)
    check_ids(m, key, repo)
    objects = m.get("objects")
    if not isinstance(objects, list):
        raise DecodeError(f"{key}: manifest has no objects list")
    names = set()
    for n, o in enumerate(objects):
        where = f"{key}: objects[{n}]"
        if not isinstance(o, dict) or not isinstance(o.get("name"), str):
            raise DecodeError(f"{where}: not an object with a name")
        if o["name"] in names:
            raise DecodeError(f"{where}: duplicate object name {o['name']!r}")
        names.add(o["name"])
        km = DATA_KEY_RE.match(o.get("key") if isinstance(o.get("key"), str) else "")
        if not km or km.group(2)[:2] != km.group(1):
            raise DecodeError(f"{where}: key {o.get('key')!r} is not data/<xx>/<32 hex id>")
        if o.get("object_id") != km.group(2):
            raise DecodeError(f"{where}: object_id {o.get('object_id')!r} does not match key {o['key']}")
        unhex(o.get("dek"), 32, f"{where}.dek")
        unhex(o.get("blake3"), 32, f"{where}.blake3")
        unhex(o.get("plain_blake3"), 32, f"{where}.plain_blake3")
        for s in ("size", "plain_size"):
            if not isinstance(o.get(s), int) or isinstance(o.get(s), bool) or o[s] < 0:
                raise DecodeError(f"{where}.{s}: not a non-negative integer")
    return m


def check_ids(m, key, repo):
    """The manifest names itself and the repository it was read from; returns it."""
    if m.get("id") != key[len("backups/"):]:
        raise DecodeError(f"{key}: manifest id {m.get('id')!r} does not match its key and header")
    if m.get("repository") != repo.repo_id.hex():
        raise DecodeError(f"{key}: manifest belongs to repository {m.get('repository')!r}, not {repo.repo_id.hex()}")
    return m


V3_DATA_OBJECT_FIELDS = ("key", "object_id", "dek", "blake3")


def check_v3_records(m, key):
    """FORMAT.md 11.5: each record of a version 3 manifest names a file node of the root
    tree by its path (plain names joined by /) and keeps its plaintext size and BLAKE3."""
    objects = m.get("objects")
    if not isinstance(objects, list):
        raise DecodeError(f"{key}: manifest has no objects list")
    names = set()
    for n, o in enumerate(objects):
        where = f"{key}: objects[{n}]"
        if not isinstance(o, dict) or not isinstance(o.get("name"), str):
            raise DecodeError(f"{where}: not an object with a name")
        if any(f in o for f in V3_DATA_OBJECT_FIELDS) or o.get("size", 0) != 0:
            raise DecodeError(f"{where}: a version 3 manifest names a data object")
        if o.get("tree") != m["tree"]:
            raise DecodeError(f"{where}: names another root tree than its manifest")
        if any(part in ("", ".", "..") or "\0" in part for part in o["name"].split("/")):
            raise DecodeError(f"{where}: object name {o['name']!r} is not a relative path of plain names")
        if o["name"] in names:
            raise DecodeError(f"{where}: duplicate object name {o['name']!r}")
        names.add(o["name"])
        unhex(o.get("plain_blake3"), 32, f"{where}.plain_blake3")
        if not isinstance(o.get("plain_size"), int) or isinstance(o.get("plain_size"), bool) or o["plain_size"] < 0:
            raise DecodeError(f"{where}.plain_size: not a non-negative integer")


# ---------------------------------------------------------------- format 3 (FORMAT.md 11)

PACK_MAGIC, PACK_TRAILER, INDEX_MAGIC = b"LBPACK03", b"LBPKEND3", b"LBINDX03"
PACK_HEADER_LEN, PACK_ENTRY_LEN = 34, 50
BLOB_DATA, BLOB_TREE = 1, 2
NODE_TYPES = ("file", "dir", "symlink", "fifo", "chardev", "blockdev")


class Domain:
    """A dedup domain's keys, derived from its 32-byte secret (11.2)."""

    def __init__(self, secret):
        self.id = hkdf(secret, "lifeboat/v3/domain-id")[:8]
        self.id_key = hkdf(secret, "lifeboat/v3/blob-id")
        self.seal_key = hkdf(secret, "lifeboat/v3/blob-seal")
        self.blobs = None  # blob id -> (pack path, pack header[0:32], entry tuple, pack key)
        self.creds = None  # opens the recipient slots of a write-only host's packs


def v3_domain(repo, creds, domain_hex):
    """Opens domains/<id> (a container of kind 3 whose plaintext is the secret) and checks
    that the secret derives the id its key names."""
    key = f"domains/{domain_hex}"
    obj = ObjectReader(repo, key, KIND_DOMAIN, bytes.fromhex(domain_hex) + bytes(8))
    try:
        obj.set_dek(obj.unwrap_dek(repo, creds))
        secret = b"".join(obj.chunks())
    finally:
        obj.close()
    if len(secret) != 32:
        raise DecodeError(f"{key}: holds {len(secret)} bytes, not a 32-byte domain secret")
    domain = Domain(secret)
    domain.creds = creds
    if domain.id.hex() != domain_hex:
        raise DecodeError(f"{key}: its secret derives domain {domain.id.hex()}, not the one its key names")
    return domain


def v3_pack_entries(path, key, domain):
    """The checked directory of one pack (11.3): (header prefix, [entries])."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < PACK_HEADER_LEN + 28 + 12 or data[:8] != PACK_MAGIC or data[-8:] != PACK_TRAILER:
        raise DecodeError(f"{key}: not a whole pack (magic or trailer missing)")
    if data[8:16] != domain.id:
        return None  # another domain's pack
    pack_id = data[16:32]
    if key.split("/")[-1] != pack_id.hex():
        raise DecodeError(f"{key}: its header names pack {pack_id.hex()}")
    slots = int.from_bytes(data[32:34], "little")
    header_len = PACK_HEADER_LEN + 103 * slots
    if slots > 64 or len(data) < header_len + 28 + 12:
        raise DecodeError(f"{key}: {slots} key slots do not fit (at most 64, 103 bytes each)")
    dir_len = int.from_bytes(data[-12:-8], "little")
    end = len(data) - 12
    start = end - dir_len
    if dir_len < 28 or start < header_len:
        raise DecodeError(f"{key}: directory length {dir_len} does not fit the pack")
    if slots == 0:
        pk = hkdf(domain.seal_key, "lifeboat/v3/pack", salt=pack_id)
    else:
        pk = v3_slot_key(data[:header_len], key, domain.creds)
    plain = aead_open(pk, data[start:start + 12], data[start + 12:end], data[:32] + b"directory")
    if plain is None or len(plain) % PACK_ENTRY_LEN:
        raise DecodeError(f"{key}: its directory fails authentication or is malformed")
    entries, spans = [], []
    for at in range(0, len(plain), PACK_ENTRY_LEN):
        e = plain[at:at + PACK_ENTRY_LEN]
        blob_id, kind, comp = e[:32], e[32], e[33]
        offset = int.from_bytes(e[34:42], "little")
        sealed_len = int.from_bytes(e[42:46], "little")
        plain_len = int.from_bytes(e[46:50], "little")
        if kind not in (BLOB_DATA, BLOB_TREE) or comp not in (0, 1) or sealed_len < 28:
            raise DecodeError(f"{key}: directory entry {at // PACK_ENTRY_LEN} is malformed")
        if offset < header_len or offset + sealed_len > start:
            raise DecodeError(f"{key}: blob {blob_id.hex()} lies outside the blob area")
        spans.append((offset, offset + sealed_len))
        entries.append((blob_id, kind, comp, offset, sealed_len, plain_len))
    spans.sort()
    if any(b[0] < a[1] for a, b in zip(spans, spans[1:])):
        raise DecodeError(f"{key}: two blobs overlap")
    return data[:32], entries, pk


def v3_slot_key(header, key, creds):
    """The random key of a write-only host's pack (11.3): unwrapped from the type-2 slot
    addressed to our identity, with header[0:32] as associated data."""
    if creds is None or creds.identity is None:
        raise DecodeError(f"{key}: a write-only host's pack (key slots): give --identity-file")
    for at in range(PACK_HEADER_LEN, len(header), 103):
        slot = header[at:at + 103]
        if slot[0] != 2 or int.from_bytes(slot[1:3], "little") != 100:
            raise DecodeError(f"{key}: a key slot of type {slot[0]} (a pack holds recipient slots only)")
        body = slot[3:]
        if body[0:8] != creds.identity_id:
            continue
        eph = body[8:40]
        try:
            shared = creds.identity.exchange(X25519PublicKey.from_public_bytes(eph))
        except ValueError:
            shared = bytes(32)
        kek = hkdf(shared, "lifeboat/v1/x25519-wrap", eph + creds.identity_public)
        pk = aead_open(kek, body[40:52], body[52:100], header[:32]) if shared != bytes(32) else None
        if pk is None:
            raise DecodeError(f"{key}: recipient slot {body[0:8].hex()} does not open (damaged or forged)")
        return pk
    raise DecodeError(f"{key}: no key slot for this identity ({creds.identity_id.hex()})")


def v3_load_blobs(repo, domain):
    """Every blob of the domain, from the packs' own directories: the decoder needs no index
    (11.3: packs are self-describing)."""
    domain.blobs = {}
    top = repo.path("packs")
    for sub in sorted(os.listdir(top)) if os.path.isdir(top) else []:
        for name in sorted(os.listdir(os.path.join(top, sub))):
            key = f"packs/{sub}/{name}"
            found = v3_pack_entries(repo.path(key), key, domain)
            if found is None:
                continue
            prefix, entries, pk = found
            for entry in entries:
                domain.blobs.setdefault(entry[0], (key, prefix, entry, pk))


def v3_blob(repo, domain, blob_id, want_kind, where):
    """One blob's plaintext: authenticated, decompressed and checked against its keyed id."""
    found = domain.blobs.get(blob_id)
    if found is None:
        raise DecodeError(f"{where}: blob {blob_id.hex()} is in no pack")
    key, prefix, (bid, kind, comp, offset, sealed_len, plain_len), pk = found
    if kind != want_kind:
        raise DecodeError(f"{where}: blob {blob_id.hex()} in {key} is of kind {kind}, expected {want_kind}")
    with open(repo.path(key), "rb") as f:
        f.seek(offset)
        record = f.read(sealed_len)
    body = aead_open(pk, record[:12], record[12:], prefix + bid + bytes([kind]))
    if body is None:
        raise DecodeError(f"{key}: blob {blob_id.hex()} ({where}) fails authentication")
    plain = zstd_decompress_bounded(body, plain_len, f"{key}: blob {blob_id.hex()}") if comp == 1 else body
    if len(plain) != plain_len or blake3.blake3(plain, key=domain.id_key).digest() != blob_id:
        raise DecodeError(f"{key}: blob {blob_id.hex()} ({where}) does not hash to its id")
    return plain


def v3_name(node, member, where):
    """A node's name (or symlink target) as bytes: UTF-8 text, or hex in `<member>_hex`."""
    if member in node:
        return node[member].encode("utf-8")
    if member + "_hex" in node:
        return bytes.fromhex(node[member + "_hex"])
    raise DecodeError(f"{where}: a node without {member}")


def v3_tree(repo, domain, tree_id, where):
    try:
        tree = json.loads(v3_blob(repo, domain, tree_id, BLOB_TREE, where).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise DecodeError(f"{where}: tree {tree_id.hex()} is not UTF-8 JSON ({e})") from None
    nodes = tree.get("nodes") if isinstance(tree, dict) else None
    if not isinstance(nodes, list):
        raise DecodeError(f"{where}: tree {tree_id.hex()} has no nodes list")
    for node in nodes:
        name = v3_name(node, "name", where)
        if not name or name in (b".", b"..") or b"/" in name or b"\0" in name:
            raise DecodeError(f"{where}: tree {tree_id.hex()} holds the unsafe name {name!r}")
        if node.get("type") not in NODE_TYPES:
            raise DecodeError(f"{where}: node {name!r} has unknown type {node.get('type')!r}")
    return nodes


def v3_file_content(repo, domain, node, where, out):
    written = 0
    for n, blob_hex in enumerate(node.get("content", [])):
        chunk = v3_blob(repo, domain, unhex(blob_hex, 32, f"{where} content[{n}]"), BLOB_DATA, where)
        out.write(chunk)
        written += len(chunk)
    if written != node.get("size"):
        raise DecodeError(f"{where}: restored {written} bytes, the tree says {node.get('size')}")


def v3_restore_tree(repo, domain, tree_id, target, where="/"):
    """Restores a tree into the directory `target` (which exists): files, directories,
    symlinks, FIFOs and hard links, with modes and mtimes; devices are reported, not made."""
    nodes = v3_tree(repo, domain, tree_id, where)
    dirs = []
    for node in nodes:
        name = v3_name(node, "name", where)
        path = os.path.join(os.fsencode(target), name)
        here = where.rstrip("/") + "/" + name.decode("utf-8", "replace")
        kind = node["type"]
        if kind == "dir":
            os.mkdir(path, 0o700)
            v3_restore_tree(repo, domain, unhex(node.get("subtree"), 32, f"{here} subtree"), path, here)
            dirs.append((path, node))
        elif kind == "file":
            link = v3_name(node, "hardlink", here) if ("hardlink" in node or "hardlink_hex" in node) else None
            first = os.path.join(os.fsencode(repo.restore_root), link.lstrip(b"/")) if link else None
            if first and os.path.exists(first):
                os.link(first, path)
                continue
            with open(path, "wb") as out:
                v3_file_content(repo, domain, node, here, out)
            os.chmod(path, node.get("mode", 0o600) & 0o777)
            os.utime(path, ns=(node.get("mtime_ns", 0), node.get("mtime_ns", 0)))
        elif kind == "symlink":
            os.symlink(v3_name(node, "target", here), path)
        elif kind == "fifo":
            os.mkfifo(path, node.get("mode", 0o600) & 0o777)
        else:
            warn(f"{here}: {kind} not created by the decoder")
    for path, node in reversed(dirs):
        os.chmod(path, node.get("mode", 0o700) & 0o777)
        os.utime(path, ns=(node.get("mtime_ns", 0), node.get("mtime_ns", 0)))


def v3_find(repo, domain, root_id, path):
    """The node at `path` (absolute, in the backup) and the tree walk to it."""
    parts = [p for p in path.split("/") if p]
    tree_id, node = root_id, None
    for n, part in enumerate(parts):
        nodes = v3_tree(repo, domain, tree_id, "/" + "/".join(parts[:n]))
        node = next((x for x in nodes if v3_name(x, "name", path) == part.encode("utf-8")), None)
        if node is None:
            raise DecodeError(f"{path}: not in the backup")
        if n + 1 < len(parts):
            if node["type"] != "dir":
                raise DecodeError(f"{path}: {'/'.join(parts[:n + 1])} is not a directory")
            tree_id = unhex(node.get("subtree"), 32, path)
    return node


def check_signature(repo, obj, plain):
    """FORMAT.md 3.2, slot type 3: a manifest opened through a recipient slot must be signed by
    the master key's signing key or a registered writer (anyone can wrap a key for a recipient)."""
    sigs = [body for stype, body in obj.slots if stype == 3]
    if not sigs:
        raise DecodeError(f"{obj.key}: opened with an identity, but it carries no writer signature (possibly forged)")
    if len(sigs) > 1 or len(sigs[0]) != 72:
        raise DecodeError(f"{obj.key}: malformed writer signature slot")
    writer_id, signature = sigs[0][:8], sigs[0][8:]
    public = repo.signers.get(writer_id)
    if public is None:
        raise DecodeError(f"{obj.key}: signed by writer {writer_id.hex()}, which the repository does not list "
                          "(possibly forged)")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(
            signature, b"lifeboat/v2/manifest-signature" + obj.header + plain)
    except (InvalidSignature, ValueError):
        raise DecodeError(f"{obj.key}: its signature by writer {writer_id.hex()} does not verify (forged or altered)") \
            from None


def backup_ids(repo):
    try:
        names = os.listdir(repo.path("backups"))
    except FileNotFoundError:
        return []
    except OSError as e:
        raise DecodeError(f"backups/: cannot list ({e.strerror})") from None
    return sorted(n for n in names if ID_RE.match(n))  # temporary files of writers are ignored


RFC3339_RE = re.compile(r"(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)")


def finished_key(m, key):
    """The manifest's `finished` time as an aware datetime (any fraction length, Z or an offset)."""
    text = m.get("finished")
    g = RFC3339_RE.fullmatch(text) if isinstance(text, str) else None
    try:
        if g is None:
            raise ValueError
        frac = (g.group(3) or "0")[:6].ljust(6, "0")
        tz = "+00:00" if g.group(4) in ("Z", "z") else g.group(4)
        return datetime.fromisoformat(f"{g.group(1)}T{g.group(2)}.{frac}{tz}")
    except ValueError:
        raise DecodeError(f"{key}: finished {text!r} is not an RFC 3339 time with an offset") from None


def select_backup(repo, creds, spec):
    ids = backup_ids(repo)
    if spec == "latest":
        if not ids:
            raise DecodeError("backups/: the repository has no backups")
        best = None
        for bid in ids:
            m = read_manifest(repo, creds, bid)
            k = (finished_key(m, f"backups/{bid}"), bid)
            if best is None or k > best[0]:
                best = (k, m)
        return best[1]
    if not re.fullmatch(r"[0-9a-f]{1,32}", spec):
        raise DecodeError(f"backup {spec!r}: expected an id, an id prefix (lowercase hex) or 'latest'")
    matches = [b for b in ids if b.startswith(spec)]
    if len(spec) == 32 and not matches:
        raise DecodeError(f"backups/{spec}: backup not found")
    if not matches:
        raise DecodeError(f"backup prefix {spec!r}: no backup matches")
    if len(matches) > 1:
        raise DecodeError(f"backup prefix {spec!r}: ambiguous, matches {len(matches)} backups")
    return read_manifest(repo, creds, matches[0])


# ---------------------------------------------------------------- restore


def pick_object(manifest, name):
    """The record `name` names, or by default the only one, or the one named `stream`."""
    objects = manifest["objects"]
    if name is None:
        if len(objects) == 1:
            entry = objects[0]
        else:
            found = [o for o in objects if o["name"] == "stream"]
            if not found:
                names = ", ".join(repr(o["name"]) for o in objects) or "none"
                raise DecodeError(f"backups/{manifest['id']}: several objects ({names}); choose one with --object")
            entry = found[0]
    else:
        found = [o for o in objects if o["name"] == name]
        if not found:
            raise DecodeError(f"backups/{manifest['id']}: no object named {name!r}")
        entry = found[0]
    return entry


class HashingWriter:
    """Counts and hashes what passes through to `out`, refusing bytes past `limit`."""

    def __init__(self, out, limit, where):
        self.out, self.limit, self.where = out, limit, where
        self.size, self.digest = 0, blake3.blake3()

    def write(self, chunk):
        self.size += len(chunk)
        if self.size > self.limit:
            raise DecodeError(f"{self.where}: plaintext is longer than the manifest's plain_size {self.limit}")
        self.digest.update(chunk)
        self.out.write(chunk)


def v3_restore_object(repo, domain, manifest, name, out):
    """A format 3 stream (FORMAT.md 11.5): the file node the record names, its chunks in
    order, then the record's plain_size and plain_blake3 checked."""
    entry = pick_object(manifest, name)
    where = f"backups/{manifest['id']}: {entry['name']}"
    node = v3_find(repo, domain, bytes.fromhex(manifest["tree"]), "/" + entry["name"])
    if node["type"] != "file":
        raise DecodeError(f"{where}: is a {node['type']} in the root tree, not a file")
    if node.get("size") != entry["plain_size"]:
        raise DecodeError(f"{where}: the tree says {node.get('size')} bytes, the manifest {entry['plain_size']}")
    hashing = HashingWriter(out, entry["plain_size"], where)
    v3_file_content(repo, domain, node, where, hashing)
    if hashing.digest.hexdigest() != entry["plain_blake3"]:
        raise DecodeError(f"{where}: plain_blake3 of the restored stream differs from the manifest")


def restore_object(repo, manifest, name, out):
    entry = pick_object(manifest, name)
    key = entry["key"]

    # Pass 1: stored size and BLAKE3, so nothing is released from an object whose stored
    # bytes differ from what the manifest recorded.
    try:
        with open(repo.path(key), "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size != entry["size"]:
                raise DecodeError(f"{key}: stored size {size} differs from the manifest's {entry['size']}")
            digest = blake3.blake3()
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        raise DecodeError(f"{key}: object not found") from None
    except OSError as e:
        raise DecodeError(f"{key}: cannot read ({e.strerror})") from None
    if digest.hexdigest() != entry["blake3"]:
        raise DecodeError(f"{key}: blake3 of the stored bytes differs from the manifest")

    # Pass 2: decrypt and decompress segment by segment.
    obj = ObjectReader(repo, key, KIND_DATA, bytes.fromhex(entry["object_id"]))
    try:
        obj.set_dek(bytes.fromhex(entry["dek"]))
        plain_digest = blake3.blake3()
        plain_size = 0
        for chunk in obj.chunks():
            plain_digest.update(chunk)
            plain_size += len(chunk)
            if plain_size > entry["plain_size"]:
                raise DecodeError(f"{key}: plaintext is longer than the manifest's plain_size {entry['plain_size']}")
            out.write(chunk)
        if obj.r.count != entry["size"] or obj.r.digest.hexdigest() != entry["blake3"]:
            raise DecodeError(f"{key}: object changed while it was being read")
    finally:
        obj.close()
    if plain_size != entry["plain_size"]:
        raise DecodeError(f"{key}: plaintext is {plain_size} bytes, manifest says {entry['plain_size']}")
    if plain_digest.hexdigest() != entry["plain_blake3"]:
        raise DecodeError(f"{key}: plain_blake3 of the restored stream differs from the manifest")


def write_output(path, produce):
    if path == "-":
        produce(sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    if os.path.exists(path) and not os.path.isfile(path):
        # A device or a pipe (e.g. /dev/null): write straight into it, never rename over it.
        try:
            with open(path, "wb") as f:
                produce(f)
        except OSError as e:
            raise DecodeError(f"output {path}: {e.strerror}") from None
        return
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".partial")
    except OSError as e:
        raise DecodeError(f"output {path}: cannot create a temporary file ({e.strerror})") from None
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                produce(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            raise DecodeError(f"output {path}: {e.strerror}") from None
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ---------------------------------------------------------------- main


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"lifeboat_decode: error: {message}", file=sys.stderr)
        sys.exit(1)


def main(argv=None):
    p = Parser(description="Independent reader for Lifeboat repositories (docs/FORMAT.md).")
    p.add_argument("--repo", help="repository directory (or file:// URL)")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--export-file", help="an export file encrypted for recipients (.lbx): needs --identity-file")
    mode.add_argument("--backup", help="backup id, unique id prefix, or 'latest'")
    mode.add_argument("--list", action="store_true", help="list backups: id, finished, kind, name")
    p.add_argument("--password-file", help="file holding the password (else env LIFEBOAT_PASSWORD)")
    p.add_argument("--keyfile", help="key file registered in a keyfile slot")
    p.add_argument("--identity-file", help="X25519 identity file (lbsk1...)")
    p.add_argument("--object", help="object name to restore (default: the only one, or 'stream')")
    p.add_argument("--out", help="output file, or - for standard output")
    p.add_argument("--target", help="format 3 backup: restore its tree into this new directory")
    p.add_argument("--path", help="format 3 files backup: with --out, write only this file of it")
    args = p.parse_args(argv)
    if args.backup is not None and not args.out and not args.target:
        p.error("--backup needs --out FILE|- (or --target DIR for a format 3 files backup)")
    if args.export_file is not None and (not args.out or not args.identity_file):
        p.error("--export-file needs --identity-file and --out FILE|-")
    if args.export_file is None and not args.repo:
        p.error("--repo is required")

    try:
        password = None
        if args.password_file:
            password = read_password_file(args.password_file)
        elif os.environ.get("LIFEBOAT_PASSWORD") is not None:
            password = os.environ["LIFEBOAT_PASSWORD"].encode("utf-8")
        keyfile = None
        if args.keyfile:
            try:
                with open(args.keyfile, "rb") as f:
                    keyfile = f.read()
            except OSError as e:
                raise DecodeError(f"key file {args.keyfile}: {e.strerror}") from None
        identity = read_identity_file(args.identity_file) if args.identity_file else None
        if password is None and keyfile is None and identity is None:
            raise DecodeError("no credential: give --password-file, LIFEBOAT_PASSWORD, --keyfile or --identity-file")
        creds = Credentials(password, keyfile, identity)

        if args.export_file is not None:
            write_output(args.out, lambda out: decrypt_export(args.export_file, creds, out))
            return 0

        repo = Repo(args.repo)
        if not repo.unlock(creds) and creds.identity is None:
            raise DecodeError("config: no key slot opened")

        if args.list:
            failed = 0
            rows = []
            for bid in backup_ids(repo):
                try:
                    m = read_manifest(repo, creds, bid)
                    when = finished_key(m, f"backups/{bid}")
                    rows.append((when, bid, m.get("finished"), m.get("kind"), m.get("name")))
                except DecodeError as e:
                    print(f"lifeboat_decode: error: {e}", file=sys.stderr)
                    failed += 1
            for _, bid, finished, kind, name in sorted(rows):
                print(f"{bid}\t{finished}\t{kind}\t{name}")
            return 1 if failed else 0

        manifest = select_backup(repo, creds, args.backup)
        if manifest["version"] == 3:
            domain = v3_domain(repo, creds, manifest["domain"])
            v3_load_blobs(repo, domain)
            root = bytes.fromhex(manifest["tree"])
            if args.target:
                if os.path.lexists(args.target):
                    raise DecodeError(f"{args.target}: exists; restore into a new directory")
                os.mkdir(args.target, 0o700)
                repo.restore_root = args.target
                v3_restore_tree(repo, domain, root, args.target)
                return 0
            if not args.path and manifest["objects"]:
                write_output(args.out, lambda out: v3_restore_object(repo, domain, manifest, args.object, out))
                return 0
            if not args.path:
                raise DecodeError(f"backups/{manifest['id']}: a format 3 backup needs --target DIR or --path P --out F")
            node = v3_find(repo, domain, root, args.path)
            if node["type"] != "file":
                raise DecodeError(f"{args.path}: is a {node['type']}, not a file")
            write_output(args.out, lambda out: v3_file_content(repo, domain, node, args.path, out))
            return 0
        if args.target or args.path:
            raise DecodeError(f"backups/{manifest['id']}: --target and --path read format 3 backups only")
        write_output(args.out, lambda out: restore_object(repo, manifest, args.object, out))
        return 0
    except DecodeError as e:
        print(f"lifeboat_decode: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        print("lifeboat_decode: error: output closed early", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lifeboat_decode: error: interrupted", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
