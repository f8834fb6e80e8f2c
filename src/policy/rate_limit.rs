//! Token buckets per session and tool.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::RateLimit;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// All buckets; one per (session, tool), created full on first use.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

impl RateLimiter {
    /// Takes one token; `Err(seconds)` says how long until one is available.
    pub fn take(&self, session: &str, tool: &str, limit: RateLimit) -> Result<(), u64> {
        self.take_at(session, tool, limit, Instant::now())
    }

    fn take_at(
        &self,
        session: &str,
        tool: &str,
        limit: RateLimit,
        now: Instant,
    ) -> Result<(), u64> {
        let capacity = f64::from(limit.burst.max(1));
        let per_second = f64::from(limit.per_minute.max(1)) / 60.0;
        let Ok(mut buckets) = self.buckets.lock() else {
            return Err(1);
        };
        let bucket = buckets
            .entry((session.to_owned(), tool.to_owned()))
            .or_insert(Bucket {
                tokens: capacity,
                updated: now,
            });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / per_second;
            Err(wait.ceil().max(1.0) as u64)
        }
    }

    /// Forgets a closed session's buckets.
    pub fn forget_session(&self, session: &str) {
        if let Ok(mut buckets) = self.buckets.lock() {
            buckets.retain(|(s, _), _| s != session);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill_at_the_configured_rate() {
        let limiter = RateLimiter::default();
        let limit = RateLimit {
            per_minute: 60,
            burst: 2,
        };
        let t0 = Instant::now();
        assert!(limiter.take_at("s", "t", limit, t0).is_ok());
        assert!(limiter.take_at("s", "t", limit, t0).is_ok());
        assert_eq!(limiter.take_at("s", "t", limit, t0), Err(1));
        assert!(limiter.take_at("s", "other", limit, t0).is_ok(), "per tool");
        assert!(limiter.take_at("s2", "t", limit, t0).is_ok(), "per session");
        assert!(limiter
            .take_at("s", "t", limit, t0 + Duration::from_secs(1))
            .is_ok());
        let slow = RateLimit {
            per_minute: 1,
            burst: 1,
        };
        assert!(limiter.take_at("x", "t", slow, t0).is_ok());
        assert_eq!(limiter.take_at("x", "t", slow, t0), Err(60));
        limiter.forget_session("x");
        assert!(limiter.take_at("x", "t", slow, t0).is_ok());
    }
}
