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
        if authority.is_empty() || authority.contains('@') || !authority.is_ascii() {
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

    /// Whether the host is a loopback name or address.
    pub fn is_loopback(&self) -> bool {
        let host = self.host();
        host == "localhost" || host == "::1" || host.starts_with("127.")
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
    /// origin, or https on a host of the same site (the last two labels: iCloud's
    /// `caldav.icloud.com` sends calendars on `p07-caldav.icloud.com`).
    pub fn may_receive_credentials_of(&self, base: &Url) -> bool {
        if self.scheme == base.scheme && self.authority == base.authority {
            return true;
        }
        if self.scheme != "https" {
            return false;
        }
        let site = |host: &str| {
            let labels: Vec<&str> = host.rsplit('.').take(2).collect();
            (labels.len() == 2 && labels.iter().all(|l| !l.is_empty()))
                .then(|| format!("{}.{}", labels[1], labels[0]))
        };
        matches!((site(self.host()), site(base.host())), (Some(a), Some(b)) if a == b)
            && self.host().parse::<std::net::IpAddr>().is_err()
    }
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
