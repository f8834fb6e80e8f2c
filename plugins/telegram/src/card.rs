//! The approval card for a `confirmation.requested` event: the tool, its plugin, the
//! group and session, who asked the agent (and whether that was the owner), and
//! every argument, pretty-printed; buttons Approve / Deny; and the line its outcome
//! adds. Pure: text in, text out.
//!
//! Shows only the event's `display` form of the call (escaped by the core for
//! display, made from the redacted arguments), never the raw `arguments`. Must never
//! drop an argument: past [`MAX_ARGUMENT_UNITS`] the card shows the start and says
//! the whole is attached as a file.

use carapace_plugin_sdk::Origin;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::callback::{Button, Decision};
use crate::html::escape;
use crate::pretty::pretty;
use crate::split::{split, utf16_len, MAX_MESSAGE_UNITS};

/// Arguments shown on the card itself, in UTF-16 units; more goes into a file.
pub const MAX_ARGUMENT_UNITS: usize = 3500;
/// Room kept for the outcome line added later.
const OUTCOME_ROOM: usize = 300;
/// Longest "asked by" shown.
const MAX_ASKER_CHARS: usize = 200;

/// The event's payload, as far as the card needs it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Requested {
    /// The confirmation id.
    pub id: String,
    /// The plugin that owns the tool (absent for an intrinsic, or from an older core).
    #[serde(default)]
    pub plugin: Option<String>,
    /// The calling session's group.
    pub group: String,
    /// The hash binding a decision to the exact arguments (absent from an older core:
    /// then no buttons, the person decides on the host).
    #[serde(default)]
    pub args_hash: Option<String>,
    /// What started the calling session.
    #[serde(default)]
    pub origin: Option<Origin>,
    /// Where the core's sanitizer hid something in the shown arguments: then the
    /// card does not show all that runs, and it can only be denied here.
    #[serde(default)]
    pub redactions: Vec<Redacted>,
    /// The call as a person must be shown it.
    pub display: Shown,
}

/// One value the core's sanitizer hid from the shown arguments.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Redacted {
    /// A JSON Pointer into the arguments (its keys came from the agent).
    #[serde(default)]
    pub path: String,
    /// The credential shape it matched, e.g. `private_key`.
    #[serde(default)]
    pub kind: String,
}

/// The `display` object: every value already escaped for display by the core.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Shown {
    /// The tool.
    pub tool: String,
    /// The group.
    pub group: String,
    /// The session.
    pub session: String,
    /// The arguments, one line of JSON.
    pub arguments: String,
}

/// A rendered card.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    /// The card's HTML.
    pub html: String,
    /// Its inline keyboard rows, if it can be decided here.
    pub keyboard: Option<Value>,
    /// The whole pretty arguments, when the card shows only their start.
    pub attachment: Option<String>,
}

impl Card {
    /// The buttons to send the card with: with an attachment, Deny only, since
    /// the card does not show all that runs until the whole file is in the chat
    /// (the sender adds Approve once it is, and never if the file fails).
    pub fn first_keyboard(&self) -> Option<Value> {
        let keyboard = self.keyboard.as_ref()?;
        if self.attachment.is_none() {
            return Some(keyboard.clone());
        }
        let deny = keyboard
            .get(0)
            .and_then(|row| row.as_array())
            .and_then(|row| row.iter().find(|b| b["text"] == DENY_TEXT))?;
        Some(json!([[deny]]))
    }
}

/// The Deny button's text.
const DENY_TEXT: &str = "❌ Deny";

/// How a confirmation ended, for the line the card gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Approved by someone.
    Approved {
        /// Who (and through what).
        by: String,
    },
    /// Denied by someone.
    Denied {
        /// Who.
        by: String,
    },
    /// Nobody decided: timed out, withdrawn, or lost with a restart.
    Expired {
        /// Why, in words.
        why: String,
    },
}

