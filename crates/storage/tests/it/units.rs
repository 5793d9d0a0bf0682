//! `units`: the byte-count formatter and parser every frontend shares.

use lifeboat_storage::units::{SizeError, human_bytes, parse_bytes};

#[test]
fn formats() {
    assert_eq!(human_bytes(0), "0 B");
    assert_eq!(human_bytes(1023), "1023 B");
    assert_eq!(human_bytes(1024), "1.0 KiB");
    assert_eq!(human_bytes(8 * 1024), "8.0 KiB");
    assert_eq!(human_bytes(5 << 20), "5.0 MiB");
    assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    assert_eq!(human_bytes(u64::MAX), "16384.0 PiB");
}

#[test]
fn plain_numbers_are_bytes() {
    assert_eq!(parse_bytes("0"), Ok(0));
    assert_eq!(parse_bytes("4096"), Ok(4096));
    assert_eq!(parse_bytes("4096B"), Ok(4096));
    assert_eq!(parse_bytes(" 17 "), Ok(17));
    assert_eq!(parse_bytes("18446744073709551615"), Ok(u64::MAX));
}

#[test]
fn single_letters_and_iec_units_are_powers_of_1024() {
    assert_eq!(parse_bytes("5K"), Ok(5 << 10));
    assert_eq!(parse_bytes("5k"), Ok(5 << 10));
    assert_eq!(parse_bytes("5M"), Ok(5 << 20));
    assert_eq!(parse_bytes("5G"), Ok(5 << 30));
    assert_eq!(parse_bytes("5T"), Ok(5 << 40));
    assert_eq!(parse_bytes("64KiB"), Ok(64 << 10));
    assert_eq!(parse_bytes("64kib"), Ok(64 << 10));
    assert_eq!(parse_bytes("1MiB"), Ok(1 << 20));
    assert_eq!(parse_bytes("2 GiB"), Ok(2 << 30));
    assert_eq!(parse_bytes("3TiB"), Ok(3 << 40));
}

#[test]
fn si_units_are_powers_of_1000() {
    assert_eq!(parse_bytes("1KB"), Ok(1_000));
    assert_eq!(parse_bytes("1kb"), Ok(1_000));
    assert_eq!(parse_bytes("5MB"), Ok(5_000_000));
    assert_eq!(parse_bytes("1GB"), Ok(1_000_000_000));
    assert_eq!(parse_bytes("2 TB"), Ok(2_000_000_000_000));
}

#[test]
fn bad_input_says_what_is_accepted() {
    assert_eq!(parse_bytes(""), Err(SizeError::Empty));
    assert_eq!(parse_bytes("  "), Err(SizeError::Empty));
    assert_eq!(parse_bytes("M"), Err(SizeError::NoNumber { input: "M".into() }));
    assert_eq!(parse_bytes("-5M"), Err(SizeError::NoNumber { input: "-5M".into() }));
    assert_eq!(parse_bytes("1.5M"), Err(SizeError::Fraction { input: "1.5M".into() }));
    assert_eq!(parse_bytes("5X"), Err(SizeError::UnknownUnit { input: "5X".into(), unit: "X".into() }));
    assert_eq!(parse_bytes("5PiB"), Err(SizeError::UnknownUnit { input: "5PiB".into(), unit: "PiB".into() }));
    let message = parse_bytes("5X").expect_err("unknown unit").to_string();
    assert!(message.contains("\"5X\"") && message.contains("KiB") && message.contains("MB"), "{message}");
}

#[test]
fn overflow_is_refused_not_wrapped() {
    assert_eq!(parse_bytes("18446744073709551616"), Err(SizeError::Overflow { input: "18446744073709551616".into() }));
    assert_eq!(parse_bytes("16777216T"), Err(SizeError::Overflow { input: "16777216T".into() }));
    assert_eq!(parse_bytes("16777215T"), Ok(16_777_215 << 40));
    assert!(parse_bytes("99999999999999999999TB").is_err());
}
