//! Text from a mail, made safe to put in an answer: header values on one line
//! without control characters, and everything cut to a size on a character boundary.

/// `value` on one line: control characters (CR, LF, escapes) become spaces,
/// runs of spaces shrink, at most `max` characters.
pub fn one_line(value: &str, max: usize) -> String {
    let mut out = String::new();
    let mut last_space = true;
    for c in value.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c == ' ' {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        out.push(c);
        if out.chars().count() >= max {
            break;
        }
    }
    out.trim_end().to_owned()
}

/// `text` cut to `max` characters; whether it was cut.
pub fn cap(text: &str, max: usize) -> (String, bool) {
    match text.char_indices().nth(max) {
        Some((end, _)) => (text[..end].to_owned(), true),
        None => (text.to_owned(), false),
    }
}

/// Keeps line breaks and tabs, drops other control characters (escape sequences
/// that could repaint a terminal showing the answer).
pub fn body_chars(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_one_line() {
        assert_eq!(one_line("a\r\nBcc: x\t y", 100), "a Bcc: x y");
        assert_eq!(one_line("abcdef", 3), "abc");
    }

    #[test]
    fn caps_respect_characters() {
        assert_eq!(cap("héllo", 2), ("hé".to_owned(), true));
        assert_eq!(cap("hi", 2), ("hi".to_owned(), false));
        assert_eq!(body_chars("a\x1b[2Jb\r\nc"), "a[2Jb\nc");
    }
}
