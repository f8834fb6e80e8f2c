//! One audit event, serialized once on the thread that records it.
//!
//! The request path encodes an event straight into bytes: the writer thread
//! and the session's diagnostics both use those bytes, so nothing built on a
//! request thread is freed on the writer thread, and a buffer dropped from a
//! session's diagnostics is reused for its next event. This file must never
//! let a field override the event's `kind` or the session's identity.

use serde_json::{Map, Value};

/// Bytes an event's buffer starts with; most events fit.
const TYPICAL_BYTES: usize = 256;

/// A reused buffer bigger than this (a rare huge event) is given back, not kept.
const REUSED_BYTES_MAX: usize = 16 * 1024;

/// An audit event as one compact JSON object: `kind`, then the session's `session`
/// and `group` when it has one, then the fields. Never holds a newline.
#[derive(Clone, PartialEq, Eq)]
pub struct EventLine {
    json: Vec<u8>,
}

impl std::fmt::Debug for EventLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Events can hold tool arguments: show only how big this one is.
        f.debug_struct("EventLine")
            .field("bytes", &self.json.len())
            .finish_non_exhaustive()
    }
}

impl EventLine {
    /// Encodes an event of `kind` for `identity` (`(session, group)`) with the entries of
    /// `fields` (an object; anything else adds no fields). A field named `kind`,
    /// `session` or `group` is left out: those are the core's to say.
    pub fn new(kind: &str, identity: Option<(&str, &str)>, fields: &Value) -> EventLine {
        let mut line = EventLine {
            json: Vec::with_capacity(TYPICAL_BYTES),
        };
        line.set(kind, identity, fields);
        line
    }

    /// Like [`new`](Self::new), reusing this line's buffer.
    pub fn set(&mut self, kind: &str, identity: Option<(&str, &str)>, fields: &Value) {
        if self.json.capacity() > REUSED_BYTES_MAX {
            self.json = Vec::with_capacity(TYPICAL_BYTES);
        }
        let out = &mut self.json;
        out.clear();
        out.extend_from_slice(b"{\"kind\":");
        push_json(out, kind);
        if let Some((session, group)) = identity {
            out.extend_from_slice(b",\"session\":");
            push_json(out, session);
            out.extend_from_slice(b",\"group\":");
            push_json(out, group);
        }
        if let Value::Object(fields) = fields {
            for (key, value) in fields {
                let reserved =
                    key == "kind" || (identity.is_some() && (key == "session" || key == "group"));
                if reserved {
                    continue;
                }
                out.push(b',');
                push_json(out, key);
                out.push(b':');
                push_json(out, value);
            }
        }
        out.push(b'}');
    }

    /// Encodes a whole event object as it is.
    pub fn from_map(event: &Map<String, Value>) -> EventLine {
        let mut json = Vec::with_capacity(TYPICAL_BYTES);
        push_json(&mut json, event);
        EventLine { json }
    }

    /// The compact JSON object.
    pub fn as_bytes(&self) -> &[u8] {
        &self.json
    }

    /// The event parsed back into an object (`None` cannot happen: every constructor
    /// writes a whole object).
    pub fn to_map(&self) -> Option<Map<String, Value>> {
        serde_json::from_slice(&self.json).ok()
    }
}

/// Appends `value` as compact JSON. Serializing a string, a map with string keys or a
/// `Value` into a `Vec` cannot fail, and compact output escapes every newline.
fn push_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let before = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(before);
        out.extend_from_slice(b"null");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identity_comes_first_and_fields_cannot_override_it() {
        let fields = json!({"kind": "forged", "session": "other", "group": "admin", "bytes": 7});
        let line = EventLine::new("request.received", Some(("s-1", "mail")), &fields);
        assert_eq!(
            line.as_bytes(),
            br#"{"kind":"request.received","session":"s-1","group":"mail","bytes":7}"#
        );
        let map = line.to_map().expect("parses");
        assert_eq!(map["kind"], "request.received");
        assert_eq!(map["session"], "s-1");
        assert_eq!(map["group"], "mail");
    }

    #[test]
    fn without_a_session_only_kind_is_reserved() {
        let fields = json!({"kind": "forged", "session": "s-9", "plugin": "echo"});
        let line = EventLine::new("plugin.started", None, &fields);
        assert_eq!(
            line.as_bytes(),
            br#"{"kind":"plugin.started","plugin":"echo","session":"s-9"}"#
        );
    }

    #[test]
    fn strings_are_escaped_and_no_newline_survives() {
        let fields = json!({"note": "a\nb\"c\u{0}", "k\ney": ["\n"]});
        let line = EventLine::new("x\ny", Some(("s\n", "g\"")), &fields);
        assert!(!line.as_bytes().contains(&b'\n'));
        let map = line.to_map().expect("parses");
        assert_eq!(map["kind"], "x\ny");
        assert_eq!(map["note"], "a\nb\"c\u{0}");
        assert_eq!(map["k\ney"], json!(["\n"]));
    }

    #[test]
    fn reusing_a_buffer_leaves_nothing_of_the_last_event() {
        let mut line = EventLine::new("long", None, &json!({"text": "x".repeat(1000)}));
        line.set("short", None, &json!(null));
        assert_eq!(line.as_bytes(), br#"{"kind":"short"}"#);
    }
}
