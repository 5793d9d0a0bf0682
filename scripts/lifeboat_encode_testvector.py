#!/usr/bin/env python3
"""Test-vector ENCODER for the Lifeboat repository format (docs/FORMAT.md: config 2, objects 2, manifests 2).

Written from FORMAT.md only, to exercise scripts/lifeboat_decode.py before (and besides)
the Rust writer. It is a library for scripts/test_decoder_selftest.py, whose low-level
helpers can also build deliberately malformed objects, and a small CLI:

  lifeboat_encode_testvector.py --repo DIR --input FILE|- [--name t] [--segment-size N]
                                [--compression 0|1]      (password from LIFEBOAT_PASSWORD)

creates DIR as a repository with one password slot (the cheapest Argon2id allowed: m=19456, t=2, p=1)
and one stream backup of the input, and prints the backup id. Not for real backups:
it holds everything in memory.
"""

import argparse
import hashlib
import hmac
import json
import os
import sys
from datetime import datetime, timedelta, timezone

import blake3
import zstandard
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

CHEAP_ARGON = (19456, 2, 1)  # the floor readers accept (FORMAT.md 2.1)


def hkdf(ikm, info, salt=b""):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt or None, info=info.encode()).derive(ikm)


def now_rfc3339(offset_seconds=0):
    t = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=offset_seconds)
    return t.isoformat()


# ---------------------------------------------------------------- objects (section 3)


def build_header(kind, compression, segment_size, object_id, nonce_prefix, dek, *, commitment=None,
                 version=2, magic=b"LIFEBOAT", reserved11=0, reserved39=0):
    """The 72-byte fixed header. Keyword arguments allow malformed headers for tests."""
    if commitment is None:
        commitment = hkdf(dek, "lifeboat/v1/commitment", object_id)
    h = (magic + bytes([version, kind, compression, reserved11]) + segment_size.to_bytes(4, "little")
         + object_id + nonce_prefix + bytes([reserved39]) + commitment)
    assert len(h) == 72
    return h


def slot_section(slots):
    """slots: list of (type, body)."""
    out = len(slots).to_bytes(2, "little")
    for stype, body in slots:
        out += bytes([stype]) + len(body).to_bytes(2, "little") + body
    return out


def segment_aad(header, slots):
    """The segments' associated data (section 3.3): version 2 appends SHA-256 of the slot section."""
    return header if header[8] == 1 else header + hashlib.sha256(slots).digest()


def master_slot(header, dek, mk, mk_id):
    nonce = os.urandom(12)
    wrapped = AESGCM(hkdf(mk, "lifeboat/v1/master-wrap")).encrypt(nonce, dek, header)
    return (1, mk_id + nonce + wrapped)


def master_key_id(mk):
    """FORMAT.md 2.1: derived from the key."""
    return hkdf(mk, "lifeboat/v2/key-id")[:8]


def signing_key(mk):
    """FORMAT.md 2.4: the master key's Ed25519 signing key."""
    return Ed25519PrivateKey.from_private_bytes(hkdf(mk, "lifeboat/v2/master-signing"))


def ed25519_public(key):
    return key.public_key().public_bytes_raw()


def signature_slot(header, plain, key):
    """FORMAT.md 3.2, type 3: writer_id || Ed25519(key, label || fixed header || plaintext)."""
    sig = key.sign(b"lifeboat/v2/manifest-signature" + header + plain)
    return (3, hashlib.sha256(ed25519_public(key)).digest()[:8] + sig)


def canonical_config(cfg):
    """FORMAT.md 2.5: what the config MAC covers."""
    doc = {k: v for k, v in cfg.items() if k != "mac"}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def recipient_slot(header, dek, recipient_public):
    eph = X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes_raw()
    shared = eph.exchange(X25519PublicKey.from_public_bytes(recipient_public))
    kek = hkdf(shared, "lifeboat/v1/x25519-wrap", eph_pub + recipient_public)
    nonce = os.urandom(12)
    wrapped = AESGCM(kek).encrypt(nonce, dek, header)
    rid = hashlib.sha256(recipient_public).digest()[:8]
    return (2, rid + eph_pub + nonce + wrapped)


def split_chunks(data, segment_size):
    """Chunks per section 3.3: full chunks, the last holds 1..segment_size bytes; empty -> one empty chunk."""
    if not data:
        return [b""]
    return [data[i:i + segment_size] for i in range(0, len(data), segment_size)]


def make_body(chunk, compression, level=3):
    return zstandard.ZstdCompressor(level=level).compress(chunk) if compression == 1 else chunk


