//! The readable text of a parsed message: its first text part, or its HTML part
//! turned into text (scripts, styles and markup dropped), control characters
//! removed, cut to the configured size.

use mail_parser::{Message, PartType};

use crate::text::{body_chars, cap};

/// Width HTML is wrapped to.
const HTML_WIDTH: usize = 100;

/// The body as text, and whether it was cut to `max` characters.
pub fn text(message: &Message<'_>, max: usize) -> (String, bool) {
    let raw = first_text(message).unwrap_or_default();
    cap(&body_chars(&raw), max)
}

fn first_text(message: &Message<'_>) -> Option<String> {
    for index in message.text_body.iter().chain(message.html_body.iter()) {
        let Some(part) = message.parts.get(*index as usize) else {
            continue;
        };
        match &part.body {
            PartType::Text(text) => return Some(text.to_string()),
            PartType::Html(html) => return Some(html_to_text(html)),
            _ => {}
        }
    }
    None
}

/// Deepest element nesting given to the HTML renderer: html2text's time grows
/// with the square of the nesting (100,000 nested `<div>`s, 500 KB, took 65 s
/// of CPU, holding the IMAP session meanwhile); mail HTML nests a few dozen deep.
pub const MAX_HTML_DEPTH: usize = 256;

/// HTML as plain text; on a rendering failure, or HTML nested deeper than
/// [`MAX_HTML_DEPTH`], the tags stripped crudely.
pub fn html_to_text(html: &str) -> String {
    if nesting(html) > MAX_HTML_DEPTH {
        return strip_tags(html);
    }
    html2text::config::plain()
        .string_from_read(html.as_bytes(), HTML_WIDTH)
        .unwrap_or_else(|_| strip_tags(html))
}

/// Elements that never hold others (HTML's void elements): no closing tag.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// The deepest nesting of elements in `html`, roughly: each start tag opens one
/// (void and self-closed ones none), each end tag closes one. One linear pass.
fn nesting(html: &str) -> usize {
    let bytes = html.as_bytes();
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut i = 0;
    while let Some(at) = bytes[i..].iter().position(|&b| b == b'<') {
        let start = i + at + 1;
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(bytes.len(), |e| start + e);
        let tag = &bytes[start..end];
        if let Some(name) = tag.strip_prefix(b"/") {
            if name.first().is_some_and(u8::is_ascii_alphabetic) {
                depth = depth.saturating_sub(1);
            }
        } else if tag.first().is_some_and(u8::is_ascii_alphabetic) && !tag.ends_with(b"/") {
            let length = tag
                .iter()
                .position(|b| !b.is_ascii_alphanumeric())
                .unwrap_or(tag.len());
            let name = &tag[..length];
            if !VOID.iter().any(|v| v.as_bytes().eq_ignore_ascii_case(name)) {
                depth += 1;
                deepest = deepest.max(depth);
            }
        }
        i = end.min(bytes.len());
        if i >= bytes.len() {
            break;
        }
    }
    deepest
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in html.chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deeply_nested_html_is_stripped_not_rendered() {
        let deep = format!(
            "{}deep text{}",
            "<div>".repeat(100_000),
            "</div>".repeat(100_000)
        );
        assert!(nesting(&deep) > MAX_HTML_DEPTH);
        assert_eq!(html_to_text(&deep).trim(), "deep text");
        let ordinary = format!(
            "<html><body>{}<table><tr><td><p>Hi<br>there<img src=x></p></td></tr></table></body></html>",
            "<br><hr/>".repeat(5_000)
        );
        assert_eq!(
            nesting(&ordinary),
            6,
            "void and self-closed elements open nothing"
        );
        assert!(html_to_text(&ordinary).contains("there"));
    }

    #[test]
    fn html_becomes_text_without_scripts() {
        let text = html_to_text("<html><head><style>p{color:red}</style><script>alert('x')</script></head><body><p>Hello <b>there</b></p><a href=\"https://e.x\">link</a></body></html>");
        assert!(text.contains("Hello"), "{text}");
        assert!(text.contains("there"), "{text}");
        assert!(!text.contains("alert"), "{text}");
        assert!(!text.contains("color:red"), "{text}");
        assert!(!text.contains("<b>"), "{text}");
    }

    #[test]
    fn bodies_are_capped() {
        let raw = format!(
            "Subject: x\r\nContent-Type: text/plain\r\n\r\n{}",
            "a".repeat(1000)
        );
        let message = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .expect("test value");
        let (body, cut) = text(&message, 100);
        assert_eq!(body.len(), 100);
        assert!(cut);
    }
}
