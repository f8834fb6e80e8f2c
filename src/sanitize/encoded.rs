//! Encoded copies of credentials (issue 12, finding 6): a run of base64
//! (standard or URL-safe), hex or percent-encoded text is decoded once and
//! scanned with the same patterns and stored values.
//!
//! - base64 and hex runs may be wrapped: a line break (`\n`, `\r\n`) after a
//!   line of 16+ characters, a multiple of 4 (`base64`, MIME, PEM, `xxd -p`),
//!   continues the run. Hex may also be split into even groups by `:`, `-`,
//!   `,` or a space, or prefixed (`\x41\x42`, `0x41, 0x42`), and an `xxd`
//!   dump's offsets and ASCII column are skipped between lines. The joined run
//!   is decoded; if it holds a credential it is redacted whole, with the kind
//!   found inside.
//! - a percent-encoded run spans every URL character (unreserved,
//!   sub-delims, `/ : @ ? #`), so the output of any percent encoder is
//!   decoded (`+` read both as a space and as itself). A credential found in
//!   the decoded text is mapped back: what is redacted is the part of the run
//!   holding it, widened to the nearest `& = ? / : @ ; , #` around it, so
//!   `?k=<value>&x=1` keeps `?k=` and `&x=1`.
//!
//! Runs shorter than [`MIN_BASE64_RUN`] (base64) or [`MIN_HEX_RUN`] digits
//! (hex) are not decoded: ordinary words and identifiers stay cheap and
//! untouched. Decoding is one level deep. Cost: two byte loops (base64, hex)
//! over each string at least that long and one more (URL) over a string
//! holding `%`, none allocating; then the decode and scan of the (rare) long
//! runs. What is not found: an `xxd` dump's last ASCII column, base64 or hex
//! broken at other places than line ends, and encodings nested twice.

use std::ops::Range;

use super::codec::base64_decode;
use super::{KnownSecrets, Sanitizer, Span, KNOWN_KIND};

/// Shortest base64 run decoded (18 bytes of data).
pub(super) const MIN_BASE64_RUN: usize = 24;
/// Shortest hex run decoded (16 bytes of data).
pub(super) const MIN_HEX_RUN: usize = 32;
/// Shortest line of a wrapped base64 or hex run.
const MIN_WRAPPED_LINE: usize = 16;

