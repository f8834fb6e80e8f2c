//! When to try a Bot API call again, and after how long: pure, so that the rules are
//! tested without a server.
//!
//! A 429 is retried after exactly its `retry_after` unless that is longer than the
//! configured bound (then the call is given up, not held for minutes); network
//! failures and 5xx after an exponential backoff; anything else (400, 401, 403, ...)
//! never, since the same request would fail the same way. A timed-out send may have
//! reached Telegram: retrying it can show a message twice, which beats losing it.

use std::time::Duration;

use super::reply::ApiError;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Wait this long, then try again.
    Retry(Duration),
    /// Stop and report the error.
    GiveUp,
}

/// The bounds of retrying one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Longest `retry_after` honoured.
    pub max_wait: Duration,
    /// First backoff after a network failure; doubled each time.
    pub base_backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// Five attempts, `retry_after` up to `max_wait`, backoff 0.5 s doubling to 8 s.
    pub fn new(max_wait: Duration) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            max_wait,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
        }
    }

    /// What to do after `attempts` attempts (at least 1) ended with `error`.
    pub fn after(&self, attempts: u32, error: &ApiError) -> Next {
        if attempts >= self.max_attempts {
            return Next::GiveUp;
        }
        match error {
            ApiError::RateLimited { retry_after } if *retry_after <= self.max_wait => {
                Next::Retry(*retry_after)
            }
            ApiError::Transport(_) | ApiError::Server { .. } => {
                Next::Retry(backoff(self.base_backoff, self.max_backoff, attempts))
            }
            ApiError::RateLimited { .. }
            | ApiError::BadRequest { .. }
            | ApiError::Refused { .. }
            | ApiError::Malformed { .. } => Next::GiveUp,
        }
    }
}

/// `base * 2^(attempt - 1)`, at most `max`.
pub fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(20);
    base.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::transport::TransportError;

    #[test]
    fn each_error_has_its_rule() {
        let policy = RetryPolicy::new(Duration::from_secs(60));
        let limited = |secs| ApiError::RateLimited {
            retry_after: Duration::from_secs(secs),
        };
        assert_eq!(
            policy.after(1, &limited(3)),
            Next::Retry(Duration::from_secs(3))
        );
        assert_eq!(policy.after(1, &limited(61)), Next::GiveUp, "bounded wait");
        let network = ApiError::Transport(TransportError::Connect);
        assert_eq!(
            policy.after(1, &network),
            Next::Retry(Duration::from_millis(500))
        );
        assert_eq!(
            policy.after(3, &network),
            Next::Retry(Duration::from_secs(2))
        );
        assert_eq!(policy.after(5, &network), Next::GiveUp, "bounded attempts");
        assert_eq!(
            policy.after(2, &ApiError::Server { status: 502 }),
            Next::Retry(Duration::from_secs(1))
        );
        for never in [
            ApiError::BadRequest {
                description: String::new(),
            },
            ApiError::Refused {
                status: 403,
                description: String::new(),
            },
            ApiError::Malformed { status: 200 },
        ] {
            assert_eq!(policy.after(1, &never), Next::GiveUp, "{never:?}");
        }
        assert_eq!(
            backoff(Duration::from_secs(1), Duration::from_secs(30), 40),
            Duration::from_secs(30)
        );
    }
}
