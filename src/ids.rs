//! Random identifiers for requests, answers and events.

use rand::RngCore;

/// A random (version 4) UUID, hyphenated, from the thread's CSPRNG (seeded by
/// the OS): no system call per ID, unlike `Uuid::new_v4`, which asks the
/// kernel every time and was a visible share of each request's cost.
pub fn new_uuid() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_4_uuids_and_differ() {
        let a = new_uuid();
        let b = new_uuid();
        assert_ne!(a, b);
        let parsed = uuid::Uuid::parse_str(&a).expect("a uuid");
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(a.len(), 36);
    }
}
