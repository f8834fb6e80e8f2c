//! `multipart/form-data` bodies (RFC 7578) for `sendDocument`: text fields and one file.

use super::transport::Body;

/// One part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// A text field.
    Text {
        /// The field name.
        name: String,
        /// Its value.
        value: String,
    },
    /// A file.
    File {
        /// The field name.
        name: String,
        /// The file name shown (letters, digits, `.`, `-`, `_` only).
        filename: String,
        /// Its media type.
        content_type: String,
        /// Its bytes.
        bytes: Vec<u8>,
    },
}

/// Encodes `parts` with a boundary found in none of them.
pub fn encode(parts: &[Part]) -> Body {
    let mut salt: u64 = 0x9e37_79b9_7f4a_7c15;
    loop {
        let boundary = format!("carapace-{salt:016x}");
        let needle = boundary.as_bytes();
        let clashes = parts.iter().any(|part| match part {
            Part::Text { value, .. } => contains(value.as_bytes(), needle),
            Part::File { bytes, .. } => contains(bytes, needle),
        });
        if !clashes {
            return Body::Multipart {
                bytes: write(parts, &boundary),
                boundary,
            };
        }
        salt = salt.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    }
}

fn write(parts: &[Part], boundary: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match part {
            Part::Text { name, value } => {
                out.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{}\"\r\n\r\n",
                        plain(name)
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(value.as_bytes());
            }
            Part::File {
                name,
                filename,
                content_type,
                bytes,
            } => {
                out.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                        plain(name),
                        plain(filename),
                        plain(content_type)
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(bytes);
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// A header value with only safe characters (names and types are ours, never a user's).
fn plain(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '+'))
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_framed_and_the_boundary_avoids_the_content() {
        let clash = format!("x--carapace-{:016x}y", 0x9e37_79b9_7f4a_7c15_u64);
        let Body::Multipart { boundary, bytes } = encode(&[
            Part::Text {
                name: "chat_id".into(),
                value: "42".into(),
            },
            Part::File {
                name: "document".into(),
                filename: "args.json".into(),
                content_type: "application/json".into(),
                bytes: clash.clone().into_bytes(),
            },
        ]) else {
            panic!("multipart")
        };
        assert!(!clash.contains(&boundary));
        let text = String::from_utf8(bytes).expect("utf8");
        assert!(text.starts_with(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n42\r\n"
        )));
        assert!(text.contains("filename=\"args.json\"\r\nContent-Type: application/json\r\n\r\n"));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    }
}
