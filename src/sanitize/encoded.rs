//! Encoded copies of credentials (issue 12, finding 6): a run of base64
//! (standard or URL-safe), hex or percent-encoded text is decoded once and
//! scanned with the same patterns and stored values; a run whose decoded text
//! holds a credential is redacted whole, with the kind found inside.
//!
//! Runs shorter than [`MIN_BASE64_RUN`] (base64) or [`MIN_HEX_RUN`] (hex)
//! are not decoded: ordinary words and identifiers stay cheap and untouched.
//! Decoding is one level deep; what it costs is one byte loop over each string
//! at least that long, plus the decode and scan of the (rare) long runs.

use std::ops::Range;

use super::codec::base64_decode;
use super::{KnownSecrets, Sanitizer, Span};

/// Shortest base64 run decoded (18 bytes of data).
pub(super) const MIN_BASE64_RUN: usize = 24;
/// Shortest hex run decoded (16 bytes of data).
pub(super) const MIN_HEX_RUN: usize = 32;

impl Sanitizer {
    /// Appends a span for each encoded run of `s` whose decoded text holds a credential.
    pub(super) fn encoded_spans(
        &self,
        s: &str,
        known: &KnownSecrets,
        priority: usize,
        spans: &mut Vec<Span>,
    ) {
        if s.len() < MIN_BASE64_RUN.min(MIN_HEX_RUN) && !s.contains('%') {
            return;
        }
        let mut push = |run: Range<usize>, decoded: Option<Vec<u8>>| {
            let Some(bytes) = decoded else {
                return;
            };
            if let Some(kind) = self.decoded_kind(&bytes, known) {
                spans.push(Span {
                    start: run.start,
                    end: run.end,
                    priority,
                    kind,
                });
            }
        };
        for run in runs(s.as_bytes(), is_base64_byte) {
            let text = &s[run.clone()];
            let decoded = if text.len() >= MIN_HEX_RUN
                && text.len().is_multiple_of(2)
                && text.bytes().all(|b| b.is_ascii_hexdigit())
            {
                hex::decode(text).ok()
            } else if text.len() >= MIN_BASE64_RUN {
                base64_decode(text)
            } else {
                None
            };
            push(run, decoded);
        }
        if s.contains('%') {
            for run in runs(s.as_bytes(), is_url_byte) {
                let decoded = percent_decode(&s.as_bytes()[run.clone()]);
                push(run, decoded);
            }
        }
    }

    /// The kind of the first credential in `bytes` (decoded text), if any.
    fn decoded_kind(&self, bytes: &[u8], known: &KnownSecrets) -> Option<&'static str> {
        let text = String::from_utf8_lossy(bytes);
        let mut inner = Vec::new();
        self.spans(&text, self.scan(&text), known, None, &mut inner);
        inner
            .iter()
            .min_by_key(|sp| (sp.priority, sp.start))
            .map(|sp| sp.kind)
    }
}

/// Maximal runs of bytes for which `keep` holds (trailing `=` padding included).
fn runs(s: &[u8], keep: fn(u8) -> bool) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if !keep(s[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < s.len() && keep(s[i]) {
            i += 1;
        }
        while i < s.len() && s[i] == b'=' {
            i += 1;
        }
        out.push(start..i);
    }
    out
}

fn is_base64_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_')
}

/// What may stand in one percent-encoded URL part or form value (`=` and `&` end it).
fn is_url_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'%' | b'+' | b'-' | b'.' | b'_' | b'~')
}

/// Percent decoding (`+` as space); `None` when nothing was escaped.
fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let hex = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = Vec::with_capacity(s.len());
    let mut escaped = false;
    let mut i = 0;
    while i < s.len() {
        match (
            s[i],
            s.get(i + 1).copied().and_then(hex),
            s.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(hi << 4 | lo);
                escaped = true;
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    escaped.then_some(out)
}