/// Renders the card of `requested`; `asker` names a sender this plugin knows.
pub fn render(requested: &Requested, me: &str, asker: &dyn Fn(&str) -> Option<String>) -> Card {
    let shown = &requested.display;
    let mut head = String::from("🔐 <b>Approval needed</b>\n");
    head.push_str(&format!(
        "<b>Tool:</b> <code>{}</code>",
        escape(&shown.tool)
    ));
    if let Some(plugin) = &requested.plugin {
        head.push_str(&format!(" (plugin <code>{}</code>)", escape(plugin)));
    }
    head.push_str(&format!(
        "\n<b>Group:</b> <code>{}</code>, session <code>{}</code>\n",
        escape(&shown.group),
        escape(&short(&shown.session)),
    ));
    let (who, owners) = asked_by(requested.origin.as_ref(), me, asker);
    head.push_str(&format!("<b>Asked by:</b> {}\n", escape(&who)));
    if !owners {
        let trust = requested
            .origin
            .as_ref()
            .map_or("unknown", |o| o.trust.as_str());
        head.push_str(&format!(
            "⚠️ <b>Not the owner's session</b> (trust: {}): this request may carry someone else's words.\n",
            escape(trust)
        ));
    }
    head.push_str("<b>Arguments</b>, all of them (credentials redacted):\n");
    let keyboard = keyboard(requested);
    let foot = if !requested.redactions.is_empty() {
        format!(
            "🔒 <b>Hidden by the sanitizer:</b> {}. This card does not show all that runs, so it can only be denied here: read it whole with <code>carapace confirm show {}</code> and decide at the host.",
            escape(&hidden(&requested.redactions)),
            escape(&requested.id)
        )
    } else if keyboard.is_some() {
        format!("<i>Confirmation {}</i>", escape(&short(&requested.id)))
    } else {
        format!(
            "Decide on the host: <code>carapace confirm approve {}</code> (or deny)",
            escape(&requested.id)
        )
    };
    let all = pretty(&shown.arguments);
    let room = MAX_ARGUMENT_UNITS
        .min(MAX_MESSAGE_UNITS.saturating_sub(utf16_len(&head) + utf16_len(&foot) + OUTCOME_ROOM));
    let (shown_args, attachment) = if utf16_len(&all) <= room {
        (all, None)
    } else {
        let start = split(&all, room).first().map_or("", |s| *s).to_owned();
        (start, Some(all))
    };
    let mut html = head;
    html.push_str(&format!("<pre>{}</pre>\n", escape(&shown_args)));
    if let Some(whole) = &attachment {
        html.push_str(&format!(
            "✂️ Cut here: {} more characters are in the attached file: read it before you \
             approve (Approve appears once the file is here).\n",
            utf16_len(whole) - utf16_len(&shown_args)
        ));
    }
    html.push_str(&foot);
    Card {
        html,
        keyboard,
        attachment,
    }
}

/// The card's text with its outcome line.
pub fn with_outcome(card_html: &str, outcome: &Outcome, at: &str) -> String {
    let line = match outcome {
        Outcome::Approved { by } => format!("✅ <b>Approved</b> by {} at {at}", escape(by)),
        Outcome::Denied { by } => format!("❌ <b>Denied</b> by {} at {at}", escape(by)),
        Outcome::Expired { why } => format!("⌛ <b>Expired</b> ({}) at {at}", escape(why)),
    };
    format!("{card_html}\n\n{line}")
}

/// The file name of a card's attachment.
pub fn attachment_name(id: &str) -> String {
    let plain: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(36)
        .collect();
    format!("arguments-{plain}.json")
}

/// Approve and Deny; Deny alone when something is hidden (the core would refuse an
/// approval from here); none without a hash.
fn keyboard(requested: &Requested) -> Option<Value> {
    let hash = requested.args_hash.as_deref()?;
    let deny = Button::encode(Decision::Deny, &requested.id, hash)?;
    let deny = json!({"text": DENY_TEXT, "callback_data": deny});
    if !requested.redactions.is_empty() {
        return Some(json!([[deny]]));
    }
    let approve = Button::encode(Decision::Approve, &requested.id, hash)?;
    Some(json!([[{"text": "✅ Approve", "callback_data": approve}, deny]]))
}

/// What was hidden, as a person reads it: `kind at path`, invisible characters of the
/// (agent-chosen) keys shown as `\u{..}`, at most five.
fn hidden(redactions: &[Redacted]) -> String {
    let plain = |text: &str| -> String {
        text.chars()
            .take(80)
            .map(|c| {
                if c.is_control() || crate::html::is_invisible(c) {
                    format!("\\u{{{:04x}}}", u32::from(c))
                } else {
                    c.to_string()
                }
            })
            .collect()
    };
    let mut parts: Vec<String> = redactions
        .iter()
        .take(5)
        .map(|r| format!("{} at {}", plain(&r.kind), plain(&r.path)))
        .collect();
    if redactions.len() > 5 {
        parts.push(format!("{} more", redactions.len() - 5));
    }
    parts.join(", ")
}

/// Who asked, in words, and whether it was the owner's own session.
fn asked_by(
    origin: Option<&Origin>,
    me: &str,
    asker: &dyn Fn(&str) -> Option<String>,
) -> (String, bool) {
    let Some(origin) = origin else {
        return ("unknown (this core reports no origin)".into(), false);
    };
    let sender = origin.sender.as_deref().unwrap_or("someone");
    let plugin = origin.plugin.as_deref().unwrap_or("a channel");
    let who = match origin.kind.as_str() {
        "prompt" => "the owner, at the host (carapace prompt)".to_owned(),
        "message" if plugin == me => match asker(sender) {
            Some(name) => format!("{name} (Telegram user {sender}) in Telegram"),
            None => format!("Telegram user {sender}"),
        },
        "message" => format!("{sender}, via {plugin}"),
        "task" => format!("scheduled task {sender}"),
        "open" => "a session opened at the host".to_owned(),
        other => format!("{other} {sender}"),
    };
    let who: String = who.chars().take(MAX_ASKER_CHARS).collect();
    (format!("{who}, trust {}", origin.trust), origin.is_owner())
}

