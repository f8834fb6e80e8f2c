//! Fuzzes the credential sanitizer: never panics, and redaction is
//! idempotent both on raw text and on JSON (values and keys).

#![no_main]

use carapace::sanitize::Sanitizer;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn sanitizer() -> &'static Sanitizer {
    static S: OnceLock<Sanitizer> = OnceLock::new();
    S.get_or_init(Sanitizer::new)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let s = sanitizer();

    let (once, _) = s.redact_str(text);
    let (twice, kinds) = s.redact_str(&once);
    assert_eq!(once, twice, "redact_str is not idempotent");
    assert!(kinds.is_empty(), "second redact_str reported {kinds:?}");

    if let Ok(mut value) = serde_json::from_str::<serde_json::Value>(text) {
        s.sanitize(&mut value);
        let snapshot = value.clone();
        let again = s.sanitize(&mut value);
        assert!(again.is_empty(), "second sanitize reported {again:?}");
        assert_eq!(value, snapshot, "sanitize is not idempotent");
    }
});
