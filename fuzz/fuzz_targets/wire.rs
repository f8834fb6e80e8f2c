//! Fuzzes the one wire parser: it must never panic, and what it accepts must be bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = carapace_ipc::parse_request(data) {
        assert!(request.correlation.chars().count() <= carapace_ipc::MAX_CORRELATION_LEN);
        assert!(data.len() <= carapace_ipc::MAX_MESSAGE_BYTES);
    }
});
