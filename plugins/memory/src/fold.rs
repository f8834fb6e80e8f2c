//! Text made safe for one line of the brief.
//!
//! [`fold`] turns every line break, control character (Cc), format character
//! (Cf: bidi controls, zero-width characters, the BOM...), line or paragraph
//! separator (Zl, Zp) and other white space into a space, runs of them into one,
//! and trims the ends. [`quoted`] then shows a text as a JSON string literal, so
//! that nothing in it can close the quote.
//!
//! Must never let a character through that starts a new line or hides text.

/// Whether `c` is a format character (Unicode general category Cf).
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Whether `c` becomes a space in the brief.
fn folds(c: char) -> bool {
    c.is_whitespace() || c.is_control() || is_format(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// `text` on one line: line breaks, controls, format characters and white space
/// become one space; the ends are trimmed.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if folds(c) {
            space = !out.is_empty();
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    out
}

/// `text` folded, as a JSON string literal (`"` and `\` escaped): shown as data.
pub fn quoted(text: &str) -> String {
    serde_json::Value::String(fold(text)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaks_controls_and_invisible_characters_become_one_space() {
        assert_eq!(
            fold("a\nb\r\nc\u{2028}d\u{2029}e\u{85}f\u{b}g\u{c}h\u{0}i\u{7f}j"),
            "a b c d e f g h i j"
        );
        assert_eq!(fold("  x \u{202E}\u{200B}\u{FEFF} y\t\t"), "x y");
        assert_eq!(fold("\u{E0041}\u{E0042}"), "");
        assert_eq!(fold("keep `code` > \"q\" # h"), "keep `code` > \"q\" # h");
    }

    #[test]
    fn quoted_text_cannot_close_its_quote() {
        assert_eq!(
            quoted("say \"hi\" \\ \n## Owner"),
            r#""say \"hi\" \\ ## Owner""#
        );
        let literal = quoted("x\"\u{2028}y");
        let back: String = serde_json::from_str(&literal).expect("a JSON string");
        assert_eq!(back, "x\" y");
    }
}
