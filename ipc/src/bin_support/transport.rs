//! One request/response exchange with the core over the session socket, as a ZeroMQ DEALER.
//!
//! Plain blocking I/O on a Unix stream with the ZMTP codec of
//! [`carapace_ipc::zmtp`]: a missing socket fails at once, a stale one (nobody
//! listening) is refused at once by the kernel, and every read and write is
//! bounded by the caller's deadline. The answer is bounded too: frames over
//! [`MAX_ANSWER_BYTES`] end the exchange before their bodies are read.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use carapace_ipc::zmtp::{self, Assembler, Decoder, Event, Message};
use carapace_ipc::{ErrorBody, ErrorCode, ResponseEnvelope, MAX_MESSAGE_BYTES};

/// Largest answer accepted: the core caps responses at 1 MiB, plus the envelope.
pub const MAX_ANSWER_BYTES: usize = MAX_MESSAGE_BYTES + (64 << 10);
/// The socket types a DEALER may talk to.
const PEER_TYPES: &[&str] = &["ROUTER"];

/// Sends `request` to the core at `socket_path` and waits until `deadline` for
/// the response whose correlation is `correlation`.
pub fn exchange(
    socket_path: &str,
    request: &[u8],
    correlation: &str,
    deadline: Instant,
) -> Result<ResponseEnvelope, ErrorBody> {
    check_socket_file(socket_path)?;
    let mut stream = UnixStream::connect(socket_path)
        .map_err(|e| connection_failed(socket_path, &connect_reason(&e)))?;
    let mut hello = zmtp::greeting(false).to_vec();
    hello.extend(zmtp::ready("DEALER"));
    write_all(&mut stream, &hello, deadline, socket_path)?;

    let mut reader = Reader {
        stream,
        decoder: Decoder::new(MAX_ANSWER_BYTES),
        buf: vec![0; 16 << 10],
        start: 0,
        end: 0,
        deadline,
        socket_path,
    };
    match reader.next_event()? {
        Event::Greeting(_) => {}
        _ => return Err(lost(socket_path, "the core sent no greeting")),
    }
    match reader.next_event()? {
        Event::Command(command) => zmtp::accept_ready(&command, PEER_TYPES)
            .map_err(|e| lost(socket_path, &format!("handshake failed: {e}")))?,
        _ => return Err(lost(socket_path, "the core sent no READY")),
    };
    // Only now: a ZeroMQ peer takes any frame before its own READY went out as
    // a handshake command, and drops the connection.
    let mut framed = Vec::with_capacity(request.len() + 9);
    zmtp::encode_frame(&mut framed, request, false);
    write_all(&mut reader.stream, &framed, deadline, socket_path)?;
    let mut assembler = Assembler::new(3, MAX_ANSWER_BYTES);
    loop {
        match reader.next_event()? {
            Event::Header { len } => assembler
                .admit(len)
                .map_err(|e| malformed(&e.to_string()))?,
            Event::Frame(frame) => {
                let message = assembler
                    .push(frame)
                    .map_err(|e| malformed(&e.to_string()))?;
                if let Some(message) = message {
                    if let Some(envelope) = accept(message, correlation)? {
                        return Ok(envelope);
                    }
                }
            }
            Event::Command(command) => {
                if let Some(pong) = zmtp::pong_for(&command) {
                    write_all(&mut reader.stream, &pong, deadline, socket_path)?;
                }
            }
            Event::Greeting(_) => return Err(lost(socket_path, "a second greeting")),
        }
    }
}

/// The read side of the exchange, bounded by the deadline.
struct Reader<'a> {
    stream: UnixStream,
    decoder: Decoder,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    deadline: Instant,
    socket_path: &'a str,
}

impl Reader<'_> {
    fn next_event(&mut self) -> Result<Event, ErrorBody> {
        loop {
            let (used, event) = self
                .decoder
                .decode(&self.buf[self.start..self.end])
                .map_err(|e| lost(self.socket_path, &format!("protocol error: {e}")))?;
            self.start += used;
            if let Some(event) = event {
                return Ok(event);
            }
            let remaining = remaining(self.deadline)?;
            let _ = self.stream.set_read_timeout(Some(remaining));
            match self.stream.read(&mut self.buf) {
                Ok(0) => {
                    return Err(lost(
                        self.socket_path,
                        "the core closed the connection before answering",
                    ))
                }
                Ok(n) => {
                    self.start = 0;
                    self.end = n;
                }
                Err(e) if is_timeout(&e) => return Err(timed_out()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(lost(self.socket_path, &format!("receiving failed: {e}"))),
            }
        }
    }
}

fn write_all(
    stream: &mut UnixStream,
    bytes: &[u8],
    deadline: Instant,
    socket_path: &str,
) -> Result<(), ErrorBody> {
    let _ = stream.set_write_timeout(Some(remaining(deadline)?));
    stream.write_all(bytes).map_err(|e| {
        if is_timeout(&e) {
            timed_out()
        } else {
            lost(socket_path, &format!("sending failed: {e}"))
        }
    })
}

/// Time left before `deadline`; none left is the timeout error.
fn remaining(deadline: Instant) -> Result<Duration, ErrorBody> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(timed_out())
    } else {
        Ok(left)
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
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
