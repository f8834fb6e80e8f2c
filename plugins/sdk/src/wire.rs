//! The line protocol: reading one bounded line, and parsing it into one JSON-RPC message.
//!
//! Parsing never panics; anything that is not a JSON-RPC 2.0 object is a
//! [`Malformed`] reason, which the runtime logs and skips.

use std::io::{BufRead, ErrorKind};

use serde_json::{Map, Value};

use crate::error::JsonRpcError;

/// Longest line the SDK writes; the core refuses longer lines and drops the process.
pub const MAX_OUTPUT_LINE_BYTES: usize = 1 << 20;
/// Longest line the SDK reads; a longer one is skipped whole and logged.
pub const MAX_INPUT_LINE_BYTES: usize = 8 << 20;

/// One message from the other side.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Incoming {
    /// A request, to be answered with the same id.
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    /// A notification: never answered.
    Notification { method: String, params: Value },
    /// An answer to one of our requests.
    Response {
        id: Value,
        outcome: Result<Value, JsonRpcError>,
    },
}

/// Why a line was not a JSON-RPC message (a fixed text: the line itself is never echoed).
pub(crate) type Malformed = &'static str;

/// Parses one line.
pub(crate) fn parse(line: &[u8]) -> Result<Incoming, Malformed> {
    let Ok(Value::Object(mut message)) = serde_json::from_slice::<Value>(line) else {
        return Err("not a JSON object");
    };
    if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err("no \"jsonrpc\": \"2.0\"");
    }
    let id = take_id(&mut message)?;
    match message.remove("method") {
        Some(Value::String(method)) => {
            let params = match message.remove("params") {
                None | Some(Value::Null) => Value::Object(Map::new()),
                Some(params @ (Value::Object(_) | Value::Array(_))) => params,
                Some(_) => return Err("params is neither an object nor an array"),
            };
            Ok(match id {
                Some(id) => Incoming::Request { id, method, params },
                None => Incoming::Notification { method, params },
            })
        }
        Some(_) => Err("method is not a string"),
        None => {
            let id = id.ok_or("neither a method nor an id")?;
            let outcome =
                match (message.remove("result"), message.remove("error")) {
                    (Some(result), None) => Ok(result),
                    (None, Some(error)) => Err(serde_json::from_value(error)
                        .map_err(|_| "error is not an error object")?),
                    _ => return Err("a response needs exactly one of result and error"),
                };
            Ok(Incoming::Response { id, outcome })
        }
    }
}

/// The id, when present: a number or a string (null counts as absent).
fn take_id(message: &mut Map<String, Value>) -> Result<Option<Value>, Malformed> {
    match message.remove("id") {
        None | Some(Value::Null) => Ok(None),
        Some(id @ (Value::Number(_) | Value::String(_))) => Ok(Some(id)),
        Some(_) => Err("id is neither a number nor a string"),
    }
}

/// What one read produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A whole line, without its newline.
    Text(Vec<u8>),
    /// A line over the limit, already skipped.
    TooLong,
    /// The input ended (or failed).
    End,
}

/// Reads one line of at most `max` bytes without ever buffering more than that.
///
/// The core's async readers share `src/bounded_line.rs`; this one stays apart
/// because the SDK is blocking (no async runtime in a handler) and depends on
/// nothing of the core. It behaves as the core's `read_line` followed by
/// `skip_line` on an over-long line.
pub(crate) fn read_line(reader: &mut impl BufRead, max: usize) -> Line {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return Line::End,
        };
        if available.is_empty() {
            return match (too_long, line.is_empty()) {
                (true, _) => Line::TooLong,
                (false, true) => Line::End,
                (false, false) => Line::Text(line),
            };
        }
        let newline = available.iter().position(|b| *b == b'\n');
        let chunk = &available[..newline.unwrap_or(available.len())];
        if !too_long && line.len() + chunk.len() > max {
            too_long = true;
            line = Vec::new();
        }
        if !too_long {
            line.extend_from_slice(chunk);
        }
        let used = newline.map_or(available.len(), |at| at + 1);
        reader.consume(used);
        if newline.is_some() {
            return if too_long {
                Line::TooLong
            } else {
                Line::Text(line)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_notifications_and_responses_are_told_apart() {
        let request = parse(br#"{"jsonrpc":"2.0","id":7,"method":"tool/call","params":{"a":1}}"#);
        assert_eq!(
            request,
            Ok(Incoming::Request {
                id: json!(7),
                method: "tool/call".into(),
                params: json!({"a": 1})
            })
        );
        let note = parse(br#"{"jsonrpc":"2.0","method":"event"}"#);
        assert_eq!(
            note,
            Ok(Incoming::Notification {
                method: "event".into(),
                params: json!({})
            })
        );
        let error = parse(br#"{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}"#);
        assert_eq!(
            error,
            Ok(Incoming::Response {
                id: json!(3),
                outcome: Err(JsonRpcError::new(-1, "no"))
            })
        );
    }

    #[test]
    fn malformed_lines_are_refused_without_panicking() {
        for line in [
            &b"not json"[..],
            b"[1,2]",
            b"{\"id\":1,\"method\":\"x\"}",
            b"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"x\"}",
            b"{\"jsonrpc\":\"2.0\",\"method\":5}",
            b"{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":3}",
            b"{\"jsonrpc\":\"2.0\",\"id\":1}",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"error\":{}}",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"bad\"}",
            b"\xff\xfe",
        ] {
            assert!(parse(line).is_err(), "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn long_lines_are_skipped_whole() {
        let input = format!("{}\nshort\nlast", "x".repeat(100));
        let mut reader = std::io::BufReader::with_capacity(8, input.as_bytes());
        assert_eq!(read_line(&mut reader, 10), Line::TooLong);
        assert_eq!(read_line(&mut reader, 10), Line::Text(b"short".to_vec()));
        assert_eq!(read_line(&mut reader, 10), Line::Text(b"last".to_vec()));
        assert_eq!(read_line(&mut reader, 10), Line::End);
    }
}
