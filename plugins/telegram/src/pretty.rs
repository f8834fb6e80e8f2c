//! Pretty-printing the one-line JSON of a call's arguments for an approval card,
//! by re-indenting its text, never by decoding it: every `\uXXXX` escape the core
//! made for display (bidi overrides, zero-width characters, controls) stays escaped,
//! so what the person reads is what the core will run.

/// Spaces per level.
const INDENT: usize = 2;

/// `json` (compact JSON text) laid out one member per line. Total: text that is not
/// JSON is re-laid the same way, never refused.
pub fn pretty(json: &str) -> String {
    let mut out = String::with_capacity(json.len() * 2);
    let mut depth: usize = 0;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = json.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    chars.next();
                    out.push(close);
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// Deepest nesting that is indented further: past it lines keep this indent,
/// so deeply nested arguments cannot grow the card's file a hundredfold.
const MAX_INDENT_DEPTH: usize = 16;

fn newline(out: &mut String, depth: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n(
        ' ',
        depth.min(MAX_INDENT_DEPTH) * INDENT,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_indented_at_most_sixteen_levels() {
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let shown = pretty(&deep);
        let widest = shown.lines().map(|l| l.len() - l.trim_start().len()).max();
        assert_eq!(widest, Some(MAX_INDENT_DEPTH * INDENT));
        assert!(shown.len() < 40 * deep.len(), "{}", shown.len());
    }

    #[test]
    fn members_go_one_per_line_and_escapes_stay() {
        let shown = r#"{"chat":"42","text":"pay \u202eevil, {not: json}","n":[1,{"a":[]}],"e":{}}"#;
        assert_eq!(
            pretty(shown),
            "{\n  \"chat\": \"42\",\n  \"text\": \"pay \\u202eevil, {not: json}\",\n  \"n\": [\n    1,\n    {\n      \"a\": []\n    }\n  ],\n  \"e\": {}\n}"
        );
        let back: serde_json::Value = serde_json::from_str(&pretty(shown)).expect("still JSON");
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(shown).expect("JSON")
        );
        assert_eq!(pretty("\"a\\\"b\""), "\"a\\\"b\"");
        // Not JSON: laid out all the same, without a panic.
        assert_eq!(pretty("}}]["), "\n}\n}\n][\n  ");
    }
}
