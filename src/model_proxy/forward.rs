//! One request: check it, swap the credential, send it upstream, and stream
//! the answer back while its usage is read.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT_ENCODING, AUTHORIZATION, CONNECTION, CONTENT_LENGTH,
    CONTENT_TYPE, HOST, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING,
    UPGRADE,
};
use hyper::{Request, Response};

use super::budget::Exhausted;
use super::credentials::{CredentialLookupError, X_API_KEY};
use super::meter::{MeteredBody, UsageParser};
use super::respond::{refuse, ProxyBody, Refusal};
use super::routes::{self, Endpoint};
use super::usage::{Reservation, SessionIdentity, TokenUsage};
use super::Shared;

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
];

/// Handles one request from the container.
pub async fn handle(
    shared: Arc<Shared>,
    session: Arc<SessionIdentity>,
    request: Request<Incoming>,
) -> Response<ProxyBody> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = forward(&shared, &session, request).await;
    tracing::debug!(
        session = %session.session_id,
        %method,
        path = %routes::shown_path(&path),
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "model proxy request"
    );
    response
}

async fn forward(
    shared: &Shared,
    session: &SessionIdentity,
    request: Request<Incoming>,
) -> Response<ProxyBody> {
    let Some(endpoint) = routes::allowed(shared.provider, request.method(), request.uri().path())
    else {
        return refuse(
            Refusal::Forbidden,
            &format!(
                "{} {} is not an endpoint this session may use",
                request.method(),
                routes::shown_path(request.uri().path())
            ),
        );
    };
    let (parts, body) = request.into_parts();
    let body = match read_body(body, &parts.headers, shared.max_request_bytes).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    // Tokens are held for the request before it is forwarded, so that requests
    // in flight together cannot overshoot the budget before any is settled.
    let estimate = if endpoint.is_metered() {
        match estimate_tokens(&body) {
            Some(estimate) => estimate,
            None => {
                return refuse(
                    Refusal::BadRequest,
                    "the request body must be a JSON object with at most one `max_tokens`, \
                     a whole number up to 2^32; the proxy meters each request by it",
                )
            }
        }
    } else {
        0
    };
    let caps = shared
        .config
        .caps()
        .caps(&session.group, session.task.as_deref());
    let reservation = if endpoint.is_metered() && caps.any() {
        match Reservation::take(&shared.ledger, session, estimate, caps) {
            Ok(reservation) => Some(reservation),
            Err(exhausted) => return budget_spent(shared, exhausted),
        }
    } else {
        None
    };
    let auth = match shared.credentials.model_credential().map(|a| a.header()) {
        Ok(Some(header)) => header,
        Ok(None) => {
            tracing::error!("the stored model credential is not a valid header value");
            return refuse(
                Refusal::NoCredential,
                "the model credential stored on the host is unusable; see the core's log",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "no usable model credential");
            // The container is told what to do, never a host path.
            let shown = match e {
                CredentialLookupError::Missing => e.to_string(),
                CredentialLookupError::Unusable { .. } => {
                    "the model credential stored on the host is unusable; see the core's log"
                        .to_owned()
                }
            };
            return refuse(Refusal::NoCredential, &shown);
        }
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let uri = match shared.upstream.uri_for(path_and_query) {
        Ok(uri) => uri,
        Err(e) => return refuse(Refusal::Forbidden, &e.to_string()),
    };
    let mut upstream = Request::new(Full::new(body));
    *upstream.method_mut() = parts.method;
    *upstream.uri_mut() = uri;
    let headers = upstream.headers_mut();
    *headers = parts.headers;
    strip_hop_by_hop(headers);
    for name in [
        HOST,
        CONTENT_LENGTH,
        X_API_KEY,
        AUTHORIZATION,
        ACCEPT_ENCODING,
    ] {
        headers.remove(name);
    }
    if let Ok(host) = HeaderValue::from_str(shared.upstream.authority.as_str()) {
        headers.insert(HOST, host);
    }
    headers.insert(auth.0, auth.1);
    if tracing::enabled!(tracing::Level::TRACE) {
        tracing::trace!(headers = ?redacted(upstream.headers()), "upstream request");
    }

    let sent = tokio::time::timeout(shared.timeout, shared.client.request(upstream)).await;
    let response = match sent {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "model provider unreachable");
            // Not connected: the provider never saw it. Otherwise it may
            // have run the request, and the tokens held for it are charged.
            if !e.is_connect() {
                charge_held(shared, session, reservation, "the connection broke");
            }
            return refuse(Refusal::Upstream, "the model provider could not be reached");
        }
        Err(_) => {
            charge_held(shared, session, reservation, "no answer in time");
            return refuse(
                Refusal::UpstreamTimeout,
                "the model provider did not answer in time (model.upstream_timeout_secs)",
            );
        }
    };
    relay_response(shared, session, endpoint, response, reservation)
}

