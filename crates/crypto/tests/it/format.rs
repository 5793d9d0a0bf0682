//! Round trips and the tamper matrix of the object format.

use bytes::Bytes;
use futures::StreamExt;
use lifeboat_crypto::{
    Audience, CryptoError, Keyring, ObjectKind, PipelineOptions, SecretKey, open_bytes, open_data_stream, seal_bytes,
    seal_data_stream,
};
use proptest::prelude::*;

const SEG: u32 = 4096;

fn options(level: i32) -> PipelineOptions {
    PipelineOptions { segment_size: SEG, compression_level: level, parallelism: 3 }
}

fn sample(len: usize) -> Vec<u8> {
    // Half compressible, half noisy, deterministic.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if (i / 1000) % 2 == 0 { b"lifeboat "[i % 9] } else { x as u8 }
        })
        .collect()
}

async fn seal(plain: Vec<u8>, level: i32) -> (Vec<u8>, [u8; 16], SecretKey) {
    let (running, id, dek) = seal_data_stream(std::io::Cursor::new(plain), options(level)).unwrap();
    let (mut stream, done) = running.into_parts();
    let mut object = Vec::new();
    while let Some(chunk) = stream.next().await {
        object.extend_from_slice(&chunk.unwrap());
    }
    let digests = done.finish().await.unwrap();
    assert_eq!(digests.size, object.len() as u64);
    (object, id, dek)
}

