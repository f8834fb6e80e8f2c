//! Credential sanitizer for the response path (DESIGN.md §2): every answer
//! is passed through [`Sanitizer::sanitize`] before it reaches the agent.
//!
//! This module owns the credential pattern table (`patterns.rs`), the
//! redaction of strings ([`Sanitizer::redact_str`]) and the walk over JSON
//! values, keys included ([`Sanitizer::sanitize`]). Matched text is replaced
//! by `[REDACTED:<kind>]`. It must never log or return a matched value: the
//! only things it reports are pattern kinds and JSON paths.
//!
//! What is redacted: the token formats of `patterns.rs` (whole token); for
//! context patterns only the secret part, so `Authorization: Bearer `,
//! `password=`, the URL scheme and host stay readable; a PEM private key
//! block as a whole (an unterminated one up to the end of the string). In
//! JSON, a string value whose key is a credential label (`"password"`,
//! `"api_key"`, `"Authorization"`, `"SecretAccessKey"`...) is redacted as a
//! whole, and so is the `value` of a `{"name": "X_PASSWORD", "value": ...}`
//! pair; the lines of a PEM key given as an array of strings are redacted
//! one by one. A key that contains a credential is renamed; if the new name
//! is taken, a numbered placeholder is used (`[REDACTED:github_token#2]`), so
//! no member is lost. Paths in [`Redaction`] are built from the new keys.
//!
//! Also redacted: the exact values of the secrets the core stores and their
//! encodings (`known.rs`, `[REDACTED:stored_secret]`, a set swapped whole
//! with [`Sanitizer::set_known`]): raw, JSON-escaped (also Go's `\u0026` and
//! PHP's `\/`), base64, hex and percent forms, and a JSON number whose text
//! holds one (replaced by the placeholder string). Encoded runs are decoded
//! one level (`encoded.rs`): base64 and hex, also wrapped at line ends and hex
//! split by separators or dumped by `xxd`, redacted whole when the decoded
//! data holds a credential; percent-encoded URL text over every URL
//! character, whatever the encoder left unescaped, redacted from the nearest
//! URL delimiter to the next around the credential.
//!
//! Not found: encodings nested twice, base64 or hex broken other than at
//! line ends (or by hex separators), the last ASCII column of an `xxd` dump,
//! a value shorter than [`MIN_SECRET_BYTES`], and JSON escapes other than
//! those listed inside a JSON text carried in a string.
//!
//! Trade-offs: a label at the start of a line followed by `:` redacts the
//! rest of the line (YAML `password: two words`), even in prose; values are
//! cut at whitespace and delimiters elsewhere. Numbers are matched against
//! stored values only, never against the patterns.
//!
//! Properties relied on by callers and checked by the tests and the fuzz
//! target: redaction is idempotent (placeholders are never matched again),
//! text outside a match is kept byte for byte, clean input is returned
//! without allocating, and nothing panics on any input. Cost: a literal
//! prefilter (Aho-Corasick) decides which regexes run at all, so clean text
//! costs about 1-2 ns per byte; stored values add one automaton pass over
//! strings (and numbers) of 8 bytes or more, encoded runs two byte loops
//! (base64, hex) over strings of 24 bytes or more and a third (URL) over
//! strings holding `%`; none of these loops allocates, only the decode and
//! scan of a long run (or a percent run with an escape) does.

pub mod codec;
mod encoded;
mod json;
pub mod known;
mod patterns;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_encoded;

use aho_corasick::AhoCorasick;
use arc_swap::ArcSwap;
use regex::Regex;
use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

pub use known::{KnownSecrets, KNOWN_KIND, MIN_SECRET_BYTES};
use patterns::{Validator, AUTH_KIND, KEY_LABELS, SPECS};

/// Bit of the prefilter mask meaning "the text contains a placeholder".
const HOLE_BIT: u64 = 1 << 63;
/// Prefilter flag: a label literal ends the text (object keys such as
/// `db_password`).
const LABEL_END_BIT: u64 = 1 << 62;
/// Prefilter literal announcing a placeholder.
const HOLE_ANCHOR: &str = "[redacted:";
/// Bound on re-scans of changed text; one pass almost always suffices.
const MAX_PASSES: usize = 8;
/// Kind of a PEM private key.
const PEM_KIND: &str = "private_key";

/// One redaction made by [`Sanitizer::sanitize`]; it never holds the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    /// RFC 6901 JSON Pointer of the redacted string (`""` is the root); for
    /// a redacted object key, the pointer of the member under its new key
    /// followed by `" (key)"`, e.g. `/a/[REDACTED:github_token] (key)`.
    pub path: String,
    /// Pattern kind, e.g. `"github_token"`.
    pub kind: &'static str,
}