def seal_segment(aad, dek, object_id, nonce_prefix, i, last, body, *, sealed_len=None):
    """One framed segment; `aad` is segment_aad(header, slots) (the bare header in version 1)."""
    pk = hkdf(dek, "lifeboat/v1/payload", object_id)
    nonce = nonce_prefix + i.to_bytes(4, "big") + (b"\x01" if last else b"\x00")
    sealed = AESGCM(pk).encrypt(nonce, body, aad)
    n = len(sealed) if sealed_len is None else sealed_len
    return n.to_bytes(4, "little") + sealed


class Encoded:
    """An object as its parts, so tests can drop, reorder or tamper with segments."""

    def __init__(self, header, slots, segments, object_id, dek, plain):
        self.header, self.slots, self.segments = header, slots, segments
        self.object_id, self.dek, self.plain = object_id, dek, plain
        self.aad = segment_aad(header, slots)

    def bytes(self):
        return self.header + self.slots + b"".join(self.segments)


def encode_object(kind, data, *, segment_size=1048576, compression=1, object_id=None, dek=None,
                  nonce_prefix=None, slot_fn=None, bodies=None, header_kw=None):
    """Encode `data` as an object. slot_fn(header, dek) -> list of slots (manifests).

    `bodies`, if given, replaces the normal (i, last, body) list: a test can seal anything.
    """
    object_id = object_id or os.urandom(16)
    dek = dek or os.urandom(32)
    nonce_prefix = nonce_prefix or os.urandom(7)
    header = build_header(kind, compression, segment_size, object_id, nonce_prefix, dek, **(header_kw or {}))
    slots = slot_section(slot_fn(header, dek) if slot_fn else [])
    if bodies is None:
        chunks = split_chunks(data, segment_size)
        bodies = [(i, i == len(chunks) - 1, make_body(c, compression)) for i, c in enumerate(chunks)]
    aad = segment_aad(header, slots)
    segments = [seal_segment(aad, dek, object_id, nonce_prefix, i, last, body) for i, last, body in bodies]
    return Encoded(header, slots, segments, object_id, dek, data)


# ---------------------------------------------------------------- repository (sections 1, 2, 5)