/// The first 8 characters of an id, and `…` if there were more.
fn short(id: &str) -> String {
    let mut chars = id.chars();
    let head: String = chars.by_ref().take(8).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requested(arguments: &str, trust: &str) -> Requested {
        serde_json::from_value(json!({
            "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
            "tool": "send_mail", "plugin": "mail", "group": "main", "session": "s1",
            "arguments": {"raw": "never shown"},
            "args_hash": "RBNvo1WzZ4oRRq0W9-hkng",
            "requested_at": "2026-12-03T10:00:00Z",
            "origin": {"kind": "message", "plugin": "telegram", "sender": "111", "trust": trust},
            "display": {"tool": "send_mail", "group": "main", "session": "6f1c2a3b4d5e",
                        "arguments": arguments},
        }))
        .expect("payload")
    }

    fn named(sender: &str) -> Option<String> {
        (sender == "111").then(|| "Ann <admin>".to_owned())
    }

    #[test]
    fn a_card_shows_every_argument_escaped_and_who_asked() {
        let card = render(
            &requested(r#"{"to":"a@b.c","body":"<b>hi</b> \u202e & _x_"}"#, "owner"),
            "telegram",
            &named,
        );
        assert!(card
            .html
            .contains("<code>send_mail</code> (plugin <code>mail</code>)"));
        assert!(
            card.html
                .contains("\"body\": \"&lt;b&gt;hi&lt;/b&gt; \\u202e &amp; _x_\""),
            "{}",
            card.html
        );
        assert!(card
            .html
            .contains("Ann &lt;admin&gt; (Telegram user 111) in Telegram, trust owner"));
        assert!(!card.html.contains("never shown"));
        assert!(!card.html.contains("Not the owner"));
        assert!(card.attachment.is_none());
        let rows = card.keyboard.expect("buttons");
        assert_eq!(
            rows[0][0]["callback_data"],
            "a:0f8fad5b-d9cb-469f-a165-70867728950e:RBNvo1WzZ4oRRq0W9-hkng"
        );
        assert_eq!(
            rows[0][1]["callback_data"]
                .as_str()
                .map(|d| d.starts_with("d:")),
            Some(true)
        );
        assert!(crate::html::to_plain(&card.html).contains("<b>hi</b>"));
    }

    #[test]
    fn an_untrusted_session_is_flagged_and_long_arguments_attached() {
        let long = format!(r#"{{"text":"{}"}}"#, "line\\n".repeat(2000));
        let card = render(&requested(&long, "contact"), "telegram", &named);
        assert!(card
            .html
            .contains("Not the owner's session</b> (trust: contact)"));
        let whole = card.attachment.expect("attached");
        assert_eq!(whole, pretty(&long));
        assert!(card
            .html
            .contains("more characters are in the attached file"));
        let finished = with_outcome(
            &card.html,
            &Outcome::Approved {
                by: "Ann (111)".into(),
            },
            "2026-12-03 10:04 UTC",
        );
        assert!(utf16_len(&crate::html::to_plain(&finished)) <= MAX_MESSAGE_UNITS);
        assert!(finished.ends_with("✅ <b>Approved</b> by Ann (111) at 2026-12-03 10:04 UTC"));
    }

    #[test]
    fn a_card_with_hidden_parts_can_only_be_denied_here() {
        let mut hiding = requested(r#"{"cmd":"git status # [REDACTED:private_key]"}"#, "owner");
        hiding.redactions = vec![Redacted {
            path: "/cmd\u{202e}".into(),
            kind: "private_key".into(),
        }];
        let card = render(&hiding, "telegram", &named);
        let rows = card.keyboard.expect("a deny button");
        assert_eq!(rows[0].as_array().map(Vec::len), Some(1));
        assert!(rows[0][0]["callback_data"]
            .as_str()
            .is_some_and(|d| d.starts_with("d:")));
        assert!(
            card.html
                .contains("Hidden by the sanitizer:</b> private_key at /cmd\\u{202e}"),
            "{}",
            card.html
        );
        assert!(card
            .html
            .contains("carapace confirm show 0f8fad5b-d9cb-469f-a165-70867728950e"));
    }

    #[test]
    fn without_a_hash_there_are_no_buttons_and_the_host_decides() {
        let mut old = requested("{}", "owner");
        old.args_hash = None;
        old.origin = None;
        let card = render(&old, "telegram", &named);
        assert!(card.keyboard.is_none());
        assert!(card
            .html
            .contains("carapace confirm approve 0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(card.html.contains("unknown (this core reports no origin)"));
        assert_eq!(attachment_name("0f8f/../x"), "arguments-0f8fx.json");
    }
}
