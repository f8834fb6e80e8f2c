//! The audit line codec: builds a line in its canonical byte layout, computes
//! its MAC, and checks a line read back from disk.
//!
//! This file owns the byte layout described in the module doc of `audit`. It
//! must never re-serialise a line to check it (the MAC covers the bytes as
//! written) and never compare MACs in variable time.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::fmt;
use std::io::Write;

use super::AuditEntry;

/// HMAC-SHA256 keyed with the audit key.
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Length of a MAC in hex digits.
pub(crate) const MAC_HEX: usize = 64;
/// `prev` of the very first line.
pub(crate) const GENESIS: [u8; 32] = [0u8; 32];

const MAC_OPEN: &[u8] = b",\"mac\":\"";
const MAC_CLOSE: &[u8] = b"\"}";
/// Bytes after the MAC'd prefix: `,"mac":"` + 64 hex + `"}`.
const SUFFIX_LEN: usize = MAC_OPEN.len() + MAC_HEX + MAC_CLOSE.len();

const TS_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
);

/// A keyed MAC that never prints itself.
#[derive(Clone)]
pub(crate) struct Keyed(pub(crate) HmacSha256);

impl fmt::Debug for Keyed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keyed(<redacted>)")
    }
}

impl Keyed {
    fn mac(&self, bytes: &[u8]) -> [u8; 32] {
        let mut m = self.0.clone();
        m.update(bytes);
        m.finalize().into_bytes().into()
    }

    fn check(&self, bytes: &[u8], tag: &[u8; 32]) -> bool {
        let mut m = self.0.clone();
        m.update(bytes);
        m.verify_slice(tag).is_ok()
    }
}

/// A `ts` value: the time it was taken, RFC 3339 UTC with microseconds.
#[derive(Clone, Copy)]
pub(crate) struct Stamp {
    bytes: [u8; 32],
    len: usize,
}

impl Stamp {
    /// The time now.
    pub(crate) fn now() -> Stamp {
        let mut bytes = [0u8; 32];
        let mut rest = &mut bytes[..];
        let len = match time::OffsetDateTime::now_utc().format_into(&mut rest, TS_FORMAT) {
            Ok(len) => len,
            Err(_) => {
                // Only a clock outside the years 0..=9999 cannot be written: say so, do not lie.
                let unknown = b"0000-00-00T00:00:00.000000Z";
                bytes[..unknown.len()].copy_from_slice(unknown);
                unknown.len()
            }
        };
        Stamp { bytes, len }
    }

    /// The timestamp's bytes (no space, no newline).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Appends one complete line (with its trailing newline) to `out` and returns
/// its MAC. `ts` is a [`Stamp`]'s bytes and `event` a compact
/// JSON object without a newline (an [`super::EventLine`]).
pub(crate) fn encode_line(
    key: &Keyed,
    out: &mut Vec<u8>,
    seq: u64,
    prev: &[u8; 32],
    ts: &[u8],
    event: &[u8],
) -> [u8; 32] {
    let start = out.len();
    out.extend_from_slice(b"{\"seq\":");
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{seq}");
    out.extend_from_slice(b",\"ts\":\"");
    out.extend_from_slice(ts);
    out.extend_from_slice(b"\",\"event\":");
    out.extend_from_slice(event);
    out.extend_from_slice(b",\"prev\":\"");
    push_hex(out, prev);
    out.push(b'"');
    let tag = key.mac(&out[start..]);
    out.extend_from_slice(MAC_OPEN);
    push_hex(out, &tag);
    out.extend_from_slice(MAC_CLOSE);
    out.push(b'\n');
    tag
}

fn push_hex(out: &mut Vec<u8>, bytes: &[u8; 32]) {
    let mut buf = [0u8; MAC_HEX];
    // Cannot fail: the buffer is exactly twice the input length.
    if hex::encode_to_slice(bytes, &mut buf).is_ok() {
        out.extend_from_slice(&buf);
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    seq: u64,
    ts: String,
    event: serde_json::Map<String, serde_json::Value>,
    prev: String,
    mac: String,
}

/// A line read back from disk, parsed but not yet MAC-checked.
pub(crate) struct Parsed {
    pub(crate) entry: AuditEntry,
    pub(crate) prev: [u8; 32],
    pub(crate) mac: [u8; 32],
}

/// Parses a line (without its newline). Errors are short reasons such as
/// "not JSON" that the caller places at a file and line.
pub(crate) fn parse_line(line: &[u8]) -> Result<Parsed, String> {
    let raw: RawLine = serde_json::from_slice(line).map_err(|e| format!("not JSON ({e})"))?;
    let prev = decode_mac(&raw.prev).ok_or("prev is not 64 hex digits")?;
    let mac = decode_mac(&raw.mac).ok_or("mac is not 64 hex digits")?;
    Ok(Parsed {
        entry: AuditEntry {
            seq: raw.seq,
            ts: raw.ts,
            event: raw.event,
        },
        prev,
        mac,
    })
}

fn decode_mac(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != MAC_HEX {
        return None;
    }
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Parses a line and checks its MAC; returns the parsed line or a reason
/// ("not JSON", "MAC mismatch", ...).
pub(crate) fn check_line(key: &Keyed, line: &[u8]) -> Result<Parsed, String> {
    let parsed = parse_line(line)?;
    let n = line.len();
    let canonical = n > SUFFIX_LEN
        && line[n - SUFFIX_LEN..].starts_with(MAC_OPEN)
        && line.ends_with(MAC_CLOSE)
        && line[n - MAC_CLOSE.len() - MAC_HEX..n - MAC_CLOSE.len()]
            == *hex::encode(parsed.mac).as_bytes();
    if !canonical {
        return Err("mac field is not in the canonical position".into());
    }
    if !key.check(&line[..n - SUFFIX_LEN], &parsed.mac) {
        return Err("MAC mismatch".into());
    }
    Ok(parsed)
}

/// Reads `seq` from the start of a canonical line without parsing the rest.
pub(crate) fn leading_seq(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"{\"seq\":")?;
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}
