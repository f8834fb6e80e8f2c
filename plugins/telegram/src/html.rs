//! Telegram's HTML parse mode: escaping text so that nothing in it is read as markup,
//! and the plain text an HTML message shows (for the plain resend after a 400).
//!
//! Chosen over MarkdownV2, whose 18 reserved characters must each be escaped outside
//! entities and differently inside them: in HTML only `<`, `>` and `&` (and `"` in
//! attributes) are special, so a stray `_`, `*` or `[` from the model is just text.

/// `text` with `&`, `<` and `>` as entities: shows exactly `text` (as element
/// content; this crate puts no outside text in an attribute).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// What an HTML message of ours shows: tags dropped, the four entities decoded.
/// Only for markup this crate wrote (tags without `>` in attributes).
pub fn to_plain(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find(['<', '&']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if tail.starts_with('<') {
            match tail.find('>') {
                Some(end) => rest = &tail[end + 1..],
                None => {
                    out.push_str(tail);
                    return out;
                }
            }
        } else {
            let (decoded, used) = [
                ("&amp;", '&'),
                ("&lt;", '<'),
                ("&gt;", '>'),
                ("&quot;", '"'),
            ]
            .iter()
            .find(|(entity, _)| tail.starts_with(entity))
            .map_or(('&', 1), |(entity, c)| (*c, entity.len()));
            out.push(decoded);
            rest = &tail[used..];
        }
    }
    out.push_str(rest);
    out
}

/// Format and separator characters that change how text reads without showing:
/// bidi controls, zero-width characters, the BOM, line/paragraph separators, tags.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{E0000}'..='\u{E007F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_back_are_exact() {
        let text = "a < b && c > d \"q\" _*[x](y)~`#+-=|{}.! &amp;";
        let html = escape(text);
        assert_eq!(
            html,
            "a &lt; b &amp;&amp; c &gt; d \"q\" _*[x](y)~`#+-=|{}.! &amp;amp;"
        );
        assert_eq!(to_plain(&html), text);
        assert_eq!(to_plain("<b>Tool</b> <code>x&lt;y</code>"), "Tool x<y");
        assert_eq!(to_plain("&quot;&bogus; &"), "\"&bogus; &");
        assert!(is_invisible('\u{202E}') && !is_invisible('é'));
    }
}
