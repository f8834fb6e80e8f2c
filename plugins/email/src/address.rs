//! Email addresses as the plugin accepts them: a plain `local@domain` (dot-atom
//! local part, host-name domain), nothing that could carry a second header, a
//! second recipient or a comment. Compared case-insensitively.

/// A checked address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address(String);

/// Longest address accepted (RFC 5321's path limit).
pub const MAX_ADDRESS: usize = 254;

impl Address {
    /// `text` if it is a plain address, else `None`.
    pub fn parse(text: &str) -> Option<Address> {
        if text.is_empty() || text.len() > MAX_ADDRESS {
            return None;
        }
        let (local, domain) = text.rsplit_once('@')?;
        if local.is_empty() || local.len() > 64 || !local_ok(local) || !domain_ok(domain) {
            return None;
        }
        Some(Address(text.to_owned()))
    }

    /// The address as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address lower-cased, for comparing.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// RFC 5322 `atext` and single dots between atoms.
fn local_ok(local: &str) -> bool {
    const SPECIAL: &str = "!#$%&'*+-/=?^_`{|}~";
    !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || SPECIAL.contains(c))
}

/// Host-name labels: letters, digits, hyphens, at least two labels.
fn domain_ok(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::Address;

    #[test]
    fn plain_addresses_pass() {
        for ok in [
            "a@b.co",
            "first.last+tag@mail.example.org",
            "x_y@sub-domain.example",
        ] {
            assert!(Address::parse(ok).is_some(), "{ok}");
        }
    }

    #[test]
    fn anything_that_could_smuggle_a_header_or_recipient_is_refused() {
        for bad in [
            "",
            "a@b",
            "a@b.co\r\nBcc: evil@x.com",
            "a@b.co\nBcc: evil@x.com",
            "a@b.co, evil@x.com",
            "Name <a@b.co>",
            "\"quoted\"@b.co",
            "a b@c.co",
            "a@b.co>",
            "a..b@c.co",
            ".a@b.co",
            "a@-b.co",
            "a@b..co",
            "a@b.co;evil@x.com",
            "a@b.co\0",
            "ä@b.co",
        ] {
            assert!(Address::parse(bad).is_none(), "{bad:?}");
        }
        assert!(Address::parse(&format!("{}@b.co", "a".repeat(65))).is_none());
    }
}
