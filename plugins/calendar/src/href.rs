//! URLs and WebDAV hrefs: the base URL's rules, resolving an href the server sent
//! against the URL it answered, and whether the credentials may go there.
//!
//! Must never: send the credentials over plain HTTP to anything but loopback, nor to
//! a host outside the configured server's site (a hostile answer could name any URL).

use crate::error::CalError;

/// A parsed absolute URL: `scheme://authority` and a path starting with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]`, lower case.
    pub authority: String,
    /// The path (percent-encoded as sent), starting with `/`, without query or fragment.
    pub path: String,
}

impl Url {
    /// Parses an absolute http(s) URL.
    pub fn parse(text: &str) -> Option<Url> {
        let (scheme, rest) = text.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if !plain_authority(authority) {
            return None;
        }
        let path = path.split(['?', '#']).next().unwrap_or("/");
        if path.chars().any(|c| c.is_control() || c == ' ') {
            return None;
        }
        Some(Url {
            scheme,
            authority: authority.to_ascii_lowercase(),
            path: path.to_owned(),
        })
    }

    /// The host without port or brackets.
    pub fn host(&self) -> &str {
        let authority = self.authority.as_str();
        if let Some(rest) = authority.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest);
        }
        authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host)
    }

    /// Whether the host is a literal loopback address.
    pub fn is_loopback(&self) -> bool {
        // A literal loopback address only: a name (`127.evil.example`,
        // `localhost`) is whatever a resolver says.
        let host = self.host();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    }

    /// `scheme://authority/path`.
    pub fn as_string(&self) -> String {
        format!("{}://{}{}", self.scheme, self.authority, self.path)
    }

    /// `href` (absolute URL, absolute path or relative path) resolved against `self`.
    pub fn join(&self, href: &str) -> Option<Url> {
        let href = href.trim();
        if href.contains("://") {
            return Url::parse(href);
        }
        if href.starts_with("//") {
            return Url::parse(&format!("{}:{href}", self.scheme));
        }
        let path = if href.starts_with('/') {
            href.to_owned()
        } else {
            let dir = self.path.rsplit_once('/').map_or("", |(dir, _)| dir);
            format!("{dir}/{href}")
        };
        Url::parse(&format!("{}://{}{}", self.scheme, self.authority, path))
    }

    /// Whether the credentials configured for `base` may be sent to `self`: the same
    /// origin, or https on a host under the base host's parent (iCloud's
    /// `caldav.icloud.com` sends calendars on `p07-caldav.icloud.com`).
    pub fn may_receive_credentials_of(&self, base: &Url) -> bool {
        if self.scheme == base.scheme && self.authority == base.authority {
            return true;
        }
        if self.scheme != "https" {
            return false;
        }
        // The site is the base host without its first label, when at least two
        // labels remain (`caldav.icloud.com` -> `icloud.com`; but
        // `cloud.alice.duckdns.org` -> `alice.duckdns.org`, never all of
        // `duckdns.org`'s tenants); a two-label base host shares with nobody.
        let base_host = base.host();
        let Some((_, site)) = base_host.split_once('.') else {
            return false;
        };
        let labels = site.split('.').count();
        labels >= 2
            && site.split('.').all(|l| !l.is_empty())
            && self.host().ends_with(&format!(".{site}"))
            && self.host().parse::<std::net::IpAddr>().is_err()
            && base_host.parse::<std::net::IpAddr>().is_err()
    }
}

