//! Reading tar headers on the side: recognising a header block (ustar magic and checksum,
//! which is how a salvage finds the next entry after a damaged stretch), its size, type
//! and names; the progress module's file counter uses them to count the files of a tar stream
//! as it passes.

/// A tar block.
pub(crate) const BLOCK: usize = 512;

/// `size` rounded up to whole blocks.
pub(crate) fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK as u64) * BLOCK as u64
}

/// True for an all-zero block (the end of an archive).
pub(crate) fn is_zero(block: &[u8]) -> bool {
    block.iter().all(|b| *b == 0)
}

/// True when `block` is a ustar (POSIX or GNU) header whose checksum is right: random data
/// passes both checks with a chance far below one in 2^48.
pub(crate) fn is_header(block: &[u8]) -> bool {
    if block.len() != BLOCK || !(&block[257..263] == b"ustar\0" || &block[257..265] == b"ustar  \0") {
        return false;
    }
    let Some(recorded) = octal(&block[148..156]) else { return false };
    // The checksum is the sum of the bytes with its own field read as spaces.
    let sum: u64 =
        block.iter().enumerate().map(|(i, b)| if (148..156).contains(&i) { 32 } else { u64::from(*b) }).sum();
    sum == recorded
}

/// The entry type byte.
pub(crate) fn kind(block: &[u8]) -> u8 {
    block[156]
}

/// True for the header types that carry data to unpack into a regular file.
pub(crate) fn is_file(kind: u8) -> bool {
    matches!(kind, b'0' | 0 | b'7')
}

/// True for extension headers, which describe the entry after them (PAX, GNU long names).
pub(crate) fn is_extension(kind: u8) -> bool {
    matches!(kind, b'x' | b'g' | b'L' | b'K')
}

/// The data size a header records: octal, or GNU base-256 when the first byte has its top bit.
pub(crate) fn size(block: &[u8]) -> Option<u64> {
    let field = &block[124..136];
    if field[0] & 0x80 != 0 {
        return field[4..].iter().try_fold(0u64, |n, b| n.checked_mul(256).map(|n| n | u64::from(*b)));
    }
    octal(field)
}

fn octal(field: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?.trim_matches(|c: char| c == '\0' || c == ' ');
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

fn text(field: &[u8]) -> String {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// The entry name a ustar header holds (prefix and name; GNU headers have no prefix).
pub(crate) fn name(block: &[u8]) -> String {
    let name = text(&block[..100]);
    let prefix = if &block[257..263] == b"ustar\0" { text(&block[345..500]) } else { String::new() };
    if prefix.is_empty() { name } else { format!("{prefix}/{name}") }
}

/// The link target a header holds.
pub(crate) fn link_name(block: &[u8]) -> String {
    text(&block[157..257])
}

/// What extension headers said about the entry that follows them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Extensions {
    /// `path` (PAX) or the GNU long name.
    pub path: Option<String>,
    /// `linkpath` (PAX) or the GNU long link name.
    pub link: Option<String>,
    /// `size` (PAX).
    pub size: Option<u64>,
}

impl Extensions {
    /// Takes in one extension entry of type `kind` with its data.
    pub(crate) fn add(&mut self, kind: u8, data: &[u8]) {
        match kind {
            b'L' => self.path = Some(text(data)),
            b'K' => self.link = Some(text(data)),
            b'x' => self.add_pax(data),
            _ => {}
        }
    }

    /// PAX records: `<len> <key>=<value>\n`, one after the other.
    fn add_pax(&mut self, mut data: &[u8]) {
        while let Some(space) = data.iter().position(|b| *b == b' ') {
            let Some(len) = std::str::from_utf8(&data[..space]).ok().and_then(|l| l.parse::<usize>().ok()) else {
                return;
            };
            let Some(record) = data.get(space + 1..len) else { return };
            let record = record.strip_suffix(b"\n").unwrap_or(record);
            if let Some(eq) = record.iter().position(|b| *b == b'=') {
                let value = String::from_utf8_lossy(&record[eq + 1..]).into_owned();
                match &record[..eq] {
                    b"path" => self.path = Some(value),
                    b"linkpath" => self.link = Some(value),
                    b"size" => self.size = value.parse().ok(),
                    _ => {}
                }
            }
            data = &data[len..];
        }
    }
}