/// Charges the tokens held for a request that was sent but whose answer never
/// came: the provider may have run it, and an agent must not get a way past
/// its cap by making answers time out.
fn charge_held(shared: &Shared, session: &SessionIdentity, held: Option<Reservation>, why: &str) {
    let Some(held) = held else {
        return;
    };
    tracing::warn!(
        session = %session.session_id,
        group = %session.group,
        held = held.tokens(),
        why,
        "model request sent without an answer; charging the tokens held for it"
    );
    let usage = TokenUsage {
        output_tokens: held.tokens(),
        ..TokenUsage::default()
    };
    shared.ledger.record(session, &usage);
    // Recorded, then released: the tokens always count.
    drop(held);
}

/// Largest `max_tokens` a request may name (no model answers with more).
const MAX_MAX_TOKENS: u64 = 1 << 32;

/// Output tokens a request may cost when it names none (the Messages API requires `max_tokens`).
const DEFAULT_MAX_TOKENS: u64 = 4096;

/// What a Messages request may cost at most, roughly: its `max_tokens` plus its
/// input at four bytes a token. Held only until the answer's usage is known.
/// `None` when the body is not a JSON object with at most one whole-number
/// `max_tokens`: a duplicated key (the provider may read the other one) or a
/// value the proxy cannot read would make the estimate a guess an agent picks.
fn estimate_tokens(body: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Request {
        max_tokens: Option<u64>,
    }
    if body.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    let max_tokens = serde_json::from_slice::<Request>(body)
        .ok()?
        .max_tokens
        .unwrap_or(DEFAULT_MAX_TOKENS);
    // No model answers with more; a larger number is a request to be refused.
    if max_tokens > MAX_MAX_TOKENS {
        return None;
    }
    Some(max_tokens.saturating_add(body.len() as u64 / 4).max(1))
}

/// 429: a group's or a task's daily cap is used up, or held by requests in
/// flight. The first refusal at a cap is also told to the core's alerts.
fn budget_spent(shared: &Shared, exhausted: Exhausted) -> Response<ProxyBody> {
    let held = if exhausted.reserved > 0 {
        format!(", and {} held by requests in flight", exhausted.reserved)
    } else {
        String::new()
    };
    let message = format!(
        "the daily token budget of {} is spent ({} of {} tokens used today, UTC{held}); \
         it resets at midnight UTC, or the person may allow more today",
        exhausted.scope, exhausted.used, exhausted.cap
    );
    if exhausted.first {
        if let Some(alerts) = &shared.alerts {
            // Never waits: a full channel delays the alert (the next refusal
            // at this cap tries again), never the refusal.
            if let Err(lost) = alerts.try_send(exhausted) {
                shared.ledger.alert_lost(&lost.into_inner());
            }
        }
    }
    refuse(Refusal::BudgetSpent, &message)
}

/// Reads the whole request body, refusing one over `limit` bytes with 413.
async fn read_body(
    body: Incoming,
    headers: &HeaderMap,
    limit: u64,
) -> Result<Bytes, Response<ProxyBody>> {
    let too_large = || {
        refuse(
            Refusal::TooLarge,
            &format!("the request body is over {limit} bytes (model.max_request_bytes)"),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(refuse(
            Refusal::BadRequest,
            "the request body could not be read",
        )),
    }
}

/// Passes the provider's response back, metering a successful Messages answer.
fn relay_response(
    shared: &Shared,
    session: &SessionIdentity,
    endpoint: Endpoint,
    response: Response<Incoming>,
    reservation: Option<Reservation>,
) -> Response<ProxyBody> {
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    // A successful Messages answer is always metered: one whose usage cannot
    // be read is charged the tokens held for it.
    let parser = (parts.status.is_success() && endpoint.is_metered()).then(|| {
        parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(UsageParser::for_content_type)
            .unwrap_or(UsageParser::Unreadable)
    });
    let body = match parser {
        Some(parser) => MeteredBody::new(body, parser, Arc::clone(&shared.ledger), session.clone())
            .holding(reservation)
            .boxed(),
        // Nothing to settle: the reservation is given back now.
        None => body.boxed(),
    };
    Response::from_parts(parts, body)
}

/// Removes hop-by-hop headers, including those the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named.into_iter().chain(HOP_BY_HOP) {
        headers.remove(name);
    }
    headers.remove(UPGRADE);
}

/// The headers as a debug log may show them: credentials replaced.
pub fn redacted(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let shown = if value.is_sensitive()
                || [AUTHORIZATION, X_API_KEY, PROXY_AUTHORIZATION].contains(name)
                || name.as_str().contains("cookie")
            {
                "<redacted>".to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), shown)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_named_headers_go() {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive, x-secret"));
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        strip_hop_by_hop(&mut headers);
        let left: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["anthropic-version"]);
    }

    #[test]
    fn redaction_hides_credentials() {
        let mut headers = HeaderMap::new();
        headers.insert(X_API_KEY, HeaderValue::from_static("sk-real"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer tok"));
        headers.insert("anthropic-beta", HeaderValue::from_static("x"));
        let shown = format!("{:?}", redacted(&headers));
        assert!(
            !shown.contains("sk-real") && !shown.contains("tok\""),
            "{shown}"
        );
        assert!(shown.contains("anthropic-beta"));
    }
}
