//! Reading a call's arguments and building the wire request.

use std::io::Read;

use carapace_ipc::{parse_request, ErrorBody, ErrorCode, WireRequest, MAX_MESSAGE_BYTES};
use serde_json::{Map, Value};

use super::args::{ArgumentSource, UsageError};

/// Why a call was refused before anything was sent.
#[derive(Debug)]
pub enum Refusal {
    /// The caller's input is not usable (exit status 2).
    Usage(UsageError),
    /// A structured refusal, as the core would give it (exit status 1).
    Error(ErrorBody),
}

impl From<UsageError> for Refusal {
    fn from(error: UsageError) -> Refusal {
        Refusal::Usage(error)
    }
}

/// Reads and checks the call's arguments; `stdin` is read only for [`ArgumentSource::Stdin`],
/// and never for more than [`MAX_MESSAGE_BYTES`] + 1 bytes.
pub fn read_arguments(
    source: &ArgumentSource,
    stdin: impl Read,
) -> Result<Map<String, Value>, Refusal> {
    match source {
        ArgumentSource::Empty => Ok(Map::new()),
        ArgumentSource::Inline(text) => parse_object(text, "<arguments-json>"),
        ArgumentSource::Stdin => {
            let text = read_bounded(stdin)?;
            parse_object(&text, "the arguments on stdin")
        }
    }
}

fn read_bounded(stdin: impl Read) -> Result<String, Refusal> {
    let limit = u64::try_from(MAX_MESSAGE_BYTES).unwrap_or(u64::MAX);
    let mut bytes = Vec::new();
    stdin
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| UsageError(format!("could not read the arguments from stdin: {e}")))?;
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(Refusal::Error(
            ErrorBody::new(
                ErrorCode::PayloadTooLarge,
                format!("the arguments on stdin are over the {MAX_MESSAGE_BYTES}-byte limit"),
            )
            .with_field("arguments"),
        ));
    }
    String::from_utf8(bytes).map_err(|_| {
        Refusal::Usage(UsageError(
            "the arguments on stdin are not valid UTF-8".into(),
        ))
    })
}

/// Parses `text` as a JSON object.
pub fn parse_object(text: &str, what: &str) -> Result<Map<String, Value>, Refusal> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        UsageError(format!(
            "{what} is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(Refusal::Usage(UsageError(format!(
            "{what} must be a JSON object, not {}",
            kind_of(&other)
        )))),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Serializes the request and applies the core's own checks to it, so a request
/// the core would refuse before stage 1 is refused here without being sent.
pub fn build_request(
    topic: &str,
    correlation: &str,
    arguments: Map<String, Value>,
) -> Result<Vec<u8>, ErrorBody> {
    let request = WireRequest {
        topic: topic.to_owned(),
        correlation: correlation.to_owned(),
        arguments,
    };
    let bytes = serde_json::to_vec(&request).map_err(|e| {
        ErrorBody::new(
            ErrorCode::MalformedMessage,
            format!("could not serialize the request: {e}"),
        )
    })?;
    parse_request(&bytes).map_err(|e| e.to_body())?;
    Ok(bytes)
}

/// A random UUID-v4-formatted correlation id.
pub fn new_correlation() -> String {
    let mut bytes = random_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(hex_digit(b >> 4));
        out.push(hex_digit(b & 0x0f));
    }
    out
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0x0f)])
}

/// 16 bytes from `/dev/urandom`, or, where it cannot be read, from the
/// OS-seeded keys of std's `RandomState` mixed with the time and the pid.
/// The correlation only matches an answer to its request on a private
/// connection, so it needs to be unique, not secret.
fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    if let Ok(mut file) = std::fs::File::open("/dev/urandom") {
        if file.read_exact(&mut bytes).is_ok() {
            return bytes;
        }
    }
    use std::hash::{BuildHasher, Hasher};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(nanos);
        hasher.write_u32(std::process::id());
        hasher.write_usize(i);
        chunk.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(result: Result<Map<String, Value>, Refusal>) -> bool {
        matches!(result, Err(Refusal::Usage(_)))
    }

    #[test]
    fn arguments_must_be_one_json_object() {
        let none: &[u8] = b"";
        assert_eq!(
            read_arguments(&ArgumentSource::Empty, none).expect("empty"),
            Map::new()
        );
        let map =
            read_arguments(&ArgumentSource::Inline(r#"{"a":[1]}"#.into()), none).expect("object");
        assert_eq!(map["a"], serde_json::json!([1]));
        for bad in ["", "[]", "null", "1", "\"s\"", "{", "{} {}", "--help"] {
            assert!(
                usage(read_arguments(&ArgumentSource::Inline(bad.into()), none)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn stdin_is_read_only_when_asked_and_bounded() {
        let map = read_arguments(&ArgumentSource::Stdin, &br#" {"q": "x"} "#[..]).expect("stdin");
        assert_eq!(map["q"], "x");
        assert!(usage(read_arguments(&ArgumentSource::Stdin, &b"\xff"[..])));
        let big = vec![b' '; MAX_MESSAGE_BYTES + 1];
        match read_arguments(&ArgumentSource::Stdin, &big[..]) {
            Err(Refusal::Error(body)) => assert_eq!(body.code, ErrorCode::PayloadTooLarge),
            other => panic!("expected PAYLOAD_TOO_LARGE, got {other:?}"),
        }
        // An endless stdin is not read past the limit.
        let endless = std::io::repeat(b' ');
        assert!(matches!(
            read_arguments(&ArgumentSource::Stdin, endless),
            Err(Refusal::Error(_))
        ));
    }

    #[test]
    fn requests_hold_exactly_three_fields_and_pass_the_core_checks() {
        let mut arguments = Map::new();
        arguments.insert("a".into(), Value::from(1));
        let bytes = build_request("tool.invoke.x", "c-1", arguments).expect("builds");
        let value: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(
            value,
            serde_json::json!({"topic":"tool.invoke.x","correlation":"c-1","arguments":{"a":1}})
        );
    }

    #[test]
    fn oversize_requests_are_refused_like_the_core_would() {
        let mut arguments = Map::new();
        arguments.insert(
            "blob".into(),
            Value::String("x".repeat(carapace_ipc::MAX_ARGUMENT_BYTES + 1)),
        );
        let err = build_request("tool.invoke.x", "c", arguments).expect_err("too big");
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        assert_eq!(err.field.as_deref(), Some("blob"));

        let mut arguments = Map::new();
        for i in 0..12 {
            arguments.insert(format!("k{i}"), Value::String("x".repeat(100_000)));
        }
        let err = build_request("tool.invoke.x", "c", arguments).expect_err("too big");
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
    }

    #[test]
    fn correlations_look_like_uuid_v4_and_differ() {
        let a = new_correlation();
        let b = new_correlation();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
        assert!(a.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit()));
    }
}
