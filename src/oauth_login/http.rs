//! The HTTP client the OAuth2 flows use: ureq, redirects never followed (a
//! provider's redirect could point the code or the token elsewhere), error
//! statuses handed back as answers (the flows read the provider's error
//! body), bodies capped.

use std::time::Duration;

use oauth2::{HttpRequest, HttpResponse};

/// Largest answer read from a provider.
const MAX_BODY_BYTES: u64 = 1024 * 1024;

/// Why a request to the provider failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// A client for `oauth2`'s synchronous requests.
pub fn client() -> impl Fn(HttpRequest) -> Result<HttpResponse, HttpError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    move |request: HttpRequest| {
        let mut response = agent
            .run(request)
            .map_err(|e| HttpError(format!("the provider could not be reached: {e}")))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec()
            .map_err(|e| HttpError(format!("the provider's answer could not be read: {e}")))?;
        let mut answer = HttpResponse::new(body);
        *answer.status_mut() = status;
        *answer.headers_mut() = headers;
        Ok(answer)
    }
}
