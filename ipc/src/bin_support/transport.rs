//! One request/response exchange with the core over the session socket, as a ZeroMQ DEALER.
//!
//! Plain blocking I/O on a Unix stream with the ZMTP client of
//! [`carapace_zmtp::client`]: a missing socket fails at once, a stale one
//! (nobody listening) is refused at once by the kernel, and every read and
//! write is bounded by the caller's deadline. The answer is bounded too: frames
//! over [`MAX_ANSWER_BYTES`] end the exchange before their bodies are read.

use std::io::ErrorKind;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Instant;

use carapace_ipc::{ErrorBody, ErrorCode, ResponseEnvelope, MAX_MESSAGE_BYTES};
use carapace_zmtp::client::{ClientConnection, ClientError};
use carapace_zmtp::codec::Message;

/// Largest answer accepted: the core caps responses at 1 MiB, plus the envelope.
pub const MAX_ANSWER_BYTES: usize = MAX_MESSAGE_BYTES + (64 << 10);

/// Sends `request` to the core at `socket_path` and waits until `deadline` for
/// the response whose correlation is `correlation`; `sending` runs right
/// before the request goes out.
pub fn exchange(
    socket_path: &str,
    request: &[u8],
    correlation: &str,
    deadline: Instant,
    sending: impl FnOnce(),
) -> Result<ResponseEnvelope, ErrorBody> {
    check_socket_file(socket_path)?;
    let stream = UnixStream::connect(socket_path)
        .map_err(|e| connection_failed(socket_path, &connect_reason(&e)))?;
    let failed = |e: ClientError| match e {
        ClientError::Timeout => timed_out(),
        ClientError::Closed => lost(
            socket_path,
            "the core closed the connection before answering",
        ),
        other => lost(socket_path, &other.to_string()),
    };
    let mut connection = ClientConnection::handshake(
        stream,
        "DEALER",
        &["ROUTER"],
        MAX_ANSWER_BYTES,
        Some(deadline),
    )
    .map_err(failed)?;
    sending();
    connection.send(&[request]).map_err(failed)?;
    // From here the core has the request and may run it whatever becomes of
    // this connection: a missing answer says nothing about whether it acted.
    loop {
        let message = connection.receive().map_err(|e| match e {
            ClientError::Protocol(p) => malformed(&p.to_string()),
            other => may_still_run(failed(other)),
        })?;
        if let Some(envelope) = accept(message, correlation)? {
            return Ok(envelope);
        }
    }
}

/// An error after the request went out: the core may still run the call, or
/// may have run it, so repeating it could act twice. Not retriable.
fn may_still_run(error: ErrorBody) -> ErrorBody {
    ErrorBody {
        retriable: false,
        message: format!(
            "{}; the request was sent, so the call may still run or have run: \
             do not repeat it without checking (or asking the person)",
            error.message
        ),
        ..error
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
        Err(e) if e.kind() == ErrorKind::NotFound => {
            Err(connection_failed(socket_path, "no socket exists there"))
        }
        Err(e) => Err(connection_failed(socket_path, &e.to_string())),
    }
}

fn connect_reason(error: &std::io::Error) -> String {
    match error.kind() {
        ErrorKind::ConnectionRefused => "nobody listens on it (is the session running?)".into(),
        _ => error.to_string(),
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
pub fn accept(message: Message, correlation: &str) -> Result<Option<ResponseEnvelope>, ErrorBody> {
    if message.dropped_frames > 0 {
        return Err(malformed("it is not exactly one non-empty frame"));
    }
    let mut frames = message.frames.into_iter().skip_while(|f| f.is_empty());
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

    fn frames(frames: &[&str]) -> Message {
        Message {
            frames: frames.iter().map(|f| f.as_bytes().to_vec()).collect(),
            dropped_frames: 0,
        }
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
        let got = accept(frames(&[&ok]), "c1")
            .expect("parses")
            .expect("matches");
        assert_eq!(got.payload.result, Some(serde_json::json!({"a":1})));
        assert!(accept(frames(&[&ok]), "c2").expect("parses").is_none());
    }

    #[test]
    fn an_error_without_correlation_is_taken_as_ours() {
        let err = envelope(
            "",
            r#"{"result":null,"error":{"code":"MALFORMED_MESSAGE","message":"m","retriable":false}}"#,
        );
        assert!(accept(frames(&[&err]), "c1").expect("parses").is_some());
        let ok = envelope("", r#"{"result":1,"error":null}"#);
        assert!(accept(frames(&[&ok]), "c1").expect("parses").is_none());
    }

    #[test]
    fn unreadable_answers_are_errors() {
        let err = accept(frames(&["nope"]), "c").expect_err("not json");
        assert_eq!(err.code, ErrorCode::MalformedMessage);
        let err = accept(frames(&["{}"]), "c").expect_err("not an envelope");
        assert_eq!(err.code, ErrorCode::MalformedMessage);
    }

    #[test]
    fn a_leading_delimiter_frame_is_skipped() {
        let ok = envelope("c1", r#"{"result":true,"error":null}"#);
        assert!(accept(frames(&["", &ok]), "c1").expect("parses").is_some());
        assert!(accept(frames(&["{}", "x"]), "c1").is_err());
        let mut dropped = frames(&[&ok]);
        dropped.dropped_frames = 1;
        assert!(accept(dropped, "c1").is_err());
    }
}
