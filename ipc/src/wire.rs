//! The one place an inbound wire message is parsed and bounded.
//!
//! Limits are checked before the JSON is parsed: raw size, then nesting depth.
//! The object must hold exactly `topic`, `correlation` and `arguments`; nothing
//! in it is ever taken as identity.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{
    ErrorBody, ErrorCode, MAX_ARGUMENT_BYTES, MAX_CORRELATION_LEN, MAX_JSON_DEPTH,
    MAX_MESSAGE_BYTES,
};

/// A request as the container sends it: `{topic, correlation, arguments}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireRequest {
    /// `tool.invoke.<name>`.
    pub topic: String,
    /// The caller's id for matching the answer (at most 128 characters).
    pub correlation: String,
    /// The tool's arguments, checked against its schema in stage 3.
    pub arguments: Map<String, Value>,
}

/// Why a wire message was refused before stage 1.
#[derive(Debug, Clone, PartialEq)]
pub struct WireError {
    /// `MALFORMED_MESSAGE` or `PAYLOAD_TOO_LARGE`.
    pub code: ErrorCode,
    /// A description that quotes nothing of the message.
    pub message: String,
    /// The offending top-level field, when there is one.
    pub field: Option<String>,
    /// The correlation, if one could be read, so the caller can match the error.
    pub correlation: String,
    /// The topic, if one could be read.
    pub topic: String,
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for WireError {}

impl WireError {
    fn new(code: ErrorCode, message: impl Into<String>) -> WireError {
        WireError {
            code,
            message: message.into(),
            field: None,
            correlation: String::new(),
            topic: String::new(),
        }
    }

    fn field(mut self, field: &str) -> WireError {
        self.field = Some(field.to_owned());
        self
    }

    /// The structured error body sent back to the caller.
    pub fn to_body(&self) -> ErrorBody {
        let body = ErrorBody::new(self.code, self.message.clone());
        match &self.field {
            Some(field) => body.with_field(field.clone()),
            None => body,
        }
    }
}

/// Parses and bounds one raw wire message.
pub fn parse_request(raw: &[u8]) -> Result<WireRequest, WireError> {
    if raw.len() > MAX_MESSAGE_BYTES {
        return Err(WireError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "message is {} bytes; the limit is {MAX_MESSAGE_BYTES}",
                raw.len()
            ),
        ));
    }
    let text = std::str::from_utf8(raw)
        .map_err(|_| WireError::new(ErrorCode::MalformedMessage, "message is not valid UTF-8"))?;
    let depth = nesting_depth(text.as_bytes());
    if depth > MAX_JSON_DEPTH {
        return Err(WireError::new(
            ErrorCode::MalformedMessage,
            format!("JSON nesting is deeper than {MAX_JSON_DEPTH} levels"),
        ));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| WireError::new(ErrorCode::MalformedMessage, json_problem(&e)))?;
    let Value::Object(object) = value else {
        return Err(WireError::new(
            ErrorCode::MalformedMessage,
            "message must be a JSON object with topic, correlation and arguments",
        ));
    };
    let mut error_context = (String::new(), String::new());
    if let Some(Value::String(c)) = object.get("correlation") {
        if c.chars().count() <= MAX_CORRELATION_LEN {
            error_context.0 = c.clone();
        }
    }
    if let Some(Value::String(t)) = object.get("topic") {
        if t.len() <= 256 {
            error_context.1 = t.clone();
        }
    }
    check_object(object).map_err(|mut e| {
        e.correlation = error_context.0;
        e.topic = error_context.1;
        e
    })
}

fn check_object(mut object: Map<String, Value>) -> Result<WireRequest, WireError> {
    if let Some(extra) = object
        .keys()
        .find(|k| !matches!(k.as_str(), "topic" | "correlation" | "arguments"))
    {
        let field = truncate(extra, 64);
        return Err(WireError::new(
            ErrorCode::MalformedMessage,
            format!(
                "unexpected field `{field}`; only topic, correlation and arguments are allowed"
            ),
        )
        .field(&field));
    }
    let topic = match object.remove("topic") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(type_error("topic", "a string")),
        None => return Err(missing("topic")),
    };
    let correlation = match object.remove("correlation") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(type_error("correlation", "a string")),
        None => return Err(missing("correlation")),
    };
    if correlation.chars().count() > MAX_CORRELATION_LEN {
        return Err(WireError::new(
            ErrorCode::MalformedMessage,
            format!("correlation is longer than {MAX_CORRELATION_LEN} characters"),
        )
        .field("correlation"));
    }
    let arguments = match object.remove("arguments") {
        Some(Value::Object(map)) => map,
        Some(_) => return Err(type_error("arguments", "an object")),
        None => return Err(missing("arguments")),
    };
    for (name, value) in &arguments {
        let size = serialized_len(value);
        if size > MAX_ARGUMENT_BYTES {
            let field = truncate(name, 64);
            return Err(WireError::new(
                ErrorCode::PayloadTooLarge,
                format!("argument `{field}` is {size} bytes; the limit is {MAX_ARGUMENT_BYTES}"),
            )
            .field(&field));
        }
    }
    Ok(WireRequest {
        topic,
        correlation,
        arguments,
    })
}

