//! The exact values of the secrets the core stores, and their encodings, as
//! one automaton that every redaction consults (issue 12, finding 6).
//!
//! For each value: the value itself, its JSON-escaped form (also as Go
//! escapes `<>&` and PHP escapes `/`), base64 (standard
//! and URL-safe, padded and not, plus the stable middle of its encoding at
//! each of the three byte offsets, so a copy inside a longer base64 blob is
//! found too), hex (lower and upper case) and percent encoding (RFC 3986,
//! `+` for space, and every byte escaped; upper and lower case hex). A match
//! is redacted as `[REDACTED:stored_secret]`.
//!
//! Values shorter than [`MIN_SECRET_BYTES`] (after trimming whitespace) are
//! left out: they cannot be matched without wrecking ordinary text. Values
//! longer than [`MAX_ENCODED_BYTES`] are matched as they are, not encoded. Nothing
//! here logs or returns a value; the set only reports how many it holds.

use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use super::codec::{base64_encode, Alphabet};

/// Shortest value matched, in bytes; shorter values are counted as skipped.
pub const MIN_SECRET_BYTES: usize = 8;

/// Longest value whose encodings are matched too; a longer one (a key file, a
/// service account's JSON) is matched as it is, which keeps the automaton small.
pub const MAX_ENCODED_BYTES: usize = 2048;

/// The kind reported for a stored secret's value or encoding.
pub const KNOWN_KIND: &str = "stored_secret";

/// A set of secret values, compiled; empty until the core loads its store.
#[derive(Default)]
pub struct KnownSecrets {
    matcher: Option<AhoCorasick>,
    /// Length of the shortest literal (a shorter string cannot match).
    min_len: usize,
    values: usize,
    skipped: usize,
}

impl std::fmt::Debug for KnownSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownSecrets")
            .field("values", &self.values)
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl KnownSecrets {
    /// Compiles `values` with their encodings; values under [`MIN_SECRET_BYTES`] are skipped.
    pub fn new<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> KnownSecrets {
        let mut literals: Vec<Vec<u8>> = Vec::new();
        let (mut count, mut skipped) = (0, 0);
        let mut values: Vec<&[u8]> = values.into_iter().collect();
        values.sort_unstable();
        values.dedup();
        for raw in values {
            let value = raw.trim_ascii();
            if value.len() < MIN_SECRET_BYTES {
                skipped += 1;
                continue;
            }
            count += 1;
            encodings(value, &mut literals);
            if value.len() != raw.len() {
                encodings(raw, &mut literals);
            }
        }
        literals.sort_unstable();
        literals.dedup();
        literals.retain(|l| l.len() >= MIN_SECRET_BYTES);
        let min_len = literals.iter().map(Vec::len).min().unwrap_or(0);
        let matcher = match literals.is_empty() {
            true => None,
            // A contiguous NFA builds in time linear in the literals (a DFA over
            // thousands of states takes seconds) and searches nearly as fast.
            false => AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(&literals)
                .ok(),
        };
        for literal in &mut literals {
            literal.fill(0);
        }
        KnownSecrets {
            matcher,
            min_len,
            values: count,
            skipped,
        }
    }

    /// How many values are matched.
    pub fn len(&self) -> usize {
        self.values
    }

    /// Whether no value is matched.
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// How many values were too short to match.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Appends the byte ranges of `bytes` (decoded data, any bytes) that
    /// hold a value or an encoding of one.
    pub(super) fn find_bytes(&self, bytes: &[u8], out: &mut Vec<Range<usize>>) {
        let Some(matcher) = &self.matcher else {
            return;
        };
        if bytes.len() < self.min_len {
            return;
        }
        out.extend(matcher.find_overlapping_iter(bytes).map(|m| m.range()));
    }

    /// Appends the byte ranges of `s` that hold a value or an encoding of one.
    pub(super) fn find(&self, s: &str, out: &mut Vec<Range<usize>>) {
        let Some(matcher) = &self.matcher else {
            return;
        };
        if s.len() < self.min_len || !matcher.is_match(s) {
            return;
        }
        for m in matcher.find_overlapping_iter(s) {
            // A literal of invalid UTF-8 could end inside a character: widen to boundaries.
            let mut start = m.start();
            while !s.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = m.end();
            while !s.is_char_boundary(end) {
                end += 1;
            }
            out.push(start..end);
        }
    }
}

