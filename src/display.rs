//! Text shown to a person who decides: every character that could hide,
//! reorder or fake what is shown is escaped, so what they read is what runs.
//!
//! Escaped: control characters (C0, DEL, C1: terminal escapes among them),
//! format characters (bidirectional overrides and isolates, zero-width
//! joiners, the byte-order mark, tag characters), line and paragraph
//! separators, private-use, surrogate and unassigned code points. They are
//! written as JSON escapes (`\u202e`, surrogate pairs above U+FFFF), and a
//! backslash as `\\`, so the shown text is unambiguous and decodes (as a JSON
//! string) to exactly the value that runs.
//!
//! A short label that others supply and the core keeps (a sender a channel
//! reported, the field a tool named) is instead [`strip`]ped: the same
//! characters removed, and the text cut, so it is plain wherever it goes.

use std::fmt::Write;
use std::sync::OnceLock;

use regex::Regex;

/// The characters that must never reach a person's screen as they are.
const UNSAFE: &str = r"\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}";

/// Matches one unsafe character, or (with `backslash`) a backslash too.
fn pattern(backslash: bool) -> &'static Regex {
    static PLAIN: OnceLock<Regex> = OnceLock::new();
    static WITH_BACKSLASH: OnceLock<Regex> = OnceLock::new();
    // Hand-written at the trust boundary; the Unicode tables are regex's own.
    let (cell, set) = if backslash {
        (&WITH_BACKSLASH, format!(r"[\\{UNSAFE}]"))
    } else {
        (&PLAIN, format!("[{UNSAFE}]"))
    };
    cell.get_or_init(|| Regex::new(&set).expect("constant display pattern compiles"))
}

/// Whether `text` can be shown as it is: it holds no unsafe character.
pub fn is_safe(text: &str) -> bool {
    !pattern(false).is_match(text)
}

/// `text` with every unsafe character and every backslash escaped (see the module doc).
pub fn escape_str(text: &str) -> String {
    replace_each(text, pattern(true))
}

/// `value` as one line of JSON in which every string is escaped for display.
pub fn escape_json(value: &serde_json::Value) -> String {
    // serde_json escapes `"`, `\` and C0 already; DEL, C1 and the rest here.
    replace_each(&value.to_string(), pattern(false))
}

/// At most `max_chars` characters of `text`, every unsafe character (see the
/// module doc) removed first.
pub fn strip(text: &str, max_chars: usize) -> String {
    pattern(false)
        .split(text)
        .flat_map(str::chars)
        .take(max_chars)
        .collect()
}

fn replace_each(text: &str, re: &Regex) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut last = 0;
    for m in re.find_iter(text) {
        out.push_str(&text[last..m.start()]);
        for c in m.as_str().chars() {
            push_escape(&mut out, c);
        }
        last = m.end();
    }
    out.push_str(&text[last..]);
    out
}

fn push_escape(out: &mut String, c: char) {
    if c == '\\' {
        out.push_str("\\\\");
        return;
    }
    let mut units = [0u16; 2];
    for unit in c.encode_utf16(&mut units) {
        let _ = write!(out, "\\u{unit:04x}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_text_is_unchanged_and_safe() {
        assert!(is_safe("send_mail to bob@example.org"));
        assert!(!is_safe("a\u{202e}b"));
        assert_eq!(
            escape_str("send_mail to bob@example.org"),
            "send_mail to bob@example.org"
        );
        assert_eq!(escape_str("café naïve 日本"), "café naïve 日本");
    }

    #[test]
    fn hidden_characters_are_escaped() {
        let cases = [
            ("a\u{202e}b", "a\\u202eb"),
            ("\u{1b}[2J", "\\u001b[2J"),
            ("x\u{9b}31m", "x\\u009b31m"),
            ("zero\u{200b}width", "zero\\u200bwidth"),
            ("line\u{2028}sep", "line\\u2028sep"),
            ("\u{feff}bom", "\\ufeffbom"),
            ("tag\u{e0041}", "tag\\udb40\\udc41"),
            ("new\nline\ttab\u{7f}", "new\\u000aline\\u0009tab\\u007f"),
            ("back\\slash", "back\\\\slash"),
            ("isolate\u{2066}x\u{2069}", "isolate\\u2066x\\u2069"),
        ];
        for (raw, shown) in cases {
            assert_eq!(escape_str(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn stripped_labels_lose_hidden_characters_and_are_cut() {
        assert_eq!(strip("mallory\u{202e}bob\n\u{1b}[2J", 100), "mallorybob[2J");
        assert_eq!(strip("café naïve", 4), "café");
        assert_eq!(strip(&"\u{200b}".repeat(10_000), 5), "");
        assert_eq!(strip(&format!("{}x", "\u{7}".repeat(300)), 1), "x");
        assert!(is_safe(&strip("a\u{85}b\u{2028}c\u{e000}d", 10)));
    }

    #[test]
    fn json_is_escaped_and_still_decodes_to_the_same_value() {
        let value = json!({
            "to": "eve@example.org\u{202e}gro.elpmaxe@bob",
            "body": "a\u{85}b\u{9b}c \\ \"q\" \n",
            "n": [1, "\u{200f}"],
        });
        let shown = escape_json(&value);
        for raw in ['\u{202e}', '\u{85}', '\u{9b}', '\u{200f}', '\n'] {
            assert!(!shown.contains(raw), "{raw:?} in {shown}");
        }
        assert!(shown.contains("\\u202e"), "{shown}");
        assert!(
            shown.contains("\\u0085") && shown.contains("\\u009b"),
            "{shown}"
        );
        let back: serde_json::Value = serde_json::from_str(&shown).expect("valid JSON");
        assert_eq!(back, value, "what is shown decodes to exactly what runs");
    }
}
