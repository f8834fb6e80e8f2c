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
        let shortest = MIN_BASE64_RUN.min(MIN_HEX_RUN);
        for run in Runs::new(s.as_bytes(), is_base64_byte).filter(|r| r.len() >= shortest) {
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
            let escaped = |r: &Range<usize>| s.as_bytes()[r.clone()].contains(&b'%');
            for run in Runs::new(s.as_bytes(), is_url_byte).filter(escaped) {
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

/// Maximal runs of bytes for which `keep` holds, with trailing `=` padding;
/// found lazily, so clean text allocates nothing.
struct Runs<'a> {
    s: &'a [u8],
    at: usize,
    keep: fn(u8) -> bool,
}

impl<'a> Runs<'a> {
    fn new(s: &'a [u8], keep: fn(u8) -> bool) -> Runs<'a> {
        Runs { s, at: 0, keep }
    }
}

impl Iterator for Runs<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        let (s, keep) = (self.s, self.keep);
        while self.at < s.len() && !keep(s[self.at]) {
            self.at += 1;
        }
        if self.at == s.len() {
            return None;
        }
        let start = self.at;
        while self.at < s.len() && keep(s[self.at]) {
            self.at += 1;
        }
        while self.at < s.len() && s[self.at] == b'=' {
            self.at += 1;
        }
        Some(start..self.at)
    }
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