const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<Sanitizer>();
};

/// A compiled row of the pattern table.
struct Compiled {
    kind: &'static str,
    regex: Regex,
    has_groups: bool,
    validate: Option<Validator>,
    needs: &'static [u8],
}

/// Compiled once at startup; cheap to share (Send + Sync).
pub struct Sanitizer {
    /// The stored secrets' values and encodings, swapped whole when the store
    /// changes; each redaction loads it once.
    known: ArcSwap<KnownSecrets>,
    prefilter: AhoCorasick,
    /// For each prefilter literal, the rows it enables (bit i = `SPECS[i]`)
    /// wherever it occurs, and those it enables only when a separator
    /// follows it (label rows).
    anchor_masks: Vec<(u64, u64)>,
    patterns: Vec<Compiled>,
    /// Matches the placeholders this module writes.
    holes: Regex,
    /// Length of the shortest prefilter literal.
    min_anchor: usize,
    /// Whole-key regexes and the kind used to redact their string value.
    key_labels: Vec<(Regex, &'static str)>,
    /// The first and last line of a PEM private key.
    pem_begin: Regex,
    pem_end: Regex,
}

/// A candidate redaction: byte range, priority (lower wins when spans merge:
/// 0 is a stored secret, then the table's rows in order) and kind.
#[derive(Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    priority: usize,
    kind: &'static str,
}

/// The process-wide sanitizer, compiled on first use: the core answers and logs with this one.
pub fn shared() -> &'static Sanitizer {
    static SHARED: std::sync::OnceLock<Sanitizer> = std::sync::OnceLock::new();
    SHARED.get_or_init(Sanitizer::new)
}

impl Default for Sanitizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Sanitizer {
    /// Compiles all patterns; the patterns are constants, so this cannot fail.
    pub fn new() -> Sanitizer {
        let mut literals: Vec<String> = Vec::new();
        let mut anchor_masks: Vec<(u64, u64)> = Vec::new();
        let mut add = |lit: &str, anywhere: u64, labelled: u64| {
            let lit = lit.to_ascii_lowercase();
            match literals.iter().position(|l| *l == lit) {
                Some(i) => {
                    anchor_masks[i].0 |= anywhere;
                    anchor_masks[i].1 |= labelled;
                }
                None => {
                    literals.push(lit);
                    anchor_masks.push((anywhere, labelled));
                }
            }
        };
        for (i, spec) in SPECS.iter().enumerate() {
            for a in spec.anchors {
                match spec.label {
                    true => add(a, 0, 1 << i),
                    false => add(a, 1 << i, 0),
                }
            }
        }
        add(HOLE_ANCHOR, HOLE_BIT, 0);
        let min_anchor = literals.iter().map(String::len).min().unwrap_or(0);
        let prefilter = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(&literals)
            .expect("constant prefilter literals compile");
        let patterns = SPECS
            .iter()
            .map(|spec| {
                let regex = Regex::new(spec.regex).expect("constant credential pattern compiles");
                Compiled {
                    kind: spec.kind,
                    has_groups: regex.captures_len() > 1,
                    regex,
                    validate: spec.validate,
                    needs: spec.needs,
                }
            })
            .collect();
        let holes = Regex::new(&patterns::placeholder_regex())
            .expect("constant placeholder pattern compiles");
        let key_labels = KEY_LABELS
            .iter()
            .map(|(re, kind)| {
                let re = Regex::new(re).expect("constant key label pattern compiles");
                (re, *kind)
            })
            .collect();
        let pem = |edge: &str| {
            Regex::new(&format!("-----{edge}[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"))
                .expect("constant PEM pattern compiles")
        };
        Sanitizer {
            pem_begin: pem("BEGIN"),
            pem_end: pem("END"),
            known: ArcSwap::from_pointee(KnownSecrets::default()),
            prefilter,
            anchor_masks,
            patterns,
            holes,
            min_anchor,
            key_labels,
        }
    }

    /// Puts `known` in force for every redaction from now on (atomically).
    pub fn set_known(&self, known: KnownSecrets) {
        self.known.store(Arc::new(known));
    }

    /// How many stored secrets' values are redacted now.
    pub fn known_count(&self) -> usize {
        self.known.load().len()
    }

