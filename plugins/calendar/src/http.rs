//! HTTP to the CalDAV server: one pooled ureq agent (rustls), the credentials as one
//! header value, WebDAV methods, answers read up to a cap.
//!
//! Must never: follow a redirect by itself (discovery decides, per RFC 6764), send the
//! credentials to a URL outside the configured server's site, or put the header
//! value in an error, a log line or a `Debug` output.

use std::fmt;
use std::time::Duration;

use std::sync::Arc;

use base64::Engine;

use crate::error::CalError;
use crate::href::Url;
use crate::oauth::TokenSource;

/// Largest answer read (a year of a busy calendar is a few MiB).
pub const MAX_ANSWER_BYTES: u64 = 32 << 20;

/// Where the `Authorization` header comes from; `Debug` shows neither value.
#[derive(Clone)]
pub enum Credentials {
    /// A fixed header value (Basic, or a bearer token as stored).
    Header(String),
    /// A bearer token refreshed from an OAuth2 refresh token.
    OAuth(Arc<TokenSource>),
}

impl Credentials {
    /// HTTP Basic (RFC 7617) for `username` and `password`.
    pub fn basic(username: &str, password: &str) -> Credentials {
        let pair = format!("{username}:{password}");
        Credentials::Header(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ))
    }

    /// A bearer access token as stored (RFC 6750).
    pub fn bearer(token: &str) -> Credentials {
        Credentials::Header(format!("Bearer {token}"))
    }

    /// The header value for the next request.
    fn header(&self) -> Result<String, CalError> {
        match self {
            Credentials::Header(value) => Ok(value.clone()),
            Credentials::OAuth(source) => Ok(format!("Bearer {}", source.access_token()?)),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The body, at most [`MAX_ANSWER_BYTES`].
    pub body: Vec<u8>,
    /// The `ETag` header.
    pub etag: Option<String>,
    /// The `Location` header (redirects).
    pub location: Option<String>,
}

/// A client for one CalDAV account.
pub struct Dav {
    agent: ureq::Agent,
    base: Url,
    credentials: Credentials,
}

impl fmt::Debug for Dav {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dav")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Dav {
    /// A client for `base`, trusting `ca_pem` (PEM certificates) instead of the public
    /// roots when given.
    pub fn new(
        base: Url,
        credentials: Credentials,
        timeout: Duration,
        ca_pem: Option<&[u8]>,
    ) -> Result<Dav, CalError> {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(pem) = ca_pem {
            let mut certs = Vec::new();
            for item in ureq::tls::parse_pem(pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(cert)) => certs.push(cert),
                    Ok(_) => {}
                    Err(_) => return Err(CalError::Config("ca_file is not valid PEM".into())),
                }
            }
            if certs.is_empty() {
                return Err(CalError::Config("ca_file holds no certificate".into()));
            }
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .allow_non_standard_methods(true)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(10))))
            .user_agent("carapace-plugin-calendar")
            .tls_config(tls.build())
            .build();
        Ok(Dav {
            agent: config.into(),
            base,
            credentials,
        })
    }

    /// The configured base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Sends `method` to `url` with `headers` and `body`; any status is an answer but
    /// 401 ([`CalError::Auth`]). A refreshed OAuth2 token refused once is refreshed
    /// again and the request sent once more.
    pub fn send(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Reply, CalError> {
        match (
            self.send_once(method, url, headers, body),
            &self.credentials,
        ) {
            (Err(CalError::Auth(_)), Credentials::OAuth(source)) => {
                source.invalidate();
                self.send_once(method, url, headers, body)
            }
            (answer, _) => answer,
        }
    }

    fn send_once(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Reply, CalError> {
        if !url.may_receive_credentials_of(&self.base) {
            return Err(CalError::Malformed(format!(
                "the server pointed to {} (another site); not followed",
                url.authority
            )));
        }
        let method = ureq::http::Method::from_bytes(method.as_bytes())
            .map_err(|_| CalError::Config("bad HTTP method".into()))?;
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(url.as_string())
            .header("authorization", self.credentials.header()?);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(body.to_vec())
            .map_err(|_| CalError::Malformed("an href is not a valid URL".into()))?;
        let mut response = self.agent.run(request).map_err(transport)?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header("etag");
        let location = header("location");
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => CalError::TooLarge(MAX_ANSWER_BYTES),
                other => transport(other),
            })?;
        if status == 401 {
            return Err(CalError::Auth(status));
        }
        Ok(Reply {
            status,
            body,
            etag,
            location,
        })
    }
}

/// A ureq error without what it carries (a URL may hold a path the agent need not see).
fn transport(error: ureq::Error) -> CalError {
    match error {
        ureq::Error::Timeout(_) => CalError::Timeout,
        ureq::Error::HostNotFound => CalError::Unreachable("host not found".into()),
        ureq::Error::ConnectionFailed => CalError::Unreachable("connection failed".into()),
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => CalError::Timeout,
        // rustls reports a refused certificate or handshake as invalid data on the stream.
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            CalError::Tls("certificate or handshake refused".into())
        }
        ureq::Error::Io(e) => CalError::Unreachable(format!("{:?}", e.kind())),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => {
            CalError::Tls("certificate or handshake refused".into())
        }
        ureq::Error::Protocol(_) => CalError::Malformed("not a valid HTTP answer".into()),
        _ => CalError::Malformed("the HTTP exchange failed".into()),
    }
}
