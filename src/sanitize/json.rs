//! The recursive walk behind [`Sanitizer::sanitize`]: string values, object
//! keys, string values of credential-named keys (`"password": "..."`), and
//! numbers whose text holds a stored value (replaced by the placeholder string).
//! Paths are built from keys after redaction, so they never carry a secret.

use super::{KnownSecrets, Redaction, Sanitizer, KNOWN_KIND, PEM_KIND};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt::Write as _;

impl Sanitizer {
    /// Sanitizes `value`, whose JSON Pointer is `path`, appending to `out`.
    pub(super) fn walk(
        &self,
        value: &mut Value,
        path: &mut String,
        out: &mut Vec<Redaction>,
        known: &KnownSecrets,
    ) {
        match value {
            Value::String(s) => {
                if let Some((text, kinds)) = self.redact_owned(s, known) {
                    *s = text;
                    record(out, path, "", kinds);
                }
            }
            Value::Array(items) => {
                // A PEM key may come as an array of lines: every line after an
                // unterminated BEGIN line, up to its END line, is part of the key.
                let mut in_key = false;
                for (i, item) in items.iter_mut().enumerate() {
                    let len = path.len();
                    let _ = write!(path, "/{i}");
                    let (opens, closes) = match &*item {
                        Value::String(s) => self.pem_edges(s),
                        _ => (false, false),
                    };
                    let line = match (&*item, in_key && !opens) {
                        (Value::String(s), true) => self.redact_all(s, PEM_KIND),
                        _ => None,
                    };
                    match line {
                        Some(text) => {
                            *item = Value::String(text);
                            record(out, path, "", vec![PEM_KIND]);
                        }
                        None => self.walk(item, path, out, known),
                    }
                    in_key = opens || (in_key && !closes);
                    path.truncate(len);
                }
            }
            Value::Object(map) => self.walk_object(map, path, out, known),
            Value::Number(n) => {
                // Only stored values: a number's text is never a credential format.
                if known.is_empty() {
                    return;
                }
                // Written on the stack: a clean number allocates nothing.
                let mut buf = [0u8; 64];
                let mut rest = &mut buf[..];
                let text = match std::io::Write::write_fmt(&mut rest, format_args!("{n}")) {
                    Ok(()) => {
                        let len = 64 - rest.len();
                        Cow::Borrowed(std::str::from_utf8(&buf[..len]).unwrap_or_default())
                    }
                    Err(_) => Cow::Owned(n.to_string()),
                };
                let mut found = Vec::new();
                known.find(&text, &mut found);
                if !found.is_empty() {
                    *value = Value::String(format!("[REDACTED:{KNOWN_KIND}]"));
                    record(out, path, "", vec![KNOWN_KIND]);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    /// `key`, or if `map` has it, `key` numbered with a placeholder so that
    /// the suffix is never redacted again: the key's final placeholder gets
    /// the number (`[REDACTED:github_token#2]`), or one is appended.
    fn unique_key(&self, map: &Map<String, Value>, key: String, kind: &str) -> String {
        if !map.contains_key(&key) {
            return key;
        }
        let numbered_in_place = self
            .holes
            .find_iter(&key)
            .last()
            .is_some_and(|m| m.end() == key.len() && !m.as_str().contains('#'));
        for n in 2u64.. {
            let candidate = match key.strip_suffix(']') {
                Some(head) if numbered_in_place => format!("{head}#{n}]"),
                _ => format!("{key}[REDACTED:{kind}#{n}]"),
            };
            if !map.contains_key(&candidate) {
                return candidate;
            }
        }
        key
    }

    /// Renames keys holding credentials (never dropping a member), then
    /// sanitizes each member.
    fn walk_object(
        &self,
        map: &mut Map<String, Value>,
        path: &mut String,
        out: &mut Vec<Redaction>,
        known: &KnownSecrets,
    ) {
        // Keys are scanned once; the few that need work are noted here.
        let mut renames = Vec::new();
        let mut sensitive: Vec<(String, &'static str)> = Vec::new();
        for key in map.keys() {
            let mask = self.scan(key);
            if let Some((new, kinds)) = self.redact_masked(key, mask, known) {
                renames.push((key.clone(), new, kinds));
            } else if let Some(kind) = self.sensitive_key(key, mask) {
                sensitive.push((key.clone(), kind));
            }
        }
        if let Some(pair) = self.named_secret(map) {
            sensitive.push(pair);
        }
        if !renames.is_empty() {
            let mut moved = Vec::with_capacity(renames.len());
            for (old, new, kinds) in renames {
                if let Some(v) = map.remove(&old) {
                    moved.push((new, kinds, v));
                }
            }
            for (new, kinds, v) in moved {
                let kind = kinds.first().copied().unwrap_or("key");
                let key = self.unique_key(map, new, kind);
                let len = path.len();
                push_token(path, &key);
                record(out, path, " (key)", kinds);
                path.truncate(len);
                map.insert(key, v);
            }
        }
        for (key, v) in map.iter_mut() {
            let len = path.len();
            push_token(path, key);
            let kind = sensitive
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, kind)| *kind);
            let whole = match (kind, &*v) {
                (Some(kind), Value::String(s)) => self.redact_whole(s, kind).map(|t| (t, kind)),
                _ => None,
            };
            match whole {
                Some((text, kind)) => {
                    *v = Value::String(text);
                    record(out, path, "", vec![kind]);
                }
                None => self.walk(v, path, out, known),
            }
            path.truncate(len);
        }
    }
}

/// Keys naming a variable in a `{"name": "X_PASSWORD", "value": "..."}` pair.
const NAME_KEYS: &[&str] = &["name", "key", "variable", "parametername", "secretname"];
/// Keys holding the value of such a pair.
const VALUE_KEYS: &[&str] = &["value", "parametervalue", "secretvalue", "secretstring"];

impl Sanitizer {
    /// In `{"name": "DB_PASSWORD", "value": "..."}` (env lists, parameter
    /// stores), the key of the value member and the kind to redact it with.
    fn named_secret(&self, map: &Map<String, Value>) -> Option<(String, &'static str)> {
        let kind = map.iter().find_map(|(k, v)| {
            let name = v.as_str()?;
            if !NAME_KEYS.iter().any(|n| k.eq_ignore_ascii_case(n)) {
                return None;
            }
            // A parameter store's name is a path: its last part names the variable.
            let name = name.rsplit('/').next().unwrap_or(name);
            self.sensitive_key(name, self.scan(name))
        })?;
        map.iter()
            .find(|(k, v)| v.is_string() && VALUE_KEYS.iter().any(|n| k.eq_ignore_ascii_case(n)))
            .map(|(k, _)| (k.clone(), kind))
    }
}

/// Appends `/token` to a JSON Pointer, escaping `~` and `/` (RFC 6901).
fn push_token(path: &mut String, token: &str) {
    path.push('/');
    for c in token.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            c => path.push(c),
        }
    }
}

/// One `Redaction` per kind at `path` + `suffix`.
fn record(out: &mut Vec<Redaction>, path: &str, suffix: &str, kinds: Vec<&'static str>) {
    for kind in kinds {
        out.push(Redaction {
            path: format!("{path}{suffix}"),
            kind,
        });
    }
}