    /// Redacts every credential in `s`; returns the text (borrowed when
    /// nothing matched) and the distinct kinds redacted, in order of first
    /// occurrence.
    pub fn redact_str<'a>(&self, s: &'a str) -> (Cow<'a, str>, Vec<&'static str>) {
        match self.redact_owned(s, &self.known.load()) {
            Some((text, kinds)) => (Cow::Owned(text), kinds),
            None => (Cow::Borrowed(s), Vec::new()),
        }
    }

    /// `text` redacted, then cut to `max_chars` characters: in that order, since a
    /// credential cut short may no longer look like one.
    pub fn redact_cut(&self, text: &str, max_chars: usize) -> String {
        let (clean, _) = self.redact_str(text);
        clean.chars().take(max_chars).collect()
    }

    /// Redacts every string value and object key in `value`, recursively,
    /// and returns where (JSON Pointer) and what kind was redacted.
    pub fn sanitize(&self, value: &mut serde_json::Value) -> Vec<Redaction> {
        let mut out = Vec::new();
        let mut path = String::new();
        self.walk(value, &mut path, &mut out, &self.known.load());
        out
    }

    /// `redact_str`, returning `None` when `s` is unchanged. Repeats until
    /// nothing more matches, so the result is a fixed point (idempotence);
    /// each changing pass strictly shrinks the non-placeholder text.
    fn redact_owned(&self, s: &str, known: &KnownSecrets) -> Option<(String, Vec<&'static str>)> {
        self.redact_masked(s, self.scan(s), known)
    }

    /// `redact_owned` with the prefilter mask of `s` already computed.
    fn redact_masked(
        &self,
        s: &str,
        mask: u64,
        known: &KnownSecrets,
    ) -> Option<(String, Vec<&'static str>)> {
        let (mut text, mut kinds) = self.redact_once(s, mask, known)?;
        for _ in 1..MAX_PASSES {
            match self.redact_once(&text, self.scan(&text), known) {
                Some((next, more)) => {
                    text = next;
                    for k in more {
                        if !kinds.contains(&k) {
                            kinds.push(k);
                        }
                    }
                }
                None => break,
            }
        }
        Some((text, kinds))
    }

    /// Which rows may match `s` (plus `HOLE_BIT`); 0 for most clean text.
    fn scan(&self, s: &str) -> u64 {
        // Fast rejection first (stops at the first literal), and strings
        // shorter than every literal need no look at all.
        if s.len() < self.min_anchor || !self.prefilter.is_match(s) {
            return 0;
        }
        let mut mask = 0;
        for m in self.prefilter.find_overlapping_iter(s) {
            let (anywhere, labelled) = self.anchor_masks[m.pattern().as_usize()];
            mask |= anywhere;
            if labelled != 0 {
                if patterns::separator_follows(s.as_bytes(), m.end()) {
                    mask |= labelled;
                }
                if m.end() == s.len() {
                    mask |= LABEL_END_BIT;
                }
            }
        }
        mask
    }

    /// One pass over `s` (prefilter mask `mask`): find all spans (stored
    /// secrets first), merge, replace.
    fn redact_once(
        &self,
        s: &str,
        mask: u64,
        known: &KnownSecrets,
    ) -> Option<(String, Vec<&'static str>)> {
        let mut spans = Vec::new();
        self.spans(s, mask, known, Some(self.patterns.len() + 1), &mut spans);
        if spans.is_empty() {
            return None;
        }
        self.render(s, spans, mask & HOLE_BIT != 0)
    }

    /// Every candidate redaction in `s`: stored values, the rows `mask`
    /// enables, and (at `encoded`'s priority, when given) encoded runs.
    fn spans(
        &self,
        s: &str,
        mask: u64,
        known: &KnownSecrets,
        encoded: Option<usize>,
        spans: &mut Vec<Span>,
    ) {
        let mut found = Vec::new();
        known.find(s, &mut found);
        spans.extend(found.into_iter().map(|r| Span {
            start: r.start,
            end: r.end,
            priority: 0,
            kind: KNOWN_KIND,
        }));
        if mask & !(HOLE_BIT | LABEL_END_BIT) != 0 {
            let bytes = s.as_bytes();
            for (row, p) in self.patterns.iter().enumerate() {
                let needed = || p.needs.is_empty() || p.needs.iter().any(|b| bytes.contains(b));
                if mask & (1 << row) != 0 && needed() {
                    p.find(s, row, spans);
                }
            }
        }
        if let Some(priority) = encoded {
            self.encoded_spans(s, known, priority, spans);
        }
    }

    /// Replaces `spans` in `s`: overlapping spans are merged (kind of the
    /// highest-priority row), placeholders already present are cut out of
    /// every span, and leading/trailing whitespace of a span is kept.
    fn render(
        &self,
        s: &str,
        mut spans: Vec<Span>,
        has_holes: bool,
    ) -> Option<(String, Vec<&'static str>)> {
        let holes: Vec<Range<usize>> = if has_holes {
            self.holes.find_iter(s).map(|m| m.range()).collect()
        } else {
            Vec::new()
        };
        spans.sort_unstable_by_key(|sp| (sp.start, sp.priority));
        let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
        for sp in spans {
            match merged.last_mut() {
                Some(cur) if sp.start < cur.end => {
                    cur.end = cur.end.max(sp.end);
                    if sp.priority < cur.priority {
                        cur.priority = sp.priority;
                        cur.kind = sp.kind;
                    }
                }
                _ => merged.push(sp),
            }
        }
        let mut out = String::new();
        let mut kinds: Vec<&'static str> = Vec::new();
        let mut last = 0;
        for sp in merged {
            let kind = sp.kind;
            for piece in subtract_holes(sp.start..sp.end, &holes) {
                let Some(piece) = trim_range(s, piece) else {
                    continue;
                };
                if out.is_empty() {
                    out.reserve(s.len() + 32);
                }
                out.push_str(&s[last..piece.start]);
                push_placeholder(&mut out, kind);
                last = piece.end;
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
        }
        if kinds.is_empty() {
            return None;
        }
        out.push_str(&s[last..]);
        Some((out, kinds))
    }

    /// The kind to redact the whole string value of object key `key` with,
    /// if `key` (prefilter mask `mask`) is a credential label (`password`,
    /// `Authorization`...).
    fn sensitive_key(&self, key: &str, mask: u64) -> Option<&'static str> {
        if mask & LABEL_END_BIT == 0 {
            return None;
        }
        self.key_labels
            .iter()
            .find(|(re, _)| re.is_match(key))
            .map(|(_, kind)| *kind)
    }

    /// Redacts all of `value` as `kind` (minus existing placeholders), if
    /// it looks like a secret at all; `None` leaves it unchanged.
    fn redact_whole(&self, value: &str, kind: &'static str) -> Option<String> {
        if kind != AUTH_KIND && !patterns::pair_value(value) {
            return None;
        }
        self.redact_all(value, kind)
    }

    /// Redacts all of `value` as `kind` (minus existing placeholders).
    fn redact_all(&self, value: &str, kind: &'static str) -> Option<String> {
        let row = self.patterns.iter().position(|p| p.kind == kind)?;
        let span = Span {
            start: 0,
            end: value.len(),
            priority: row + 1,
            kind,
        };
        let has_holes = self.scan(value) & HOLE_BIT != 0;
        self.render(value, vec![span], has_holes).map(|(s, _)| s)
    }
}