impl Sanitizer {
    /// Appends a span for each encoded run of `s` whose decoded text holds a credential.
    pub(super) fn encoded_spans(
        &self,
        s: &str,
        known: &KnownSecrets,
        priority: usize,
        spans: &mut Vec<Span>,
    ) {
        let shortest = MIN_BASE64_RUN.min(MIN_HEX_RUN);
        if s.len() < shortest && !s.contains('%') {
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
        let bytes = s.as_bytes();
        for run in Runs::new(bytes, is_base64_byte, true).filter(|r| r.len() >= shortest) {
            let raw = &s[run.clone()];
            let joined;
            let text = match raw.contains('\n') {
                true => {
                    joined = raw.replace(['\r', '\n'], "");
                    joined.as_str()
                }
                false => raw,
            };
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
        if s.len() >= MIN_HEX_RUN {
            let mut at = 0;
            while let Some((run, digits)) = next_hex_run(bytes, &mut at) {
                if digits.len() >= MIN_HEX_RUN {
                    push(run, hex::decode(&digits).ok());
                }
            }
        }
        if s.contains('%') {
            let escaped = |r: &Range<usize>| bytes[r.clone()].contains(&b'%');
            for run in Runs::new(bytes, is_url_byte, false).filter(escaped) {
                self.percent_spans(s, run, known, priority, spans);
            }
        }
    }

    /// The kind of the first credential in `bytes` (decoded data), if any.
    fn decoded_kind(&self, bytes: &[u8], known: &KnownSecrets) -> Option<&'static str> {
        let mut found = Vec::new();
        known.find_bytes(bytes, &mut found);
        if !found.is_empty() {
            return Some(KNOWN_KIND);
        }
        let text = String::from_utf8_lossy(bytes);
        let mut inner = Vec::new();
        self.spans(&text, self.scan(&text), known, None, &mut inner);
        inner
            .iter()
            .min_by_key(|sp| (sp.priority, sp.start))
            .map(|sp| sp.kind)
    }

    /// Appends a span for each credential in the percent-decoded `run` of
    /// `s`: the part of the run holding it, widened to URL delimiters.
    fn percent_spans(
        &self,
        s: &str,
        run: Range<usize>,
        known: &KnownSecrets,
        priority: usize,
        spans: &mut Vec<Span>,
    ) {
        let raw = &s.as_bytes()[run.clone()];
        for plus_is_space in [true, false] {
            if !plus_is_space && !raw.contains(&b'+') {
                break;
            }
            let Some((decoded, map)) = percent_decode(raw, plus_is_space) else {
                return;
            };
            // Decoded offsets of each credential, and its kind.
            let mut found: Vec<(Range<usize>, &'static str)> = Vec::new();
            let mut ranges = Vec::new();
            known.find_bytes(&decoded, &mut ranges);
            found.extend(ranges.into_iter().map(|r| (r, KNOWN_KIND)));
            let mut inner = Vec::new();
            match std::str::from_utf8(&decoded) {
                Ok(text) => {
                    self.spans(text, self.scan(text), known, None, &mut inner);
                    found.extend(inner.iter().map(|sp| (sp.start..sp.end, sp.kind)));
                }
                Err(_) => {
                    // Offsets in lossy text are not the decoded ones: the whole run.
                    let text = String::from_utf8_lossy(&decoded);
                    self.spans(&text, self.scan(&text), known, None, &mut inner);
                    let first = inner.iter().min_by_key(|sp| (sp.priority, sp.start));
                    found.extend(first.map(|sp| (0..decoded.len(), sp.kind)));
                }
            }
            for (range, kind) in found {
                let (mut start, mut end) = (map[range.start], map[range.end]);
                if kind != KNOWN_KIND {
                    // A pattern may run on past the end of its query value.
                    if let Some(cut) = raw[start..end]
                        .iter()
                        .position(|&b| matches!(b, b'&' | b'#'))
                    {
                        end = start + cut;
                    }
                }
                if end <= start {
                    continue;
                }
                while start > 0 && !is_url_delimiter(raw[start - 1]) {
                    start -= 1;
                }
                while end < raw.len() && !is_url_delimiter(raw[end]) {
                    end += 1;
                }
                spans.push(Span {
                    start: run.start + start,
                    end: run.start + end,
                    priority,
                    kind,
                });
            }
        }
    }
}

/// Maximal runs of bytes for which `keep` holds, with trailing `=` padding
/// (and, when `wrapped`, across the line breaks of wrapped base64 or hex);
/// found lazily, so clean text allocates nothing.
struct Runs<'a> {
    s: &'a [u8],
    at: usize,
    keep: fn(u8) -> bool,
    wrapped: bool,
}

impl<'a> Runs<'a> {
    fn new(s: &'a [u8], keep: fn(u8) -> bool, wrapped: bool) -> Runs<'a> {
        Runs {
            s,
            at: 0,
            keep,
            wrapped,
        }
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
        let mut line = start;
        let mut first_width = None;
        loop {
            while self.at < s.len() && keep(s[self.at]) {
                self.at += 1;
            }
            // Every line of a wrapped run but the last is as wide as the first.
            let width = self.at - line;
            let first = *first_width.get_or_insert(width);
            let eol = line_break(s, self.at);
            let wraps = self.wrapped
                && eol > 0
                && width == first
                && width >= MIN_WRAPPED_LINE
                && width.is_multiple_of(4)
                && s.get(self.at + eol).is_some_and(|&b| keep(b));
            if !wraps {
                break;
            }
            self.at += eol;
            line = self.at;
        }
        while self.at < s.len() && s[self.at] == b'=' {
            self.at += 1;
        }
        Some(start..self.at)
    }
}

/// Length of the line break (`\n` or `\r\n`) at `at`, 0 if none.
fn line_break(s: &[u8], at: usize) -> usize {
    match s.get(at..) {
        Some([b'\r', b'\n', ..]) => 2,
        Some([b'\n', ..]) => 1,
        _ => 0,
    }
}

fn is_base64_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_')
}

/// What may stand in a URL: unreserved, sub-delims, `% / : @ ? #`.
fn is_url_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'%' | b'-'
                | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b'/'
                | b':'
                | b'@'
                | b'?'
                | b'#'
        )
}

/// What separates the parts of a URL (a redaction inside a run stops there).
fn is_url_delimiter(b: u8) -> bool {
    matches!(
        b,
        b'&' | b'=' | b'?' | b'/' | b':' | b'@' | b';' | b',' | b'#'
    )
}