async fn open(object: Vec<u8>, id: [u8; 16], dek: SecretKey) -> Result<Vec<u8>, CryptoError> {
    // Deliver the object in awkward pieces, as a network would.
    let pieces: Vec<Result<Bytes, std::io::Error>> =
        object.chunks(777).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let (mut stream, done) = open_data_stream(futures::stream::iter(pieces), id, dek, 3).into_parts();
    let mut plain = Vec::new();
    while let Some(chunk) = stream.next().await {
        plain.extend_from_slice(&chunk?);
    }
    done.finish().await?;
    Ok(plain)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_at_segment_edges() {
    let s = SEG as usize;
    for len in [0, 1, s - 1, s, s + 1, 3 * s, 3 * s + 5, 10 * s] {
        for level in [0, 3] {
            let plain = sample(len);
            let (object, id, dek) = seal(plain.clone(), level).await;
            let segments = len.div_ceil(s).max(1);
            let back = open(object, id, dek).await.unwrap_or_else(|e| panic!("len {len} level {level}: {e}"));
            assert_eq!(back, plain, "len {len} level {level} ({segments} segments)");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digests_are_blake3_of_plaintext_and_object() {
    let plain = sample(50_000);
    let (running, _, _) = seal_data_stream(std::io::Cursor::new(plain.clone()), options(3)).unwrap();
    let (mut stream, done) = running.into_parts();
    let mut object = Vec::new();
    while let Some(c) = stream.next().await {
        object.extend_from_slice(&c.unwrap());
    }
    let d = done.finish().await.unwrap();
    assert_eq!(d.plain_blake3, *blake3::hash(&plain).as_bytes());
    assert_eq!(d.blake3, Some(*blake3::hash(&object).as_bytes()));
    assert_eq!(d.plain_size, 50_000);
    assert_eq!(d.segments, 50_000u64.div_ceil(SEG as u64));
}

/// Offsets of each segment frame (start, end) in a data object (no slots).
fn frames(object: &[u8]) -> Vec<(usize, usize)> {
    let mut pos = 72 + 2;
    let mut out = Vec::new();
    while pos < object.len() {
        let len = u32::from_le_bytes(object[pos..pos + 4].try_into().unwrap()) as usize;
        out.push((pos, pos + 4 + len));
        pos += 4 + len;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tamper_matrix_is_detected_and_named() {
    let plain = sample(5 * SEG as usize + 100);
    let (object, id, dek) = seal(plain.clone(), 3).await;
    let (other, other_id, other_dek) = seal(sample(5 * SEG as usize + 100), 3).await;
    let f = frames(&object);
    assert_eq!(f.len(), 6);
    let header_end = f[0].0;

    let flip = |at: usize| {
        let mut o = object.clone();
        o[at] ^= 0x01;
        o
    };
    let without = |i: usize| [&object[..f[i].0], &object[f[i].1..]].concat();
    let swapped = [&object[..f[1].0], &object[f[2].0..f[2].1], &object[f[1].0..f[1].1], &object[f[2].1..]].concat();
    let duplicated = [&object[..f[2].1], &object[f[2].0..]].concat();
    let of = frames(&other);
    let spliced = [&object[..f[2].0], &other[of[2].0..of[2].1], &object[f[2].1..]].concat();

    type Check = fn(&CryptoError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        ("flipped magic", flip(0), |e| matches!(e, CryptoError::BadHeader(_))),
        ("flipped object id", flip(20), |e| matches!(e, CryptoError::ObjectIdMismatch { .. })),
        ("flipped nonce prefix", flip(33), |e| matches!(e, CryptoError::SegmentAuth { index: 0 })),
        ("flipped commitment", flip(50), |e| matches!(e, CryptoError::KeyMismatch)),
        ("flipped segment body", flip(f[1].0 + 10), |e| matches!(e, CryptoError::SegmentAuth { index: 1 })),
        ("flipped tag", flip(f[5].1 - 1), |e| matches!(e, CryptoError::SegmentAuth { index: 5 })),
        ("flipped length", flip(f[3].0), |e| {
            matches!(
                e,
                CryptoError::SegmentAuth { .. } | CryptoError::SegmentFrame { .. } | CryptoError::Truncated { .. }
            )
        }),
        ("truncated at boundary", object[..f[3].0].to_vec(), |e| matches!(e, CryptoError::Truncated { .. })),
        ("truncated mid-segment", object[..f[3].0 + 40].to_vec(), |e| matches!(e, CryptoError::Truncated { .. })),
        ("truncated to header", object[..header_end].to_vec(), |e| matches!(e, CryptoError::Truncated { segments: 0 })),
        ("truncated inside header", object[..50].to_vec(), |e| matches!(e, CryptoError::BadHeader(_))),
        ("dropped segment", without(2), |e| matches!(e, CryptoError::SegmentAuth { index: 2 })),
        ("dropped last segment", without(5), |e| matches!(e, CryptoError::Truncated { .. })),
        ("reordered segments", swapped, |e| matches!(e, CryptoError::SegmentAuth { index: 1 })),
        ("duplicated segment", duplicated, |e| matches!(e, CryptoError::SegmentAuth { index: 3 })),
        ("spliced segment", spliced, |e| matches!(e, CryptoError::SegmentAuth { index: 2 })),
        ("trailing data", [&object[..], b"x"].concat(), |e| {
            matches!(e, CryptoError::TrailingData | CryptoError::SegmentFrame { .. } | CryptoError::Truncated { .. })
        }),
        ("appended segment", [&object[..], &object[f[5].0..f[5].1]].concat(), |e| {
            matches!(e, CryptoError::TrailingData)
        }),
    ];
    for (name, tampered, check) in cases {
        let err = open(tampered, id, dek.clone()).await.expect_err(name);
        assert!(check(&err), "{name}: unexpected error {err:?}");
        assert!(!err.to_string().is_empty());
    }
    // Another object's key, or the right key for another object.
    let err = open(object.clone(), id, SecretKey::generate().unwrap()).await.unwrap_err();
    assert!(matches!(err, CryptoError::KeyMismatch), "{err:?}");
    let err = open(other.clone(), id, dek.clone()).await.unwrap_err();
    assert!(matches!(err, CryptoError::ObjectIdMismatch { .. }), "{err:?}");
    assert_eq!(open(other, other_id, other_dek).await.unwrap().len(), plain.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_released_past_a_bad_segment() {
    let plain = sample(8 * SEG as usize);
    let (mut object, id, dek) = seal(plain.clone(), 0).await;
    let f = frames(&object);
    object[f[6].0 + 9] ^= 0xff;
    let pieces = vec![Ok::<_, std::io::Error>(Bytes::from(object))];
    let (mut stream, _done) = open_data_stream(futures::stream::iter(pieces), id, dek, 3).into_parts();
    let mut released = Vec::new();
    let mut failed = false;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => released.extend_from_slice(&c),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed);
    assert_eq!(released, plain[..6 * SEG as usize], "exactly the authenticated prefix");
}

fn master() -> ([u8; 8], SecretKey) {
    ([7; 8], SecretKey::from_bytes([9; 32]))
}

#[test]
fn manifests_open_with_master_or_recipient_only() {
    let (id, key) = master();
    let identity = lifeboat_crypto::Identity::generate().unwrap();
    let recipients = [identity.public()];
    let audience = Audience { master: Some((&id, &key)), recipients: &recipients };
    let sealed = seal_bytes(b"{\"manifest\":1}", ObjectKind::Manifest, [1; 16], audience, options(3)).unwrap();

    let mut by_master = Keyring::new();
    by_master.add_master(id, key.clone());
    assert_eq!(&open_bytes(&sealed, &by_master, 1 << 20).unwrap().1[..], b"{\"manifest\":1}");
    let mut by_identity = Keyring::new();
    by_identity.add_identity(identity);
    assert_eq!(&open_bytes(&sealed, &by_identity, 1 << 20).unwrap().1[..], b"{\"manifest\":1}");

    // A master-key slot that does not open for a holder of master keys is damage, not
    // "written for someone else" (issue 9, item 10).
    let mut wrong = Keyring::new();
    wrong.add_master(id, SecretKey::from_bytes([1; 32]));
    assert!(
        matches!(open_bytes(&sealed, &wrong, 1 << 20), Err(CryptoError::DamagedSlot { kind: "master-key", .. })),
        "{:?}",
        open_bytes(&sealed, &wrong, 1 << 20).err()
    );
    // A slot moved onto another object does not open there (the fixed header is its AAD).
    let other = seal_bytes(b"x", ObjectKind::Manifest, [2; 16], audience, options(3)).unwrap();
    let mut grafted = other[..72].to_vec();
    grafted.extend_from_slice(&sealed[72..]);
    assert!(open_bytes(&grafted, &by_master, 1 << 20).is_err());
    // Size limits protect readers from decompression bombs.
    let big = seal_bytes(&vec![0u8; 100_000], ObjectKind::Manifest, [3; 16], audience, options(3)).unwrap();
    assert!(open_bytes(&big, &by_master, 10_000).is_err());
}

/// Offset of the first slot's key id (or recipient id) in a sealed manifest: after the fixed
/// header, the slot count and the first slot's type and length.
const FIRST_SLOT_ID: usize = 72 + 2 + 3;

#[test]
fn a_damaged_master_slot_is_damage_and_only_a_manifest_without_one_is_for_recipients() {
    let (id, key) = master();
    let identity = lifeboat_crypto::Identity::generate().unwrap();
    let recipients = [identity.public()];
    let both = Audience { master: Some((&id, &key)), recipients: &recipients };
    let sealed = seal_bytes(b"{}", ObjectKind::Manifest, [1; 16], both, options(3)).unwrap();
    let mut by_master = Keyring::new();
    by_master.add_master(id, key.clone());
    let mut by_identity = Keyring::new();
    by_identity.add_identity(identity);

    // One flipped bit in the master slot's key id: the master-key holder reports damage
    // naming the slot, where it used to take the manifest for a recipients-only one.
    let mut flipped = sealed.clone();
    flipped[FIRST_SLOT_ID] ^= 0x01;
    let err = open_bytes(&flipped, &by_master, 1 << 20).unwrap_err();
    let mut flipped_id = id;
    flipped_id[0] ^= 0x01;
    assert!(
        matches!(&err, CryptoError::DamagedSlot { kind: "master-key", id, .. } if *id == hex::encode(flipped_id)),
        "{err:?}"
    );
    assert!(err.to_string().contains("does not open (damaged or forged"), "{err}");
    // The identity holder opens its own slot, and the slot section's hash in every
    // segment's associated data shows that the master slot was changed.
    let err = open_bytes(&flipped, &by_identity, 1 << 20).unwrap_err();
    assert!(matches!(err, CryptoError::SegmentAuth { index: 0 }), "{err:?}");
    // Dropping the master slot altogether is noticed the same way.
    let (header, used) = lifeboat_crypto::parse_complete_header(&sealed).unwrap();
    let mut without_master = header.clone();
    without_master.slots.remove(0);
    let stripped = [without_master.encode(), sealed[used..].to_vec()].concat();
    let err = open_bytes(&stripped, &by_identity, 1 << 20).unwrap_err();
    assert!(matches!(err, CryptoError::SegmentAuth { index: 0 }), "{err:?}");
    // A recipient slot addressed to an identity held here that does not open is damage too.
    let mut bad_recipient = sealed.clone();
    bad_recipient[used - 1] ^= 0x01; // the last byte of the header: the recipient slot's wrapped key
    let err = open_bytes(&bad_recipient, &by_identity, 1 << 20).unwrap_err();
    assert!(matches!(err, CryptoError::DamagedSlot { kind: "recipient", .. }), "{err:?}");

    // Written for recipients only (no master slot at all): not ours, not damage.
    let for_recipients = Audience { master: None, recipients: &recipients };
    let sealed = seal_bytes(b"{}", ObjectKind::Manifest, [2; 16], for_recipients, options(3)).unwrap();
    let err = open_bytes(&sealed, &by_master, 1 << 20).unwrap_err();
    assert!(matches!(err, CryptoError::NoMatchingSlot), "{err:?}");
    assert_eq!(&open_bytes(&sealed, &by_identity, 1 << 20).unwrap().1[..], b"{}");
}

/// Builds a data object with the given header whose segments hold exactly `bodies`
/// (already compressed as the test wants), sealed with the format's own primitives.
fn forge_object(header: &lifeboat_crypto::ObjectHeader, dek: &SecretKey, bodies: &[Vec<u8>]) -> Vec<u8> {
    let cipher = lifeboat_crypto::SegmentCipher::new(header, dek).unwrap();
    let mut object = header.encode();
    for (i, body) in bodies.iter().enumerate() {
        object.extend_from_slice(&cipher.seal_encoded(i as u64, i + 1 == bodies.len(), body).unwrap());
    }
    object
}

fn data_header(id: [u8; 16], dek: &SecretKey) -> lifeboat_crypto::ObjectHeader {
    let fixed =
        lifeboat_crypto::FixedHeader::new(ObjectKind::Data, lifeboat_crypto::Compression::Zstd, SEG, id, dek).unwrap();
    lifeboat_crypto::ObjectHeader { fixed, slots: Vec::new() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_object_with_key_slots_is_rejected() {
    let (id, dek) = ([3; 16], SecretKey::generate().unwrap());
    let mut header = data_header(id, &dek);
    let plain = sample(100);
    let body = zstd::bulk::compress(&plain, 3).unwrap();
    assert_eq!(open(forge_object(&header, &dek, std::slice::from_ref(&body)), id, dek.clone()).await.unwrap(), plain);
    // The same object given a slot (segments sealed to match, so only the slot is wrong).
    let (mk_id, mk) = master();
    let slots = Audience { master: Some((&mk_id, &mk)), recipients: &[] }.slots(&header.fixed, &dek).unwrap();
    header.slots = slots;
    let err = open(forge_object(&header, &dek, &[body]), id, dek).await.unwrap_err();
    assert!(matches!(&err, CryptoError::BadHeader(m) if m.contains("no key slots")), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_is_exactly_one_standard_zstd_frame() {
    let (id, dek) = ([4; 16], SecretKey::generate().unwrap());
    let header = data_header(id, &dek);
    let plain = sample(3000);
    let (a, b) = plain.split_at(1000);
    let frame = |p: &[u8]| zstd::bulk::compress(p, 3).unwrap();
    // 0x184D2A50: a skippable frame, 4-byte length, ignored content.
    let skippable = [&0x184D_2A50u32.to_le_bytes()[..], &4u32.to_le_bytes(), b"junk"].concat();
    // The same frame naming dictionary 7 (a one-byte Dictionary_ID inserted into its header).
    let whole = frame(&plain);
    let did_at = if whole[4] & 0x20 != 0 { 5 } else { 6 };
    let with_dict = [&whole[..4], &[whole[4] | 1], &whole[5..did_at], &[7], &whole[did_at..]].concat();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("needs a dictionary", with_dict, "dictionary"),
        ("two frames", [frame(a), frame(b)].concat(), "follow the zstd frame"),
        ("skippable frame first", [skippable.clone(), frame(&plain)].concat(), "not a standard zstd frame"),
        ("skippable frame after", [frame(&plain), skippable].concat(), "follow the zstd frame"),
        ("trailing garbage", [frame(&plain), vec![0]].concat(), "follow the zstd frame"),
    ];
    for (name, body, needle) in cases {
        let err = open(forge_object(&header, &dek, &[body]), id, dek.clone()).await.unwrap_err();
        assert!(
            matches!(&err, CryptoError::Decompress { index: 0, reason } if reason.contains(needle)),
            "{name}: {err:?}"
        );
    }
    // A manifest (read by open_bytes) with two frames in its one segment.
    let (mk_id, mk) = master();
    let fixed =
        lifeboat_crypto::FixedHeader::new(ObjectKind::Manifest, lifeboat_crypto::Compression::Zstd, SEG, [5; 16], &dek)
            .unwrap();
    let slots = Audience { master: Some((&mk_id, &mk)), recipients: &[] }.slots(&fixed, &dek).unwrap();
    let manifest = lifeboat_crypto::ObjectHeader { fixed, slots };
    let object = forge_object(&manifest, &dek, &[[frame(b"{\"a\":"), frame(b"1}")].concat()]);
    let mut ring = Keyring::new();
    ring.add_master(mk_id, mk);
    let err = open_bytes(&object, &ring, 1 << 20).unwrap_err();
    assert!(matches!(err, CryptoError::Decompress { index: 0, .. }), "{err:?}");
}

/// A reader that yields `remaining` bytes of a compressible pattern without holding them.
struct Generator {
    remaining: u64,
    counter: u64,
}

impl tokio::io::AsyncRead for Generator {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        // Blocks of one repeated byte that changes every 4 KiB: cheap to make, compressible.
        let n = (buf.remaining() as u64).min(self.remaining).min(4096 - self.counter % 4096) as usize;
        let byte = (self.counter / 4096 % 251) as u8;
        buf.put_slice(&[byte; 4096][..n]);
        self.remaining -= n as u64;
        self.counter += n as u64;
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_gib_stream_round_trips_with_bounded_memory() {
    // 2 GiB sealed and opened as one stream, never held in memory: the sealer's output
    // feeds the opener directly.
    const SIZE: u64 = 2 << 30;
    let opts = PipelineOptions { segment_size: 1 << 20, compression_level: 1, parallelism: 2 };
    let (running, id, dek) = seal_data_stream(Generator { remaining: SIZE, counter: 0 }, opts).unwrap();
    let (sealed, sealed_done) = running.into_parts();
    let sealed = sealed.map(|r| r.map_err(std::io::Error::other));
    let (mut plain, opened_done) = open_data_stream(sealed, id, dek, 2).into_parts();
    let mut total = 0u64;
    while let Some(chunk) = plain.next().await {
        total += chunk.unwrap().len() as u64;
    }
    let written = sealed_done.finish().await.unwrap();
    let read = opened_done.finish().await.unwrap();
    assert_eq!(total, SIZE);
    assert_eq!(written.plain_blake3, read.plain_blake3);
    assert_eq!(written.blake3, read.blake3);
    assert!(read.blake3.is_some(), "open_data_stream hashes the stored bytes");
    assert_eq!(read.segments, 2048);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_plaintext_round_trips(plain in proptest::collection::vec(any::<u8>(), 0..20_000), level in 0i32..4) {
        let (id, key) = master();
        let audience = Audience { master: Some((&id, &key)), recipients: &[] };
        let sealed = seal_bytes(&plain, ObjectKind::Manifest, [5; 16], audience, options(level)).unwrap();
        let mut ring = Keyring::new();
        ring.add_master(id, key);
        let (_, back) = open_bytes(&sealed, &ring, 1 << 20).unwrap();
        prop_assert_eq!(&back[..], &plain[..]);
    }

    #[test]
    fn any_single_byte_change_is_detected(plain in proptest::collection::vec(any::<u8>(), 0..12_000), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (id, key) = master();
        let audience = Audience { master: Some((&id, &key)), recipients: &[] };
        let mut sealed = seal_bytes(&plain, ObjectKind::Manifest, [5; 16], audience, options(3)).unwrap();
        let i = at.index(sealed.len());
        sealed[i] ^= 1 << bit;
        let mut ring = Keyring::new();
        ring.add_master(id, key);
        prop_assert!(open_bytes(&sealed, &ring, 1 << 20).is_err());
    }

    /// The streaming reader slices frames out of input chunks and copies only those that
    /// straddle chunks: however the input is cut (single bytes, empty chunks, chunks larger
    /// than frames), the plaintext and its digest are the same.
    #[test]
    fn streamed_open_does_not_depend_on_how_the_input_is_cut(
        len in 0usize..(5 * SEG as usize + 100),
        cuts in proptest::collection::vec(1usize..12_000, 1..6),
        level in prop_oneof![Just(0i32), Just(3i32)],
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        let (back, digests, plain) = runtime.block_on(async {
            let plain = sample(len);
            let (object, id, dek) = seal(plain.clone(), level).await;
            let mut pieces = Vec::new();
            let (mut pos, mut i) = (0, 0);
            while pos < object.len() {
                let n = cuts[i % cuts.len()].min(object.len() - pos);
                pieces.push(Ok::<_, std::io::Error>(Bytes::copy_from_slice(&object[pos..pos + n])));
                pieces.push(Ok(Bytes::new()));
                pos += n;
                i += 1;
            }
            let (mut stream, done) = open_data_stream(futures::stream::iter(pieces), id, dek, 2).into_parts();
            let mut back = Vec::new();
            while let Some(chunk) = stream.next().await {
                back.extend_from_slice(&chunk.unwrap());
            }
            (back, done.finish().await.unwrap(), plain)
        });
        prop_assert_eq!(&back, &plain);
        prop_assert_eq!(digests.plain_blake3, *blake3::hash(&plain).as_bytes());
        prop_assert_eq!(digests.plain_size, plain.len() as u64);
    }

    #[test]
    fn header_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = lifeboat_crypto::ObjectHeader::parse(&bytes);
    }
}
