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

/// HTML as plain text; on a rendering failure, the tags stripped crudely.
pub fn html_to_text(html: &str) -> String {
    html2text::config::plain()
        .string_from_read(html.as_bytes(), HTML_WIDTH)
        .unwrap_or_else(|_| strip_tags(html))
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
