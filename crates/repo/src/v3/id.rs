//! Blob ids and kinds: what every other v3 module names blobs by (kept apart from the
//! store interface in `blob`, which names packs, so that packs and domains need not
//! depend on it).

/// A blob's id: keyed BLAKE3 of its plaintext under the domain's id key (32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(pub [u8; 32]);

impl BlobId {
    /// Lowercase hex, 64 digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 lowercase hex digits; anything else is `None`.
    pub fn from_hex(text: &str) -> Option<BlobId> {
        if text.len() != 64 || text.bytes().any(|b| !matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut id = [0u8; 32];
        hex::decode_to_slice(text, &mut id).ok()?;
        Some(BlobId(id))
    }
}

impl std::fmt::Debug for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlobId({})", &self.to_hex()[..16])
    }
}

impl std::fmt::Display for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl serde::Serialize for BlobId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for BlobId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        BlobId::from_hex(&text).ok_or_else(|| serde::de::Error::custom("a blob id is 64 lowercase hex digits"))
    }
}

/// What a blob holds. Stored in the pack's blob directory, one byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobKind {
    /// A chunk of file or stream content.
    Data = 1,
    /// A directory listing (docs/FORMAT.md 11.6).
    Tree = 2,
}

impl BlobKind {
    /// The byte stored for this kind.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The kind of a stored byte; `None` for an unknown one.
    pub fn from_code(code: u8) -> Option<BlobKind> {
        match code {
            1 => Some(BlobKind::Data),
            2 => Some(BlobKind::Tree),
            _ => None,
        }
    }
}