/// Pushes every form of `value` that is matched.
fn encodings(value: &[u8], out: &mut Vec<Vec<u8>>) {
    out.push(value.to_vec());
    if let Ok(text) = std::str::from_utf8(value) {
        let json = serde_json::to_string(text).unwrap_or_default();
        if let Some(inner) = json.strip_prefix('"').and_then(|j| j.strip_suffix('"')) {
            // Go escapes `<>&` as `\u003c`..., PHP `/` as `\/` (and both may stack).
            let go = inner
                .replace('&', "\\u0026")
                .replace('<', "\\u003c")
                .replace('>', "\\u003e");
            let php = inner.replace('/', "\\/");
            let both = go.replace('/', "\\/");
            for form in [inner.to_owned(), go, php, both] {
                if form.as_bytes() != value {
                    out.push(form.into_bytes());
                }
            }
        }
    }
    if value.len() > MAX_ENCODED_BYTES {
        return;
    }
    for alphabet in [Alphabet::Standard, Alphabet::UrlSafe] {
        let full = base64_encode(value, alphabet);
        let unpadded = full.trim_end_matches('=');
        out.push(unpadded.as_bytes().to_vec());
        out.push(full.as_bytes().to_vec());
        // Inside a longer blob the value starts at byte offset 0, 1 or 2 of a
        // 3-byte group: the characters that depend on the value alone.
        for offset in 0..3usize {
            let mut shifted = vec![0u8; offset];
            shifted.extend_from_slice(value);
            let encoded = base64_encode(&shifted, alphabet);
            let first = (8 * offset).div_ceil(6);
            let last = 8 * (offset + value.len()) / 6;
            if let Some(core) = encoded.get(first..last) {
                out.push(core.as_bytes().to_vec());
            }
        }
    }
    let lower = hex::encode(value);
    out.push(lower.to_ascii_uppercase().into_bytes());
    out.push(lower.into_bytes());
    for upper in [true, false] {
        out.push(percent(value, upper, false, false));
        out.push(percent(value, upper, true, false));
        out.push(percent(value, upper, false, true));
    }
}

/// Percent encoding of `data`: RFC 3986 unreserved bytes kept (unless `all`),
/// space as `+` when `plus`.
fn percent(data: &[u8], upper: bool, plus: bool, all: bool) -> Vec<u8> {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = Vec::with_capacity(data.len() * 3);
    for &b in data {
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        if unreserved && !all {
            out.push(b);
        } else if b == b' ' && plus {
            out.push(b'+');
        } else {
            out.extend_from_slice(&[
                b'%',
                digits[usize::from(b >> 4)],
                digits[usize::from(b & 15)],
            ]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encodings_match_rfc_3986() {
        assert_eq!(percent(b"a b/~", true, false, false), b"a%20b%2F~");
        assert_eq!(percent(b"a b", false, true, false), b"a+b");
        assert_eq!(percent(b"ab", true, false, true), b"%61%62");
    }

    #[test]
    fn short_values_are_skipped_and_counted() {
        let set = KnownSecrets::new([&b"short"[..], b"  \n", b"long enough value"]);
        assert_eq!((set.len(), set.skipped()), (1, 2));
        assert!(!format!("{set:?}").contains("long enough"));
        assert!(KnownSecrets::new([&b"tiny"[..]]).is_empty());
    }

    #[test]
    fn a_value_inside_a_longer_base64_blob_is_found_at_every_offset() {
        let value = b"Zq8-secret-Vb41";
        let set = KnownSecrets::new([&value[..]]);
        for pad in 0..3 {
            let mut data = b"user:".to_vec();
            data.extend(std::iter::repeat_n(b'x', pad));
            data.extend_from_slice(value);
            data.extend_from_slice(b"@tail");
            for alphabet in [Alphabet::Standard, Alphabet::UrlSafe] {
                let blob = base64_encode(&data, alphabet);
                let mut found = Vec::new();
                set.find(&blob, &mut found);
                assert!(!found.is_empty(), "offset {pad}: {blob}");
            }
        }
    }

    #[test]
    fn a_long_value_is_matched_as_it_is_and_builds_small() {
        let long: Vec<u8> = (0..64 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
        let started = std::time::Instant::now();
        let set = KnownSecrets::new([&long[..]]);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // Fifty values at the encoding limit, every form: still quick to build.
        let many: Vec<Vec<u8>> = (0..50u8)
            .map(|n| (0..MAX_ENCODED_BYTES).map(|i| (i as u8) ^ n).collect())
            .collect();
        let started = std::time::Instant::now();
        let big = KnownSecrets::new(many.iter().map(Vec::as_slice));
        assert_eq!(big.len(), 50);
        // Loose, for a busy debug run: a DFA took minutes here.
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        let text = format!("x {} y", String::from_utf8_lossy(&long));
        let mut found = Vec::new();
        set.find(&text, &mut found);
        assert_eq!(found, vec![2..2 + long.len()]);
    }
}
