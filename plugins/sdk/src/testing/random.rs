//! Random text for test secrets (passwords, tokens), from the system's randomness.
//!
//! Std only: the core's own tests include this file by path
//! (`plugins/email/tests/support/servers.rs`) without the SDK's `testing` feature.

use std::io::Read;

/// `len` random letters and digits.
pub fn random_text(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("random bytes");
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}
