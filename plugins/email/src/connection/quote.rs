//! IMAP strings for search arguments (RFC 3501 §4.3 and §9, RFC 7888 for LITERAL+).
//!
//! Whatever the agent writes becomes exactly one IMAP string: a quoted string with
//! `\` and `"` escaped when it is plain printable ASCII, else a non-synchronizing
//! literal `{n+}\r\n<bytes>` whose length counts every byte, so no text can end the
//! string early, start a second criterion or a second command. A server without
//! LITERAL+ gets no literal: such text is refused instead.

/// Why a text cannot be sent as an IMAP string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    /// NUL is not allowed anywhere in IMAP.
    #[error("contains a NUL character")]
    Nul,
    /// A line break or non-ASCII text needs a literal, which this server cannot take.
    #[error("contains line breaks or non-ASCII text, which this server cannot search for")]
    NeedsLiteral,
}

/// `text` as one IMAP `astring`; `literal_plus` says the server announced LITERAL+.
pub fn imap_string(text: &str, literal_plus: bool) -> Result<String, QuoteError> {
    if text.contains('\0') {
        return Err(QuoteError::Nul);
    }
    let plain = text.bytes().all(|b| (0x20..0x7f).contains(&b));
    if plain {
        let mut quoted = String::with_capacity(text.len() + 2);
        quoted.push('"');
        for c in text.chars() {
            if c == '\\' || c == '"' {
                quoted.push('\\');
            }
            quoted.push(c);
        }
        quoted.push('"');
        return Ok(quoted);
    }
    if !literal_plus {
        return Err(QuoteError::NeedsLiteral);
    }
    Ok(format!("{{{}+}}\r\n{text}", text.len()))
}

/// Whether `text` needs the search to say `CHARSET UTF-8`.
pub fn needs_utf8(text: &str) -> bool {
    !text.is_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_quoted_with_escapes() {
        assert_eq!(
            imap_string("hello", false).expect("test value"),
            "\"hello\""
        );
        assert_eq!(
            imap_string(r#"a"b\c"#, false).expect("test value"),
            r#""a\"b\\c""#
        );
        assert_eq!(
            imap_string("x) OR (ALL", false).expect("test value"),
            "\"x) OR (ALL\""
        );
        assert_eq!(imap_string("{5}", false).expect("test value"), "\"{5}\"");
    }

    #[test]
    fn line_breaks_and_unicode_become_counted_literals() {
        let s = imap_string("a\r\nb DELETE INBOX", true).expect("test value");
        assert_eq!(s, "{17+}\r\na\r\nb DELETE INBOX");
        let s = imap_string("grüße", true).expect("test value");
        assert_eq!(s, "{7+}\r\ngrüße");
        assert_eq!(imap_string("a\nb", false), Err(QuoteError::NeedsLiteral));
        assert_eq!(imap_string("a\0b", true), Err(QuoteError::Nul));
    }

    #[test]
    fn a_quoted_string_never_ends_early() {
        // Every unescaped quote in the output is the first or the last character.
        for text in ["\"", "\\\"", "\\", "a\\\"b\"", "\"\")"] {
            let quoted = imap_string(text, false).expect("test value");
            let inner = &quoted[1..quoted.len() - 1];
            let mut escaped = false;
            for c in inner.chars() {
                assert!(escaped || c != '"', "{text:?} -> {quoted}");
                escaped = !escaped && c == '\\';
            }
            assert!(!escaped, "{quoted} ends inside an escape");
        }
    }
}
