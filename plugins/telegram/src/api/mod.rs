//! The Bot API client: one method call with its retries, over a [`Transport`].
//!
//! Polling and typing call [`BotApi::once`] (their loops pace themselves); sends call
//! [`BotApi::call`], which follows [`RetryPolicy`]. Must never put the request URL
//! (it holds the token) in an error: errors are [`ApiError`] values built from the
//! status and the server's description only.

pub mod multipart;
pub mod reply;
pub mod retry;
pub mod transport;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

pub use reply::ApiError;
pub use retry::{Next, RetryPolicy};
pub use transport::{Body, HttpReply, Transport, TransportError, UreqTransport};

/// Deadline of one ordinary call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Added to a long poll's own timeout for its HTTP deadline.
pub const POLL_MARGIN: Duration = Duration::from_secs(15);
/// Most updates one `getUpdates` answers.
pub const UPDATES_PER_POLL: u32 = 100;

/// How a retry waits (a test may record instead of sleeping).
pub type Sleep = Arc<dyn Fn(Duration) + Send + Sync>;

/// A Bot API client; cheap to clone.
#[derive(Clone)]
pub struct BotApi {
    transport: Arc<dyn Transport>,
    policy: RetryPolicy,
    sleep: Sleep,
}

impl BotApi {
    /// A client on `transport` retrying by `policy`.
    pub fn new(transport: Arc<dyn Transport>, policy: RetryPolicy) -> BotApi {
        BotApi {
            transport,
            policy,
            sleep: Arc::new(std::thread::sleep),
        }
    }

    /// The same client waiting with `sleep` between attempts.
    pub fn with_sleep(mut self, sleep: Sleep) -> BotApi {
        self.sleep = sleep;
        self
    }

    /// One attempt: posts `body` to `method` within `timeout`.
    pub fn once(&self, method: &str, body: &Body, timeout: Duration) -> Result<Value, ApiError> {
        let reply = self.transport.post(method, body, timeout)?;
        reply::read(&reply)
    }

    /// Calls `method` with JSON `params`, retrying by the policy.
    pub fn call(&self, method: &str, params: &Value) -> Result<Value, ApiError> {
        self.call_body(method, &Body::Json(params.to_string().into_bytes()))
    }

    /// Posts `body` to `method`, retrying by the policy.
    pub fn call_body(&self, method: &str, body: &Body) -> Result<Value, ApiError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let error = match self.once(method, body, CALL_TIMEOUT) {
                Ok(result) => return Ok(result),
                Err(error) => error,
            };
            match self.policy.after(attempts, &error) {
                Next::Retry(wait) => (self.sleep)(wait),
                Next::GiveUp => return Err(error),
            }
        }
    }

    /// One long poll: the updates from `offset` on, waiting up to `wait` for the first.
    pub fn get_updates(&self, offset: i64, wait: Duration) -> Result<Vec<Value>, ApiError> {
        let params = json!({
            "offset": offset,
            "timeout": wait.as_secs(),
            "limit": UPDATES_PER_POLL,
            "allowed_updates": ["message", "callback_query"],
        });
        let body = Body::Json(params.to_string().into_bytes());
        match self.once("getUpdates", &body, wait + POLL_MARGIN)? {
            Value::Array(updates) => Ok(updates),
            _ => Err(ApiError::Malformed { status: 200 }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Answers from a script, records the methods and the waits.
    struct Scripted {
        answers: Mutex<Vec<Result<HttpReply, TransportError>>>,
        methods: Mutex<Vec<String>>,
    }

    impl Transport for Scripted {
        fn post(&self, method: &str, _: &Body, _: Duration) -> Result<HttpReply, TransportError> {
            self.methods.lock().expect("lock").push(method.to_owned());
            self.answers.lock().expect("lock").remove(0)
        }
    }

    fn http(status: u16, body: Value) -> Result<HttpReply, TransportError> {
        Ok(HttpReply {
            status,
            body: body.to_string().into_bytes(),
        })
    }

    #[test]
    fn a_call_retries_by_the_policy_and_waits_what_the_server_asks() {
        let transport = Arc::new(Scripted {
            answers: Mutex::new(vec![
                Err(TransportError::Connect),
                http(
                    429,
                    json!({"ok": false, "error_code": 429, "parameters": {"retry_after": 3}}),
                ),
                http(200, json!({"ok": true, "result": {"message_id": 9}})),
            ]),
            methods: Mutex::new(Vec::new()),
        });
        let waited = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&waited);
        let api = BotApi::new(transport.clone(), RetryPolicy::new(Duration::from_secs(60)))
            .with_sleep(Arc::new(move |d| record.lock().expect("lock").push(d)));
        assert_eq!(
            api.call("sendMessage", &json!({})),
            Ok(json!({"message_id": 9}))
        );
        assert_eq!(
            *waited.lock().expect("lock"),
            vec![Duration::from_millis(500), Duration::from_secs(3)]
        );
        assert_eq!(transport.methods.lock().expect("lock").len(), 3);
    }

    #[test]
    fn a_bad_request_is_not_retried() {
        let transport = Arc::new(Scripted {
            answers: Mutex::new(vec![http(
                400,
                json!({"ok": false, "error_code": 400, "description": "Bad Request"}),
            )]),
            methods: Mutex::new(Vec::new()),
        });
        let api = BotApi::new(transport.clone(), RetryPolicy::new(Duration::from_secs(60)))
            .with_sleep(Arc::new(|_| panic!("no wait")));
        assert!(matches!(
            api.call("sendMessage", &json!({})),
            Err(ApiError::BadRequest { .. })
        ));
    }
}