impl Sanitizer {
    /// Whether `s` opens a PEM private key it does not close, and whether it
    /// holds a closing line.
    fn pem_edges(&self, s: &str) -> (bool, bool) {
        if !s.contains("-----") {
            return (false, false);
        }
        let last_begin = self.pem_begin.find_iter(s).last().map(|m| m.start());
        let last_end = self.pem_end.find_iter(s).last().map(|m| m.start());
        match (last_begin, last_end) {
            (Some(b), Some(e)) => (b > e, true),
            (Some(_), None) => (true, false),
            (None, end) => (false, end.is_some()),
        }
    }
}

impl Compiled {
    /// Appends this row's accepted matches in `s` to `spans`.
    fn find(&self, s: &str, row: usize, spans: &mut Vec<Span>) {
        let accept = |m: regex::Match<'_>| {
            let ok = !m.is_empty() && self.validate.is_none_or(|v| v(m.as_str()));
            ok.then_some(Span {
                start: m.start(),
                end: m.end(),
                priority: row + 1,
                kind: self.kind,
            })
        };
        if self.has_groups {
            for caps in self.regex.captures_iter(s) {
                let m = caps.iter().skip(1).flatten().next().or_else(|| caps.get(0));
                if let Some(sp) = m.and_then(accept) {
                    spans.push(sp);
                }
            }
        } else {
            spans.extend(self.regex.find_iter(s).filter_map(accept));
        }
    }
}

/// `[REDACTED:<kind>]`.
fn push_placeholder(out: &mut String, kind: &str) {
    out.push_str("[REDACTED:");
    out.push_str(kind);
    out.push(']');
}

/// `range` minus the (sorted, disjoint) `holes`.
fn subtract_holes(range: Range<usize>, holes: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut pieces = Vec::with_capacity(1);
    let mut cur = range.start;
    for h in holes {
        if h.end <= cur || h.start >= range.end {
            continue;
        }
        if h.start > cur {
            pieces.push(cur..h.start);
        }
        cur = cur.max(h.end);
    }
    if cur < range.end {
        pieces.push(cur..range.end);
    }
    pieces
}

/// `range` without leading/trailing whitespace; `None` if nothing is left.
fn trim_range(s: &str, range: Range<usize>) -> Option<Range<usize>> {
    let text = s.get(range.clone())?;
    let lead = text.len() - text.trim_start().len();
    let trail = text.len() - text.trim_end().len();
    let r = range.start + lead..range.end - trail;
    (r.start < r.end).then_some(r)
}
