//! The Bot API's base URL: `https://host[:port][/path]`, or `http://` to a loopback
//! IP address only (a stand-in or a local Bot API server: `127.x.y.z` or `[::1]`).
//!
//! The bot token travels in the URL path, so must never accept plain HTTP to another
//! host, user info, a query or a fragment, or characters that would change the path.
//! Plain HTTP needs a literal loopback IP, never a name: a name is resolved (DNS,
//! `/etc/hosts`), and `127.999.0.1`, `127.0.0.1.evil.com` or even `localhost` could
//! then send the token elsewhere in clear.

use std::fmt;

/// A checked base URL, without a trailing `/`.
#[derive(Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    /// Checks `text` (see the module doc); the error says what is wrong.
    pub fn parse(text: &str) -> Result<BaseUrl, String> {
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("https://") {
            ("https", rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            ("http", rest)
        } else {
            return Err("api_base_url must start with https:// (or http:// to a loopback IP: 127.0.0.1 or [::1])".into());
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let host = host_of(authority)
            .ok_or("api_base_url must name a host (letters, digits, `.`, `-`, or [IPv6]) and at most a numeric port, without user info")?;
        if !path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~'))
        {
            return Err(
                "api_base_url's path may hold only letters, digits and `/-._~` (no query or fragment)"
                    .into(),
            );
        }
        if scheme == "http" && !is_loopback(host) {
            return Err(
                "api_base_url must use https unless its host is a loopback IP (127.0.0.1 or [::1], not a name): the bot token is in the URL"
                    .into(),
            );
        }
        let path = path.trim_end_matches('/');
        Ok(BaseUrl(format!("{scheme}://{authority}{path}")))
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BaseUrl({})", self.0)
    }
}

/// The host of `host[:port]`, if both parts are well formed.
fn host_of(authority: &str) -> Option<&str> {
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let end = bracketed.find(']')?;
        let host = &authority[..end + 2];
        let inner = &bracketed[..end];
        if inner.is_empty()
            || !inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        (host, &bracketed[end + 1..])
    } else {
        let at = authority.find(':').unwrap_or(authority.len());
        let host = &authority[..at];
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return None;
        }
        (host, &authority[at..])
    };
    match port.strip_prefix(':') {
        None if port.is_empty() => Some(host),
        Some(digits)
            if (1..=5).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(host)
        }
        _ => None,
    }
}

/// Whether `host` is a literal loopback IP address (`127.0.0.0/8` in its usual
/// dotted form, or `[::1]`); any name, even `localhost`, is not.
fn is_loopback(host: &str) -> bool {
    let literal = host
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host);
    literal
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_urls_are_kept_without_a_trailing_slash() {
        for (given, kept) in [
            ("https://api.telegram.org", "https://api.telegram.org"),
            ("https://api.telegram.org/", "https://api.telegram.org"),
            (
                "https://bots.example:8443/tg/",
                "https://bots.example:8443/tg",
            ),
            ("http://127.0.0.1:38001", "http://127.0.0.1:38001"),
            ("http://127.3.2.1:9", "http://127.3.2.1:9"),
            ("http://[::1]:9/x", "http://[::1]:9/x"),
        ] {
            assert_eq!(BaseUrl::parse(given).map(|u| u.0), Ok(kept.to_owned()));
        }
    }

    #[test]
    fn urls_that_could_leak_or_bend_the_token_are_refused() {
        for bad in [
            "http://api.telegram.org",
            "http://127.0.0.1.evil.org",
            "http://127.0.0.1.evil.com:80",
            "http://localhost.evil.com",
            // Names, or not an IP address: resolved, they could lead anywhere.
            "http://localhost",
            "http://localhost:9",
            "http://127.999.0.1",
            "http://127.256.0.1:8081",
            "http://127.0.0.01",
            "http://0x7f.0.0.1",
            "http://[::ffff:127.0.0.1]",
            "http://[::2]",
            "http://10.0.0.1",
            "http://127.a.b.c",
            "https://user:pw@api.telegram.org",
            "https://api.telegram.org?x=1",
            "https://api.telegram.org/#frag",
            "https://api.telegram.org/a b",
            "https://api.telegram.org:99999999",
            "https://:443",
            "ftp://api.telegram.org",
            "api.telegram.org",
            "https://[zz]:1",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
