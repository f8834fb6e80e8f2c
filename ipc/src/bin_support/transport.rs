//! One request/response exchange with the core over a ZeroMQ DEALER socket.
//!
//! zeromq 0.7's `connect` retries a missing or refusing socket for its
//! `connect_timeout` (30 s by default) and includes the ZMTP handshake in it.
//! So the socket file is checked first (a missing file fails at once), the
//! connect timeout is short ([`CONNECT_TIMEOUT`]) to catch a stale file nobody
//! listens on, and the whole exchange is bounded by the caller's deadline.
//! A DEALER does not reconnect: when the core drops the connection, `recv`
//! would wait forever, so the socket monitor's `Disconnected` event ends the
//! wait instead.

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::time::Duration;

use carapace_ipc::{ErrorBody, ErrorCode, ResponseEnvelope};
use futures::StreamExt;
use tokio::time::Instant;
use zeromq::{
    DealerSocket, Socket, SocketEvent, SocketOptions, SocketRecv, SocketSend, ZmqError, ZmqMessage,
};

/// Longest wait for the connection and the ZMTP handshake with the core.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);

/// Sends `request` to the core at `socket_path` and waits until `deadline` for
/// the response whose correlation is `correlation`.
pub async fn exchange(
    socket_path: &str,
    request: Vec<u8>,
    correlation: &str,
    deadline: Instant,
) -> Result<ResponseEnvelope, ErrorBody> {
    check_socket_file(socket_path)?;
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(timed_out());
    }
    let connect_timeout = remaining.min(CONNECT_TIMEOUT);
    let mut options = SocketOptions::default();
    options.connect_timeout(connect_timeout);
    let mut socket = DealerSocket::with_options(options);
    // Created first so that a disconnect right after the handshake is seen too.
    let mut monitor = socket.monitor();
    socket
        .connect(&format!("ipc://{socket_path}"))
        .await
        .map_err(|e| connect_error(socket_path, &e))?;

    let wait = async {
        socket
            .send(ZmqMessage::from(request))
            .await
            .map_err(|e| lost(socket_path, &format!("sending failed: {e}")))?;
        loop {
            tokio::select! {
                received = socket.recv() => {
                    let message = received
                        .map_err(|e| lost(socket_path, &format!("receiving failed: {e}")))?;
                    if let Some(envelope) = accept(message, correlation)? {
                        return Ok(envelope);
                    }
                }
                event = monitor.next() => match event {
                    Some(SocketEvent::Disconnected(_)) | None => {
                        return Err(lost(socket_path, "the core closed the connection before answering"));
                    }
                    Some(_) => {}
                },
            }
        }
    };
    match tokio::time::timeout_at(deadline, wait).await {
        Ok(result) => result,
        Err(_) => Err(timed_out()),
    }
}

fn timed_out() -> ErrorBody {
    ErrorBody::new(
        ErrorCode::Timeout,
        "no answer from the core before the timeout (CARAPACE_IPC_TIMEOUT)",
    )
}

/// Fails at once when there is nothing at the path that could be the core's socket.
fn check_socket_file(socket_path: &str) -> Result<(), ErrorBody> {
    match std::fs::metadata(Path::new(socket_path)) {
        Ok(meta) if meta.file_type().is_socket() => Ok(()),
        Ok(_) => Err(connection_failed(socket_path, "it is not a socket")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(connection_failed(socket_path, "no socket exists there"))
        }
        Err(e) => Err(connection_failed(socket_path, &e.to_string())),
    }
}

fn connect_error(socket_path: &str, error: &ZmqError) -> ErrorBody {
    match error {
        ZmqError::ConnectTimeout(after) => connection_failed(
            socket_path,
            &format!(
                "nobody answered within {} ms (is the session running?)",
                after.as_millis()
            ),
        ),
        other => connection_failed(socket_path, &other.to_string()),
    }
}

fn connection_failed(socket_path: &str, why: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::ConnectionFailed,
        format!("cannot reach the core at {socket_path}: {why}"),
    )
}

fn lost(socket_path: &str, why: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::ConnectionFailed,
        format!("connection to the core at {socket_path} lost: {why}"),
    )
}

/// Reads one received message: `Ok(None)` for an answer to another request.
///
/// Empty frames before the body (a REQ-style delimiter) are skipped. A response
/// with an empty correlation is the core saying it could not read the request;
/// as this connection carries only this one request, it is taken as the answer.
pub fn accept(
    message: ZmqMessage,
    correlation: &str,
) -> Result<Option<ResponseEnvelope>, ErrorBody> {
    let mut frames = message.into_vec().into_iter().skip_while(|f| f.is_empty());
    let (Some(body), None) = (frames.next(), frames.next()) else {
        return Err(malformed("it is not exactly one non-empty frame"));
    };
    let envelope: ResponseEnvelope = serde_json::from_slice(&body).map_err(|e| {
        malformed(&format!(
            "it is not a response envelope (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    if envelope.correlation == correlation
        || (envelope.correlation.is_empty() && envelope.payload.error.is_some())
    {
        Ok(Some(envelope))
    } else {
        Ok(None)
    }
}

fn malformed(why: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::MalformedMessage,
        format!("the core's response could not be read: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> ZmqMessage {
        ZmqMessage::from(text.to_owned())
    }

    fn envelope(correlation: &str, payload: &str) -> String {
        format!(
            r#"{{"id":"r","version":1,"type":"response","topic":"tool.invoke.x","source":"core",
               "correlation":"{correlation}","timestamp":"2026-01-01T00:00:00Z","group":"main",
               "payload":{payload}}}"#
        )
    }

    #[test]
    fn only_the_matching_answer_is_accepted() {
        let ok = envelope("c1", r#"{"result":{"a":1},"error":null}"#);
        let got = accept(frame(&ok), "c1").expect("parses").expect("matches");
        assert_eq!(got.payload.result, Some(serde_json::json!({"a":1})));
        assert!(accept(frame(&ok), "c2").expect("parses").is_none());
    }

    #[test]
    fn an_error_without_correlation_is_taken_as_ours() {
        let err = envelope(
            "",
            r#"{"result":null,"error":{"code":"MALFORMED_MESSAGE","message":"m","retriable":false}}"#,
        );
        assert!(accept(frame(&err), "c1").expect("parses").is_some());
        let ok = envelope("", r#"{"result":1,"error":null}"#);
        assert!(accept(frame(&ok), "c1").expect("parses").is_none());
    }

    #[test]
    fn unreadable_answers_are_errors() {
        let err = accept(frame("nope"), "c").expect_err("not json");
        assert_eq!(err.code, ErrorCode::MalformedMessage);
        let err = accept(frame("{}"), "c").expect_err("not an envelope");
        assert_eq!(err.code, ErrorCode::MalformedMessage);
    }

    #[test]
    fn a_leading_delimiter_frame_is_skipped() {
        let ok = envelope("c1", r#"{"result":true,"error":null}"#);
        let mut message = ZmqMessage::from(ok);
        message.push_front(Vec::<u8>::new().into());
        assert!(accept(message, "c1").expect("parses").is_some());
        let mut two = frame("{}");
        two.push_back(b"x".to_vec().into());
        assert!(accept(two, "c1").is_err());
    }
}
