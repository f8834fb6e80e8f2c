//! The hash that binds a decision to the exact arguments of one pending call.
//!
//! `args_hash(arguments)` is SHA-256 over the arguments' canonical JSON
//! ([`canonical_json`]: serde_json's compact form, no whitespace, with the keys
//! of every object sorted by their UTF-8 bytes), cut to its first 16 bytes
//! (128 bits) and written as unpadded base64url (RFC 4648 §5): always
//! [`ARGS_HASH_CHARS`] characters of `[A-Za-z0-9_-]`. That form fits Telegram's
//! 64-byte `callback_data` beside a confirmation id (`a:<36-char id>:<22-char
//! hash>` is 61 bytes). The core compares exactly this form, byte for byte; a
//! plugin copies it from `confirmation.requested` and never recomputes it.
//!
//! Hashes the raw arguments, never the redacted ones a person is shown: what is
//! approved is what runs.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Length of an args hash in characters.
pub const ARGS_HASH_CHARS: usize = 22;

/// The args hash of `arguments` (see the module doc).
pub fn args_hash(arguments: &Value) -> String {
    let digest = Sha256::digest(canonical_json(arguments).as_bytes());
    base64url(&digest[..16])
}

/// `value` as compact JSON with every object's keys sorted by their UTF-8 bytes,
/// written here rather than left to the map type's order.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(item) = map.get(key) {
                    write_canonical(item, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        // Strings, numbers, booleans and null as serde_json writes them.
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Unpadded base64url (RFC 4648 §5).
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        for sextet in sextets.iter().take(chunk.len() + 1) {
            out.push(char::from(ALPHABET[*sextet as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base64url_matches_rfc_4648_vectors() {
        // RFC 4648 §10, unpadded, and the URL-safe alphabet's two characters.
        let vectors = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in vectors {
            assert_eq!(base64url(input.as_bytes()), expected, "{input}");
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn the_hash_ignores_key_order_and_whitespace_but_not_values() {
        let a = json!({"to": "alice", "text": "hi", "n": {"b": 1, "a": [1, 2]}});
        let b: Value =
            serde_json::from_str(r#"{ "n": {"a": [1,2], "b": 1}, "text": "hi", "to": "alice" }"#)
                .expect("JSON");
        assert_eq!(args_hash(&a), args_hash(&b));
        assert_eq!(
            canonical_json(&a),
            r#"{"n":{"a":[1,2],"b":1},"text":"hi","to":"alice"}"#
        );
        for changed in [
            json!({"to": "alice", "text": "hi!", "n": {"b": 1, "a": [1, 2]}}),
            json!({"to": "alice", "text": "hi", "n": {"b": 1, "a": [2, 1]}}),
            json!({"to": "alice", "text": "hi", "n": {"b": "1", "a": [1, 2]}}),
            json!({"to": "alice", "text": "hi"}),
        ] {
            assert_ne!(args_hash(&a), args_hash(&changed), "{changed}");
        }
    }

    #[test]
    fn the_hash_is_22_url_safe_characters_of_the_sha256_prefix() {
        let hash = args_hash(&json!({}));
        assert_eq!(hash.len(), ARGS_HASH_CHARS);
        assert!(hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        // SHA-256("{}") = 44136fa355b3678a1146ad16f7e8649e 94fb...: its first 16 bytes,
        // as Python's `base64.urlsafe_b64encode(digest[:16]).rstrip(b"=")` writes them.
        assert_eq!(hash, "RBNvo1WzZ4oRRq0W9-hkng");
        // With a confirmation id and a decision, it fits Telegram's 64-byte callback_data.
        let callback = format!("a:{}:{hash}", "0".repeat(36));
        assert!(callback.len() <= 64, "{}", callback.len());
    }

    #[test]
    fn keys_sort_by_bytes_and_strings_keep_serde_json_escapes() {
        let value = json!({"b": 1, "B": 2, "é": 3, "a\u{1b}": "x\ny"});
        assert_eq!(
            canonical_json(&value),
            "{\"B\":2,\"a\\u001b\":\"x\\ny\",\"b\":1,\"é\":3}"
        );
    }
}