/// Whether `authority` is `host[:port]` made only of what a host name or an
/// address may hold (`[A-Za-z0-9.-]`, or `[v6]`), so that no character the
/// HTTP client reads differently (`?`, `#`, `@`, `\`) can move where it connects.
fn plain_authority(authority: &str) -> bool {
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, after)) => {
                if v6.parse::<std::net::Ipv6Addr>().is_err() {
                    return false;
                }
                (
                    None,
                    after.strip_prefix(':').or((after.is_empty()).then_some("")),
                )
            }
            None => return false,
        },
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(authority), Some("")),
        },
    };
    let host_ok = host.is_none_or(|h| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    });
    let port_ok = port.is_some_and(|p| p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

/// The base URL must be https, or http to a loopback address.
pub fn check_base_url(text: &str) -> Result<Url, CalError> {
    let url = Url::parse(text).ok_or_else(|| {
        CalError::Config("url must be an absolute http(s) URL without userinfo".into())
    })?;
    if url.scheme == "http" && !url.is_loopback() {
        return Err(CalError::Config(
            "url must be https (plain http only to 127.0.0.1, localhost or [::1])".into(),
        ));
    }
    Ok(url)
}

/// The path without a trailing slash, percent-decoded where that is plain ASCII, to
/// compare two hrefs of one collection (`/a%40b/` and `/a@b` are the same).
pub fn same_collection(a: &str, b: &str) -> bool {
    fn hex(b: u8) -> Option<u8> {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
    fn norm(path: &str) -> Vec<u8> {
        let bytes = path.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    let v = h * 16 + l;
                    if v.is_ascii() {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        while out.last() == Some(&b'/') {
            out.pop();
        }
        out
    }
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_go_to_a_host_the_client_reads_differently_or_a_sibling_tenant() {
        let base = Url::parse("https://dav.example.com/").expect("base");
        assert!(Url::parse("https://evil.test?.example.com/x").is_none());
        assert!(Url::parse("https://evil.test#.example.com/x").is_none());
        assert!(Url::parse("https://evil.test\\.example.com/x").is_none());
        let sibling = Url::parse("https://p07.example.com/cal/").expect("sibling");
        assert!(sibling.may_receive_credentials_of(&base));
        let tenant_base = Url::parse("https://cloud.alice.duckdns.org/").expect("base");
        let other_tenant = Url::parse("https://mallory.duckdns.org/").expect("other");
        assert!(!other_tenant.may_receive_credentials_of(&tenant_base));
        let apex = Url::parse("https://example.com/").expect("apex");
        assert!(
            !sibling.may_receive_credentials_of(&apex),
            "a two-label base shares with nobody"
        );
        assert!(Url::parse("http://[::1]:5232/").is_some_and(|u| u.is_loopback()));
        assert!(Url::parse("http://127.evil.example/").is_some_and(|u| !u.is_loopback()));
        assert!(Url::parse("http://127.0.0.1:5232/").is_some_and(|u| u.is_loopback()));
    }

    #[test]
    fn hrefs_resolve_against_the_answering_url() {
        let base = Url::parse("https://dav.example.com/dav/calendars/").expect("url");
        assert_eq!(
            base.join("/dav/principals/me/")
                .map(|u| u.as_string())
                .as_deref(),
            Some("https://dav.example.com/dav/principals/me/")
        );
        assert_eq!(
            base.join("home/").map(|u| u.as_string()).as_deref(),
            Some("https://dav.example.com/dav/calendars/home/")
        );
        let other = base.join("https://p07-caldav.example.com/1/").expect("url");
        assert!(other.may_receive_credentials_of(&base));
        let evil = base.join("https://evil.test/x").expect("url");
        assert!(!evil.may_receive_credentials_of(&base));
        let plain = base.join("http://dav.example.com/x").expect("url");
        assert!(!plain.may_receive_credentials_of(&base));
    }

    #[test]
    fn base_urls_are_https_or_loopback() {
        assert!(check_base_url("http://127.0.0.1:5232/").is_ok());
        assert!(check_base_url("http://[::1]:5232/").is_ok());
        assert!(check_base_url("http://dav.example.com/").is_err());
        assert!(check_base_url("https://user:pw@dav.example.com/").is_err());
        assert!(check_base_url("ftp://dav.example.com/").is_err());
    }

    #[test]
    fn collections_compare_decoded() {
        assert!(same_collection("/a%40b/cal/", "/a@b/cal"));
        assert!(!same_collection("/a/cal/", "/a/other/"));
    }
}
