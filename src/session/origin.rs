//! What started a session (DESIGN §8, "Origin"), recorded once when it opens.
//!
//! The core fills it from what it knows itself: which control request or which
//! published event asked, and which plugin published it. A channel plugin's own
//! words are taken only where they are its to give (`payload.sender`, and
//! `payload.trust` from its allow-list), bounded and read fail-safe: anything but
//! exactly `"owner"` or `"contact"` is `unknown`. Must never take an origin from a
//! session socket, or change a session's origin after it opened.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest sender kept, in characters (so a session record stays small).
pub const MAX_SENDER_CHARS: usize = 256;

/// What kind of request started a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OriginKind {
    /// `carapace prompt`: the person at the host's CLI.
    Prompt,
    /// `message.inbound` from a channel plugin.
    Message,
    /// `task.triggered` from the scheduler.
    Task,
    /// `carapace session open`.
    Open,
}

/// How far a session's requests may count as the owner's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trust {
    /// The owner: the person at the CLI, or a message the channel knows is theirs.
    Owner,
    /// Someone on the channel's allow-list who is not the owner.
    Contact,
    /// Anyone else, or not known: what a session's content counts as is data only.
    Unknown,
}

impl Trust {
    /// The trust a plugin claims in `value`: exactly `"owner"` or `"contact"`;
    /// anything else (absent, another string, another type) is `Unknown`.
    pub fn claimed(value: Option<&Value>) -> Trust {
        match value.and_then(Value::as_str) {
            Some("owner") => Trust::Owner,
            Some("contact") => Trust::Contact,
            _ => Trust::Unknown,
        }
    }
}

impl FromStr for Trust {
    type Err = String;

    /// `owner`, `contact` or `unknown`, as typed at the CLI.
    fn from_str(text: &str) -> Result<Trust, String> {
        match text {
            "owner" => Ok(Trust::Owner),
            "contact" => Ok(Trust::Contact),
            "unknown" => Ok(Trust::Unknown),
            _ => Err("expected owner, contact or unknown".into()),
        }
    }
}

/// What started a session: `{kind, plugin, sender, trust}` (absent parts are `null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// The kind of request.
    pub kind: OriginKind,
    /// The plugin that published the event, as the core knows it.
    pub plugin: Option<String>,
    /// Who that plugin says sent it (a task's id for a task), plain and bounded.
    pub sender: Option<String>,
    /// How far the session counts as the owner's.
    pub trust: Trust,
    /// For a message: the chat (conversation) it came from, as its channel
    /// plugin names it (`payload.chat`), plain and bounded. A reply there by
    /// that plugin's tool may be exempt from approval (`reply_argument`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<String>,
}

/// `open` and `unknown`: a session whose origin nobody declared (and a record an
/// older core wrote without one).
impl Default for Origin {
    fn default() -> Origin {
        Origin::open(Trust::Unknown)
    }
}

impl Origin {
    /// `carapace prompt`: the owner at the CLI.
    pub fn prompt() -> Origin {
        Origin {
            kind: OriginKind::Prompt,
            plugin: None,
            sender: None,
            trust: Trust::Owner,
            chat: None,
        }
    }

    /// `carapace session open`, with the trust the person at the host declared.
    pub fn open(trust: Trust) -> Origin {
        Origin {
            kind: OriginKind::Open,
            plugin: None,
            sender: None,
            trust,
            chat: None,
        }
    }

    /// The origin of a session started by `topic`, which `plugin` published with
    /// `payload`; `None` for a topic that starts no session.
    pub fn of_event(topic: &str, plugin: &str, payload: &Value) -> Option<Origin> {
        let (kind, sender_key) = match topic {
            "message.inbound" => (OriginKind::Message, "sender"),
            "task.triggered" => (OriginKind::Task, "task"),
            _ => return None,
        };
        Some(Origin {
            kind,
            plugin: Some(plugin.to_owned()),
            sender: payload
                .get(sender_key)
                .and_then(Value::as_str)
                .map(|sender| crate::display::strip(sender, MAX_SENDER_CHARS))
                .filter(|sender| !sender.is_empty()),
            trust: Trust::claimed(payload.get("trust")),
            chat: (kind == OriginKind::Message)
                .then(|| chat_of(payload))
                .flatten(),
        })
    }
}

/// Longest chat id kept, in characters.
pub const MAX_CHAT_CHARS: usize = 64;