/// Percent decoding (`+` as space when `plus_is_space`), with the offset in
/// `s` where each decoded byte starts (and `s.len()` last); `None` when
/// nothing was escaped.
fn percent_decode(s: &[u8], plus_is_space: bool) -> Option<(Vec<u8>, Vec<usize>)> {
    let mut out = Vec::with_capacity(s.len());
    let mut map = Vec::with_capacity(s.len() + 1);
    let mut escaped = false;
    let mut i = 0;
    while i < s.len() {
        map.push(i);
        match (
            s[i],
            s.get(i + 1).and_then(hex_digit),
            s.get(i + 2).and_then(hex_digit),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(hi << 4 | lo);
                escaped = true;
                i += 3;
            }
            (b'+', _, _) if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    map.push(s.len());
    escaped.then_some((out, map))
}

fn hex_digit(b: &u8) -> Option<u8> {
    char::from(*b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// The next hex run from `*at` made of two or more even groups of digits
/// (each may be prefixed `\x` or `0x`) with separators between them, and its
/// digits; advances `*at` past it. Linear: a group starts only at a word's start.
fn next_hex_run(s: &[u8], at: &mut usize) -> Option<(Range<usize>, Vec<u8>)> {
    while *at < s.len() {
        let start = *at;
        let at_word = start == 0 || s[start] == b'\\' || !s[start - 1].is_ascii_alphanumeric();
        let first = if at_word { hex_group(s, start) } else { None };
        let Some((mut end, from)) = first else {
            // Skip the rest of this word.
            *at += 1;
            while *at < s.len()
                && s[*at].is_ascii_alphanumeric()
                && s[*at - 1].is_ascii_alphanumeric()
            {
                *at += 1;
            }
            continue;
        };
        let (mut groups, mut count) = (1, end - from);
        while let Some(next) = hex_separator(s, end) {
            match hex_group(s, next) {
                Some((group_end, from)) => {
                    end = group_end;
                    groups += 1;
                    count += group_end - from;
                }
                None => break,
            }
        }
        *at = end;
        // Short runs and single groups (the base64 loop's) allocate nothing.
        if groups < 2 || count < MIN_HEX_RUN {
            continue;
        }
        let mut digits = Vec::new();
        let mut pos = start;
        while let Some((group_end, from)) = hex_group(s, pos) {
            digits.extend_from_slice(&s[from..group_end]);
            if group_end >= end {
                break;
            }
            match hex_separator(s, group_end) {
                Some(next) => pos = next,
                None => break,
            }
        }
        return Some((start..end, digits));
    }
    None
}

/// An even group of hex digits at `at` (after an optional `\x`/`0x`), not
/// followed by a letter or digit: its end and where its digits start.
fn hex_group(s: &[u8], at: usize) -> Option<(usize, usize)> {
    let from = match s.get(at..at + 2) {
        Some(b"\\x" | b"0x" | b"0X") => at + 2,
        _ => at,
    };
    let mut end = from;
    while end < s.len() && s[end].is_ascii_hexdigit() {
        end += 1;
    }
    let n = end - from;
    let whole = s.get(end).is_none_or(|b| !b.is_ascii_alphanumeric());
    (n >= 2 && n.is_multiple_of(2) && whole).then_some((end, from))
}

/// Where the next group starts after a hex group ending at `at`: a prefix
/// directly (`\x41\x42`), one of `: - , ` (and a space), a line break
/// (skipping an `xxd` offset), or an `xxd` ASCII column and the next line's offset.
fn hex_separator(s: &[u8], at: usize) -> Option<usize> {
    let next_line = |at: usize| {
        let eol = line_break(s, at);
        (eol > 0).then(|| {
            let line = at + eol;
            // `00000010: ` (xxd's offset) is not data.
            match s.get(line..line + 10) {
                Some(o) if o[..8].iter().all(u8::is_ascii_hexdigit) && &o[8..] == b": " => {
                    line + 10
                }
                _ => line,
            }
        })
    };
    match s.get(at..)? {
        [b'\\', b'x', ..] => Some(at),
        [b' ', b' ', ..] => {
            // xxd: the ASCII column, then the next line.
            let rest = &s[at..s.len().min(at + 64)];
            let eol = rest.iter().position(|&b| b == b'\n')?;
            let line = at + eol - usize::from(eol > 0 && rest[eol - 1] == b'\r');
            let next = next_line(line)?;
            (next == line + line_break(s, line) + 10).then_some(next)
        }
        [b':' | b',', b' ', ..] => Some(at + 2),
        [b':' | b'-' | b',' | b' ', ..] => Some(at + 1),
        [b'\r' | b'\n', ..] => next_line(at),
        _ => None,
    }
}
