//! The one byte-count formatter and the one byte-count parser of the workspace, so that
//! every message and table of every frontend writes sizes the same way, and every flag and
//! config key reads them the same way.

/// Binary units, each 1024 times the one before.
const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/// A byte count for people: `512 B`, `1.5 KiB`, `3.0 GiB` (binary units, one decimal).
///
/// Exact below 1 KiB only; a message that must give the exact count too writes
/// `format!("{n} B ({})", human_bytes(n))`.
///
/// ```
/// use lifeboat_storage::units::human_bytes;
/// assert_eq!(human_bytes(512), "512 B");
/// assert_eq!(human_bytes(1536), "1.5 KiB");
/// ```
pub fn human_bytes(n: u64) -> String {
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match UNITS.get(unit) {
        Some(name) if unit > 0 => format!("{value:.1} {name}"),
        _ => format!("{n} B"),
    }
}

/// What [`parse_bytes`] accepts, for help texts and error messages.
pub const SIZE_SYNTAX: &str = "a whole number of bytes, optionally followed by a unit: K, M, G, T or KiB, MiB, GiB, \
                               TiB (powers of 1024), KB, MB, GB, TB (powers of 1000), B (bytes); e.g. 5M, 64KiB, 1GB";

/// Why a size could not be read; each names the text it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Nothing (or only blanks) was given.
    #[error("cannot read an empty size: expected {SIZE_SYNTAX}")]
    Empty,
    /// The text does not start with a digit.
    #[error("cannot read the size {input:?}: it does not start with a number; expected {SIZE_SYNTAX}")]
    NoNumber {
        /// The text given.
        input: String,
    },
    /// A decimal point or comma: sizes are whole numbers of their unit.
    #[error("cannot read the size {input:?}: fractions are not accepted (write 1536K rather than 1.5M)")]
    Fraction {
        /// The text given.
        input: String,
    },
    /// The suffix is not one of the units.
    #[error("cannot read the size {input:?}: unknown unit {unit:?}; expected {SIZE_SYNTAX}")]
    UnknownUnit {
        /// The text given.
        input: String,
        /// The suffix after the number.
        unit: String,
    },
    /// The number of bytes exceeds 2^64 - 1.
    #[error("cannot read the size {input:?}: it is more bytes than fit in 64 bits")]
    Overflow {
        /// The text given.
        input: String,
    },
}

/// Reads a byte count as people write one: `4096`, `5M`, `64KiB`, `1GB`, `2 TiB`.
///
/// A plain number is bytes. `K`, `M`, `G`, `T` and `KiB`, `MiB`, `GiB`, `TiB` are powers
/// of 1024 (as restic and borg read `5M`); `KB`, `MB`, `GB`, `TB` are powers of 1000;
/// `B` is bytes. Units are case-insensitive and may follow a space. Fractions, signs and
/// anything past 2^64 - 1 bytes are refused with a message saying what is accepted.
///
/// ```
/// use lifeboat_storage::units::parse_bytes;
/// assert_eq!(parse_bytes("5M"), Ok(5 * 1024 * 1024));
/// assert_eq!(parse_bytes("1GB"), Ok(1_000_000_000));
/// assert!(parse_bytes("5X").is_err());
/// ```
pub fn parse_bytes(input: &str) -> Result<u64, SizeError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(SizeError::Empty);
    }
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, rest) = text.split_at(digits);
    if number.is_empty() {
        return Err(SizeError::NoNumber { input: input.to_owned() });
    }
    if rest.starts_with(['.', ',']) {
        return Err(SizeError::Fraction { input: input.to_owned() });
    }
    let unit = rest.trim_start();
    let multiplier = unit_multiplier(unit)
        .ok_or_else(|| SizeError::UnknownUnit { input: input.to_owned(), unit: unit.to_owned() })?;
    let overflow = || SizeError::Overflow { input: input.to_owned() };
    // All digits, so the only way to fail is a number too large.
    let count: u64 = number.parse().map_err(|_| overflow())?;
    count.checked_mul(multiplier).ok_or_else(overflow)
}

/// The number of bytes one `unit` stands for (case-insensitive), if it is one.
fn unit_multiplier(unit: &str) -> Option<u64> {
    let unit = unit.to_ascii_lowercase();
    let (exponent, base) = match unit.as_str() {
        "" | "b" => (0, 1024),
        "k" | "kib" => (1, 1024),
        "m" | "mib" => (2, 1024),
        "g" | "gib" => (3, 1024),
        "t" | "tib" => (4, 1024),
        "kb" => (1, 1000),
        "mb" => (2, 1000),
        "gb" => (3, 1000),
        "tb" => (4, 1000),
        _ => return None,
    };
    Some(u64::pow(base, exponent))
}
