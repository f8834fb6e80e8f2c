//! Which requests may reach the provider: exact method and path, nothing else.
//!
//! The path is compared byte for byte, so `/v1/messages/../x`, `//v1/messages`
//! or a percent-encoded variant never match. The query string is not part of
//! the match and is forwarded as sent (Claude Code uses `?beta=true`).

use hyper::Method;

use super::config::Provider;

/// What an allowed endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// A generation request; its response carries usage.
    Messages,
    /// Token counting; no usage is spent.
    CountTokens,
    /// The model list.
    Models,
}

impl Endpoint {
    /// Whether the response is read for usage and the budget applies.
    pub fn is_metered(self) -> bool {
        self == Endpoint::Messages
    }
}

/// The endpoint `method path` names for `provider`, or `None` if it is not allowed.
pub fn allowed(provider: Provider, method: &Method, path: &str) -> Option<Endpoint> {
    match provider {
        Provider::Anthropic => match (method, path) {
            (&Method::POST, "/v1/messages") => Some(Endpoint::Messages),
            (&Method::POST, "/v1/messages/count_tokens") => Some(Endpoint::CountTokens),
            (&Method::GET, "/v1/models") => Some(Endpoint::Models),
            _ => None,
        },
    }
}

/// A request path as a message may show it: at most 120 printable characters.
pub fn shown_path(path: &str) -> String {
    let mut shown: String = path.chars().filter(|c| !c.is_control()).take(120).collect();
    if path.chars().count() > 120 {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_endpoints() {
        let a = Provider::Anthropic;
        assert_eq!(
            allowed(a, &Method::POST, "/v1/messages"),
            Some(Endpoint::Messages)
        );
        assert!(allowed(a, &Method::POST, "/v1/messages/count_tokens").is_some());
        assert!(allowed(a, &Method::GET, "/v1/models").is_some());
        for (method, path) in [
            (Method::GET, "/v1/messages"),
            (Method::POST, "/v1/complete"),
            (Method::POST, "/v1/messages/"),
            (Method::POST, "/v1/messages/../../x"),
            (Method::POST, "//v1/messages"),
            (Method::POST, "/v1/%6dessages"),
            (Method::GET, "/v1/models/claude"),
            (Method::DELETE, "/v1/models"),
            (Method::GET, "/admin"),
        ] {
            assert!(allowed(a, &method, path).is_none(), "{method} {path}");
        }
    }
}
