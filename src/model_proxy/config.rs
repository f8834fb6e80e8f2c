//! `[model]` in `config.toml`: which provider the proxy forwards to, where, and
//! how many tokens a group, and a task, may spend a day.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use hyper::http::uri::{Authority, Scheme, Uri};
use serde::{Deserialize, Serialize};

use super::budget::CapTable;
use super::error::ProxyError;

/// The model proxy's settings; every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// The provider whose endpoints are forwarded.
    pub provider: Provider,
    /// Where requests go: `https://...`, or `http://` to a loopback address (tests).
    pub upstream: String,
    /// Tokens (input, cache and output) each group may use per UTC day; 0 = unlimited.
    pub daily_token_budget: u64,
    /// Caps of named groups, instead of `daily_token_budget` (0 = unlimited).
    pub group_budgets: BTreeMap<String, u64>,
    /// Tokens each scheduled task may use per UTC day, within its group's; 0 = no own cap.
    pub task_daily_token_budget: u64,
    /// Caps of named tasks (by task id), instead of `task_daily_token_budget`.
    pub task_budgets: BTreeMap<String, u64>,
    /// Largest request body forwarded, in bytes; a larger one gets 413.
    pub max_request_bytes: u64,
    /// Longest wait for the provider's response headers, in seconds.
    pub upstream_timeout_secs: u64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            provider: Provider::Anthropic,
            upstream: DEFAULT_ANTHROPIC_UPSTREAM.to_owned(),
            daily_token_budget: 0,
            group_budgets: BTreeMap::new(),
            task_daily_token_budget: 0,
            task_budgets: BTreeMap::new(),
            max_request_bytes: 32 * 1024 * 1024,
            upstream_timeout_secs: 600,
        }
    }
}

/// The provider's public API.
pub const DEFAULT_ANTHROPIC_UPSTREAM: &str = "https://api.anthropic.com";

/// A model provider the proxy knows the endpoints and auth of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Anthropic's Messages API.
    #[default]
    Anthropic,
}

/// A checked upstream base: scheme, authority and an optional path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamBase {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Host and port.
    pub authority: Authority,
    /// A path prefix without a trailing `/` (usually empty).
    pub prefix: String,
}

impl UpstreamBase {
    /// The upstream URI for a request's `path_and_query`.
    pub fn uri_for(&self, path_and_query: &str) -> Result<Uri, ProxyError> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(format!("{}{}", self.prefix, path_and_query))
            .build()
            .map_err(|e| ProxyError::Config(format!("cannot build the upstream URI: {e}")))
    }
}

/// `upstream` as a message may show it: a `user:password@` part becomes `…@`.
fn shown_upstream(upstream: &str) -> String {
    let (scheme, rest) = match upstream.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), upstream),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}…@{}", &rest[at + 1..]),
        None => upstream.to_owned(),
    }
}

impl ModelConfig {
    /// The daily caps, as the ledger checks them.
    pub fn caps(&self) -> CapTable<'_> {
        CapTable {
            group_default: self.daily_token_budget,
            groups: &self.group_budgets,
            task_default: self.task_daily_token_budget,
            tasks: &self.task_budgets,
        }
    }

    /// [`ModelConfig::upstream_timeout_secs`] as a duration (at least one second).
    pub fn upstream_timeout(&self) -> Duration {
        Duration::from_secs(self.upstream_timeout_secs.max(1))
    }

    /// Checks `upstream`: https anywhere, plain http only to a loopback address.
    pub fn upstream_base(&self) -> Result<UpstreamBase, ProxyError> {
        // The value is shown without any user name or password it may carry.
        let shown = shown_upstream(&self.upstream);
        let bad = |why: &str| ProxyError::Config(format!("model.upstream `{shown}` {why}"));
        let uri: Uri = self.upstream.parse().map_err(|_| bad("is not a URL"))?;
        let scheme = uri.scheme().cloned().ok_or_else(|| bad("has no scheme"))?;
        let authority = uri.authority().cloned().ok_or_else(|| bad("has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("must not carry a user name or password"));
        }
        if uri.query().is_some() {
            return Err(bad("must not have a query string"));
        }
        if scheme == Scheme::HTTP {
            if !is_loopback_host(authority.host()) {
                return Err(bad(
                    "uses plain http to a non-loopback host; use https (http is for local tests)",
                ));
            }
        } else if scheme != Scheme::HTTPS {
            return Err(bad("must use https"));
        }
        let prefix = uri.path().trim_end_matches('/').to_owned();
        Ok(UpstreamBase {
            scheme,
            authority,
            prefix,
        })
    }
}

fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upstream_with_a_password_is_refused_without_showing_it() {
        let password = format!("pw{}", std::process::id());
        let config = ModelConfig {
            upstream: format!("https://user:{password}@api.example.com/v1"),
            ..ModelConfig::default()
        };
        let Err(error) = config.upstream_base() else {
            panic!("an upstream with a password is refused");
        };
        let error = error.to_string();
        assert!(
            error.contains("must not carry a user name or password"),
            "{error}"
        );
        assert!(!error.contains(&password), "{error}");
        assert!(error.contains("https://…@api.example.com/v1"), "{error}");
    }

    fn with_upstream(upstream: &str) -> ModelConfig {
        ModelConfig {
            upstream: upstream.to_owned(),
            ..ModelConfig::default()
        }
    }

    #[test]
    fn defaults_parse_from_an_empty_table() {
        let parsed: ModelConfig = toml::from_str("").expect("empty");
        assert_eq!(parsed, ModelConfig::default());
        let base = parsed.upstream_base().expect("default upstream");
        assert_eq!(base.authority.as_str(), "api.anthropic.com");
        assert_eq!(
            base.uri_for("/v1/messages?beta=true")
                .expect("uri")
                .to_string(),
            "https://api.anthropic.com/v1/messages?beta=true"
        );
        assert!(toml::from_str::<ModelConfig>("nope = 1").is_err());
        assert!(toml::from_str::<ModelConfig>("provider = \"other\"").is_err());
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for good in [
            "http://127.0.0.1:8080",
            "http://127.3.4.5",
            "http://localhost:1",
            "http://[::1]:9",
            "https://gateway.example/anthropic/",
        ] {
            assert!(with_upstream(good).upstream_base().is_ok(), "{good}");
        }
        for bad in [
            "http://10.0.0.1",
            "http://api.anthropic.com",
            "ftp://127.0.0.1",
            "api.anthropic.com",
            "https://user:pw@api.anthropic.com",
            "https://api.anthropic.com/?x=1",
        ] {
            assert!(with_upstream(bad).upstream_base().is_err(), "{bad}");
        }
        let base = with_upstream("https://gw.example/anthropic/")
            .upstream_base()
            .expect("prefix");
        assert_eq!(
            base.uri_for("/v1/models").expect("uri").to_string(),
            "https://gw.example/anthropic/v1/models"
        );
    }
}