fn missing(field: &str) -> WireError {
    WireError::new(
        ErrorCode::MalformedMessage,
        format!("missing field `{field}`"),
    )
    .field(field)
}

fn type_error(field: &str, expected: &str) -> WireError {
    WireError::new(
        ErrorCode::MalformedMessage,
        format!("field `{field}` must be {expected}"),
    )
    .field(field)
}

/// Describes a JSON syntax error by position only, never quoting the input.
fn json_problem(error: &serde_json::Error) -> String {
    format!(
        "message is not valid JSON (line {}, column {})",
        error.line(),
        error.column()
    )
}

/// Deepest nesting of `[`/`{` outside strings; counts at most one past the limit's need.
fn nesting_depth(bytes: &[u8]) -> usize {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

fn serialized_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a Value into an in-memory counter cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(max_chars)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(raw: &[u8]) -> ErrorCode {
        parse_request(raw).expect_err("must be refused").code
    }

    #[test]
    fn a_well_formed_request_parses() {
        let req =
            parse_request(br#"{"topic":"tool.invoke.x","correlation":"c1","arguments":{"a":1}}"#)
                .expect("valid");
        assert_eq!(req.topic, "tool.invoke.x");
        assert_eq!(req.correlation, "c1");
        assert_eq!(req.arguments["a"], 1);
    }

    #[test]
    fn shape_errors_are_malformed_and_name_the_field() {
        let err =
            parse_request(br#"{"topic":"t","correlation":"c","arguments":{},"group":"admin"}"#)
                .expect_err("extra field");
        assert_eq!(err.code, ErrorCode::MalformedMessage);
        assert_eq!(err.field.as_deref(), Some("group"));
        assert_eq!(err.correlation, "c");
        let err =
            parse_request(br#"{"topic":"t","correlation":"c","arguments":[]}"#).expect_err("array");
        assert_eq!(err.field.as_deref(), Some("arguments"));
        let err =
            parse_request(br#"{"topic":1,"correlation":"c","arguments":{}}"#).expect_err("type");
        assert_eq!(err.field.as_deref(), Some("topic"));
        let err = parse_request(br#"{"topic":"t","arguments":{}}"#).expect_err("missing");
        assert_eq!(err.field.as_deref(), Some("correlation"));
        assert_eq!(code_of(b"[]"), ErrorCode::MalformedMessage);
        assert_eq!(code_of(b"null"), ErrorCode::MalformedMessage);
        assert_eq!(code_of(b"\xff\xfe"), ErrorCode::MalformedMessage);
        assert_eq!(code_of(b"{"), ErrorCode::MalformedMessage);
    }

    #[test]
    fn limits_apply_before_parsing() {
        let deep = format!(
            r#"{{"topic":"t","correlation":"c","arguments":{{"a":{}{}}}}}"#,
            "[".repeat(70),
            "]".repeat(70)
        );
        assert_eq!(code_of(deep.as_bytes()), ErrorCode::MalformedMessage);
        let huge = vec![b' '; MAX_MESSAGE_BYTES + 1];
        assert_eq!(code_of(&huge), ErrorCode::PayloadTooLarge);
        let big_arg = format!(
            r#"{{"topic":"t","correlation":"c","arguments":{{"blob":"{}"}}}}"#,
            "x".repeat(MAX_ARGUMENT_BYTES + 1)
        );
        let err = parse_request(big_arg.as_bytes()).expect_err("argument too big");
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        assert_eq!(err.field.as_deref(), Some("blob"));
        let long_corr = format!(
            r#"{{"topic":"t","correlation":"{}","arguments":{{}}}}"#,
            "c".repeat(129)
        );
        let err = parse_request(long_corr.as_bytes()).expect_err("long correlation");
        assert_eq!(err.field.as_deref(), Some("correlation"));
        assert_eq!(
            err.correlation, "",
            "an over-long correlation is not echoed"
        );
    }

    #[test]
    fn brackets_inside_strings_do_not_count_as_depth() {
        let raw = format!(
            r#"{{"topic":"t","correlation":"c","arguments":{{"s":"{}\"{}"}}}}"#,
            "[".repeat(100),
            "{".repeat(100)
        );
        assert!(parse_request(raw.as_bytes()).is_ok());
    }
}
