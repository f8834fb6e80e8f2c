//! Adversarial tests for the encodings a stored value may reach the agent
//! in: percent encoders that leave reserved characters alone, wrapped base64,
//! hex with separators, JSON numbers and the JSON escapes of Go and PHP. Every
//! value is made of random bytes at run time.

use super::*;
use rand::RngCore;
use serde_json::json;

/// `n` random bytes.
fn random(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut buf);
    buf
}

/// A sanitizer that knows `values`.
fn knowing(values: &[&[u8]]) -> Sanitizer {
    let san = Sanitizer::new();
    san.set_known(KnownSecrets::new(values.iter().copied()));
    san
}

fn stored() -> String {
    format!("[REDACTED:{KNOWN_KIND}]")
}

#[test]
fn a_stored_value_returned_as_a_json_number_is_redacted() {
    let digits: String = random(12).iter().map(|b| char::from(b'1' + b % 9)).collect();
    let san = knowing(&[digits.as_bytes()]);
    let within: serde_json::Value = serde_json::from_str(&format!("9{digits}")).expect("number");
    let exact: serde_json::Value = serde_json::from_str(&digits).expect("number");
    let mut v = json!({"pin": exact, "n": [within], "small": 1234, "f": 1.5});
    let redactions = san.sanitize(&mut v);
    assert_eq!(v["pin"], json!(stored()), "{v}");
    assert_eq!(v["n"][0], json!(stored()), "{v}");
    assert_eq!((v["small"].clone(), v["f"].clone()), (json!(1234), json!(1.5)));
    assert_eq!(redactions.len(), 2);
    assert!(redactions.iter().all(|r| r.kind == KNOWN_KIND));
}

#[test]
fn go_and_php_json_escapes_of_a_stored_value_are_found() {
    let value = format!("a&b<c>/{}", hex::encode(random(8)));
    let san = knowing(&[value.as_bytes()]);
    let go = value
        .replace('&', "\\u0026")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e");
    let php = value.replace('/', "\\/");
    let both = go.replace('/', "\\/");
    for form in [go, php, both] {
        let text = format!("{{\"v\":\"{form}\"}}");
        let (out, _) = san.redact_str(&text);
        assert_eq!(out, format!("{{\"v\":\"{}\"}}", stored()), "{text}");
    }
}
