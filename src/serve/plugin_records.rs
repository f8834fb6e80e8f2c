//! `audit/record {kind, fields}`: a plugin's own line in the audit log, e.g.
//! `telegram.refused {reason, chat, user}` for an update its allow-list
//! dropped. The line's kind is `<plugin>.<kind>`, so a plugin can never write
//! a line that looks like the core's or another plugin's.
//!
//! A plugin can send these as fast as it can write, and its words go into the
//! tamper-evident log, so each line is small and plain: a kind of
//! `[a-z][a-z0-9_]{0,31}`, at most [`MAX_FIELDS`] fields with names of the same
//! form (not one the core writes itself), each a null, a boolean, a number, or
//! a string made plain, redacted and cut to [`MAX_VALUE_CHARS`]. The first line of
//! each kind in a 10 s window is written in full, the rest counted into one
//! [`SUMMARY_KIND`] line (as refusals are). A malformed one is refused and
//! tallied as `plugin.record` refusals. Must never let a plugin choose a
//! line's kind outside its own name, or write an unbounded number of lines.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::audit::{RefusalTally, Summary};
use crate::core::Core;

/// The notification's method.
pub const RECORD: &str = "audit/record";
/// Kind of the line that counts a window's records after the first of a kind.
pub const SUMMARY_KIND: &str = "plugin.record.summary";
/// Most fields one record carries.
pub const MAX_FIELDS: usize = 8;
/// Longest string value kept, in characters.
pub const MAX_VALUE_CHARS: usize = 128;
/// Kinds of one plugin given a window of their own; more share one.
pub const MAX_KINDS: usize = 8;
/// Field names the core writes itself, or reads a line's scope from
/// (`carapace audit --group` shows lines whose `group` is the group).
const RESERVED: [&str; 8] = [
    "kind", "plugin", "seq", "ts", "prev", "mac", "group", "session",
];
/// The first words of the core's own audit kinds (`group.paused`,
/// `confirmation.resolved`, ...): a plugin of one of these names writes no
/// record, so its lines can never pass for the core's.
pub const CORE_KIND_PREFIXES: [&str; 22] = [
    "agent",
    "audit",
    "budget",
    "config",
    "confirmation",
    "connection",
    "core",
    "event",
    "group",
    "handler",
    "home",
    "memory",
    "message",
    "model",
    "plugin",
    "refusals",
    "reload",
    "request",
    "response",
    "session",
    "task",
    "tool",
];

/// Whether `name` is `[a-z][a-z0-9_]{0,31}`.
fn plain_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && name.len() <= 32
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

/// The line's fields, or why the record is refused; `kind` is the line's
/// kind, already checked by [`line_kind`].
fn fields(
    core: &Core,
    plugin: &str,
    kind: String,
    params: &Value,
) -> Result<(String, Map<String, Value>), &'static str> {
    let Value::Object(params) = params else {
        return Err("BAD_RECORD");
    };
    if params.keys().any(|k| k != "kind" && k != "fields") {
        return Err("BAD_RECORD");
    }
    let given = match params.get("fields") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(given)) if given.len() <= MAX_FIELDS => given.clone(),
        Some(_) => return Err("BAD_FIELDS"),
    };
    let mut line = Map::new();
    line.insert("plugin".into(), Value::String(plugin.to_owned()));
    for (name, value) in given {
        if !plain_name(&name) || RESERVED.contains(&name.as_str()) {
            return Err("BAD_FIELDS");
        }
        let value = match value {
            Value::Null | Value::Bool(_) | Value::Number(_) => value,
            Value::String(text) => {
                let plain = crate::display::strip(&text, 4 * MAX_VALUE_CHARS);
                Value::String(core.sanitizer.redact_cut(&plain, MAX_VALUE_CHARS))
            }
            Value::Array(_) | Value::Object(_) => return Err("BAD_FIELDS"),
        };
        line.insert(name, value);
    }
    Ok((kind, line))
}

/// One plugin's record windows: one per kind (at most [`MAX_KINDS`], the
/// rest share one), and one for its refused records.
#[derive(Default)]
pub struct Records {
    kinds: Mutex<HashMap<String, RefusalTally>>,
    shared: RefusalTally,
    refused: RefusalTally,
}

impl Records {
    /// Notes one record of `kind` at `now`: whether it is written in full,
    /// and the summary of the window it closes.
    fn admit(&self, kind: &str, now: Instant) -> (bool, Option<Summary>) {
        let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        if !kinds.contains_key(kind) && kinds.len() < MAX_KINDS {
            kinds.insert(kind.to_owned(), RefusalTally::default());
        }
        let tally = kinds.get(kind).unwrap_or(&self.shared);
        tally.admit_topic(("plugin.record", ""), 1, kind, now)
    }

    /// The summaries of the windows that are over at `now` (all when `closing`).
    pub fn summaries(&self, closing: bool, now: Instant) -> Vec<Summary> {
        let kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        kinds
            .values()
            .chain([&self.shared, &self.refused])
            .flat_map(|tally| tally.summaries(closing, now))
            .collect()
    }
}

/// The record's kind as its line will have it, when the name and kind are acceptable.
fn line_kind(plugin: &str, params: &Value) -> Result<String, &'static str> {
    if CORE_KIND_PREFIXES.contains(&plugin) {
        return Err("RESERVED_NAME");
    }
    let kind = params.get("kind").and_then(Value::as_str).unwrap_or("");
    if !plain_name(kind) {
        return Err("BAD_KIND");
    }
    Ok(format!("{plugin}.{kind}"))
}

/// Writes (or counts) one record of `plugin`. The window is checked before
/// the fields are looked at, so a flood costs a map lookup a record.
pub fn record(core: &Core, tally: &Records, plugin: &str, params: &Value) {
    let now = Instant::now();
    let checked = line_kind(plugin, params).and_then(|kind| {
        let (full, closed) = tally.admit(&kind, now);
        if let Some(summary) = closed {
            super::plugin_services::write_summary(core, SUMMARY_KIND, plugin, &summary);
        }
        if !full {
            return Ok(None);
        }
        fields(core, plugin, kind, params).map(Some)
    });
    match checked {
        Ok(None) => {}
        Ok(Some((kind, line))) => core.audit_core(&kind, Value::Object(line)),
        Err(code) => {
            let (full, closed) = tally
                .refused
                .admit_topic(("plugin.record", code), 1, "", now);
            if let Some(summary) = closed {
                super::plugin_services::write_summary(core, SUMMARY_KIND, plugin, &summary);
            }
            if full {
                tracing::warn!(%plugin, code, "refused a plugin's audit record");
                core.audit_core(
                    "plugin.record",
                    serde_json::json!({"plugin": plugin, "ok": false, "code": code}),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{line_kind, plain_name};

    #[test]
    fn a_plugin_named_like_a_core_kind_writes_no_record() {
        let record = serde_json::json!({"kind": "resumed"});
        for name in ["group", "confirmation", "budget", "plugin", "session"] {
            assert_eq!(line_kind(name, &record), Err("RESERVED_NAME"), "{name}");
        }
        assert_eq!(
            line_kind("telegram", &record),
            Ok("telegram.resumed".into())
        );
    }

    #[test]
    fn names_are_plain_lowercase_words() {
        for good in ["refused", "a", "chat_2"] {
            assert!(plain_name(good), "{good}");
        }
        for bad in [
            "",
            "Refused",
            "2a",
            "a.b",
            "a-b",
            "kind ",
            &"a".repeat(33),
            "é",
        ] {
            assert!(!plain_name(bad), "{bad}");
        }
    }
}