/// `payload.chat` (a string or a whole number), plain and at most
/// [`MAX_CHAT_CHARS`]; `None` when absent, empty, cut or of another type.
fn chat_of(payload: &Value) -> Option<String> {
    let chat = match payload.get("chat")? {
        Value::String(text) => text.clone(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        _ => return None,
    };
    let plain = crate::display::strip(&chat, MAX_CHAT_CHARS + 1);
    // A chat id that had to be changed to be kept is not the one the plugin meant.
    (!plain.is_empty() && plain == chat && plain.chars().count() <= MAX_CHAT_CHARS).then_some(plain)
}

/// A tool argument as a chat id compares it: a string as is, a whole number in decimal.
pub fn chat_argument(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_exactly_owner_or_contact_is_trusted() {
        assert_eq!(Trust::claimed(Some(&json!("owner"))), Trust::Owner);
        assert_eq!(Trust::claimed(Some(&json!("contact"))), Trust::Contact);
        for claim in [
            json!("admin"),
            json!("Owner"),
            json!(" owner"),
            json!("unknown"),
            json!(""),
            json!(true),
            json!(1),
            json!(["owner"]),
            json!({"trust": "owner"}),
            Value::Null,
        ] {
            assert_eq!(Trust::claimed(Some(&claim)), Trust::Unknown, "{claim}");
        }
        assert_eq!(Trust::claimed(None), Trust::Unknown);
    }

    #[test]
    fn an_event_gives_its_publisher_a_bounded_plain_sender() {
        let payload = json!({"text": "hi", "sender": "alice\u{202e}\n", "trust": "contact"});
        let origin = Origin::of_event("message.inbound", "telegram", &payload).expect("starts");
        assert_eq!(
            serde_json::to_value(&origin).expect("json"),
            json!({"kind": "message", "plugin": "telegram", "sender": "alice", "trust": "contact"})
        );
        let long = json!({"sender": "é".repeat(10_000), "trust": "owner"});
        let origin = Origin::of_event("message.inbound", "mail", &long).expect("starts");
        assert_eq!(
            origin.sender.map(|s| s.chars().count()),
            Some(MAX_SENDER_CHARS)
        );
        for payload in [json!({"sender": 7}), json!({"sender": "\u{7}"}), json!("x")] {
            let origin = Origin::of_event("message.inbound", "mail", &payload).expect("starts");
            assert_eq!(origin.sender, None, "{payload}");
            assert_eq!(origin.trust, Trust::Unknown, "{payload}");
        }
        let task = json!({"prompt": "daily", "task": "t-1", "trust": "owner", "sender": "x"});
        assert_eq!(
            Origin::of_event("task.triggered", "scheduler", &task),
            Some(Origin {
                kind: OriginKind::Task,
                plugin: Some("scheduler".into()),
                sender: Some("t-1".into()),
                trust: Trust::Owner,
                chat: None,
            })
        );
        assert_eq!(Origin::of_event("task.created", "scheduler", &task), None);
    }

    #[test]
    fn a_message_keeps_its_chat_only_when_plain_and_bounded() {
        let chat = |payload: Value| {
            Origin::of_event("message.inbound", "telegram", &payload).and_then(|o| o.chat)
        };
        assert_eq!(chat(json!({"chat": -1001234})), Some("-1001234".into()));
        assert_eq!(chat(json!({"chat": "42"})), Some("42".into()));
        for bad in [
            json!({"chat": "4\u{202e}2"}),
            json!({"chat": ""}),
            json!({"chat": "x".repeat(65)}),
            json!({"chat": 1.5}),
            json!({"chat": [1]}),
            json!({}),
        ] {
            assert_eq!(chat(bad.clone()), None, "{bad}");
        }
        let task = json!({"task": "t", "chat": 42});
        let origin = Origin::of_event("task.triggered", "scheduler", &task).expect("task");
        assert_eq!(origin.chat, None, "only a message has a chat");
    }

    #[test]
    fn the_host_declares_an_open_sessions_trust_and_unknown_is_the_default() {
        assert_eq!(
            serde_json::to_value(Origin::default()).expect("json"),
            json!({"kind": "open", "plugin": null, "sender": null, "trust": "unknown"})
        );
        assert_eq!("owner".parse::<Trust>(), Ok(Trust::Owner));
        assert!("root".parse::<Trust>().is_err());
        assert_eq!(Origin::prompt().trust, Trust::Owner);
        assert!(serde_json::from_value::<Origin>(
            json!({"kind": "open", "plugin": null, "sender": null, "trust": "owner", "x": 1})
        )
        .is_err());
    }
}