class TestRepo:
    def __init__(self, root, segment_size=1048576):
        self.root = root
        self.repo_id = os.urandom(16)
        self.mk = os.urandom(32)
        self.mk_id = master_key_id(self.mk)
        self.generation = 0
        self.writers = []  # config entries
        self.segment_size = segment_size
        self.slots = []
        self.recipients = []
        self.retired = []
        self.recipient_publics = []  # raw keys that new manifests are wrapped for
        os.makedirs(root, exist_ok=True)

    # -- config
    def _slot(self, kind, kdf, kek, label):
        slot_id = os.urandom(8)
        nonce = os.urandom(12)
        wrapped = AESGCM(kek).encrypt(nonce, self.mk, b"lifeboat/v1/slot" + self.repo_id + slot_id)
        self.slots.append({"id": slot_id.hex(), "kind": kind, "label": label, "created": now_rfc3339(),
                           "kdf": kdf, "nonce": nonce.hex(), "wrapped": wrapped.hex()})

    def add_password_slot(self, password, params=CHEAP_ARGON, label="password"):
        m, t, p = params
        salt = os.urandom(16)
        kek = Argon2id(salt=salt, length=32, iterations=t, lanes=p, memory_cost=m).derive(password.encode())
        kdf = {"algorithm": "argon2id", "version": 19, "memory_kib": m, "iterations": t,
               "parallelism": p, "salt": salt.hex()}
        self._slot("password", kdf, kek, label)

    def add_keyfile_slot(self, content, label="keyfile"):
        salt = os.urandom(16)
        self._slot("keyfile", {"algorithm": "hkdf-sha256", "salt": salt.hex()},
                   hkdf(content, "lifeboat/v1/keyfile", salt), label)

    def add_recipient(self, public, label="reader"):
        self.recipients.append({"id": hashlib.sha256(public).digest()[:8].hex(), "public_key": "lbpk1" + public.hex(),
                                "label": label})
        self.recipient_publics.append(public)

    def add_writer(self, key, label="writer"):
        """Register an Ed25519 writer key (FORMAT.md 2.4)."""
        pub = ed25519_public(key)
        self.writers.append({"id": hashlib.sha256(pub).digest()[:8].hex(), "public_key": "lbwp1" + pub.hex(),
                             "label": label})

    def rotate_keep_retired(self, password, params=CHEAP_ARGON):
        """First half of a rotation (section 7): new MK, one slot, old MK retired."""
        old_mk, old_id = self.mk, self.mk_id
        self.mk = os.urandom(32)
        self.mk_id = master_key_id(self.mk)
        nonce = os.urandom(12)
        wrapped = AESGCM(hkdf(self.mk, "lifeboat/v1/retired-wrap")).encrypt(
            nonce, old_mk, b"lifeboat/v1/retired" + self.repo_id + old_id)
        self.retired.append({"id": old_id.hex(), "nonce": nonce.hex(), "wrapped": wrapped.hex()})
        self.slots = []
        self.add_password_slot(password, params)
        return old_mk, old_id

    def config_doc(self):
        """The config (FORMAT.md 2), next generation, authenticated under the master key."""
        self.generation += 1
        cfg = {"format": "lifeboat-repository", "version": 2, "id": self.repo_id.hex(), "created": now_rfc3339(),
               "generation": self.generation, "segment_size": self.segment_size, "compression_level": 3,
               "master_key_id": self.mk_id.hex(), "signing_key": "lbwp1" + ed25519_public(signing_key(self.mk)).hex(),
               "slots": self.slots, "recipients": self.recipients, "writers": self.writers,
               "retired_master_keys": self.retired, "some_future_member": {"readers": "keep me", "n": [1, -2]}}
        return self.seal_config(cfg)

    def seal_config(self, cfg):
        mac = hmac.new(hkdf(self.mk, "lifeboat/v2/config-mac"), b"lifeboat/v2/config" + canonical_config(cfg),
                       hashlib.sha256).digest()
        return dict(cfg, mac=mac.hex())

    def write_config(self, cfg=None):
        self.put("config", json.dumps(cfg or self.config_doc(), indent=2).encode())

    def put(self, key, data):
        path = os.path.join(self.root, *key.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    # -- objects and manifests
    def store_data(self, name, enc, stored=None, **overrides):
        """Store a data object (its bytes, or `stored` instead) and return its manifest entry."""
        stored = enc.bytes() if stored is None else stored
        oid = enc.object_id.hex()
        key = f"data/{oid[:2]}/{oid}"
        self.put(key, stored)
        entry = {"name": name, "key": key, "object_id": oid, "dek": enc.dek.hex(), "size": len(stored),
                 "blake3": blake3.blake3(stored).hexdigest(), "plain_size": len(enc.plain),
                 "plain_blake3": blake3.blake3(enc.plain).hexdigest()}
        entry.update(overrides)
        return entry

    def manifest_doc(self, backup_id, entries, kind="stream", name="t", finished=None, **overrides):
        doc = {"version": 2, "id": backup_id.hex(), "repository": self.repo_id.hex(), "kind": kind, "name": name,
               "plan": None, "host": "testhost", "tags": [], "started": now_rfc3339(-1),
               "finished": finished or now_rfc3339(), "tool": "lifeboat_encode_testvector", "parent": None,
               "source": {}, "objects": entries, "warnings": [], "stats": {}}
        doc.update(overrides)
        return doc

    def encode_manifest(self, backup_id, doc, *, mk=None, mk_id=None, extra_slots=(), master=True, signer=None,
                        signed=True, **kw):
        """`signer`: an Ed25519 writer key (default: the master key's signing key)."""
        mk = mk or self.mk
        mk_id = mk_id or self.mk_id
        plain = json.dumps(doc).encode() if isinstance(doc, dict) else doc

        def slots(header, dek):
            out = list(extra_slots)
            if master:
                out.append(master_slot(header, dek, mk, mk_id))
            out += [recipient_slot(header, dek, pub) for pub in self.recipient_publics]
            if signed:
                out.append(signature_slot(header, plain, signer or signing_key(mk)))
            return out

        return encode_object(2, plain, segment_size=kw.pop("segment_size", 4096), compression=1,
                             object_id=backup_id, slot_fn=slots, **kw)

    def write_manifest(self, backup_id, doc, **kw):
        enc = self.encode_manifest(backup_id, doc, **kw)
        self.put(f"backups/{backup_id.hex()}", enc.bytes())
        return enc

    def stream_backup(self, data, name="t", segment_size=None, compression=1, finished=None, **kw):
        """A complete stream backup; returns (backup id hex, manifest entry, encoded data object)."""
        enc = encode_object(1, data, segment_size=segment_size or self.segment_size, compression=compression)
        entry = self.store_data("stream", enc)
        backup_id = os.urandom(16)
        self.write_manifest(backup_id, self.manifest_doc(backup_id, [entry], name=name, finished=finished), **kw)
        return backup_id.hex(), entry, enc


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repo", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--name", default="t")
    p.add_argument("--segment-size", type=int, default=1048576)
    p.add_argument("--compression", type=int, choices=(0, 1), default=1)
    a = p.parse_args()
    pw = os.environ.get("LIFEBOAT_PASSWORD")
    if pw is None:
        sys.exit("lifeboat_encode_testvector: set LIFEBOAT_PASSWORD")
    data = sys.stdin.buffer.read() if a.input == "-" else open(a.input, "rb").read()
    repo = TestRepo(a.repo, a.segment_size)
    repo.add_password_slot(pw)
    repo.write_config()
    bid, _, _ = repo.stream_backup(data, name=a.name, compression=a.compression)
    print(bid)


if __name__ == "__main__":
    main()
