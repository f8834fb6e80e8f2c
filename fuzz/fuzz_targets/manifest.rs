//! Fuzzes the manifest loader: any bytes give a manifest or a clean error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = carapace::plugins::manifest::Manifest::parse(data, "fuzz/manifest.json");
});
