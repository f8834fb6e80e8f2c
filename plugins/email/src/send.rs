//! `email_send {to, cc, subject, body, in_reply_to}` over SMTP submission.
//!
//! The tool is `high` risk in the manifest: the core holds every call until the
//! person approves it, showing every argument (all recipients, the subject and the
//! whole body), and an approval covers that one call. Here the arguments are checked
//! again: recipients must be plain addresses (no name, comment or second address
//! hidden in one entry), subject and `in_reply_to` one line (a CR or LF could add a
//! header such as `Bcc:`), then the message is built by `lettre` (which encodes the
//! headers) with the account's own address as From, for `smtp` to submit.
//!
//! Must never: send to an address that was not in `to` or `cc`; send without TLS.

use carapace_plugin_sdk::ToolError;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::Message;
use serde::Deserialize;

use crate::address::Address;
use crate::config::Config;

/// Most recipients (to + cc) of one mail.
pub const MAX_RECIPIENTS: usize = 50;
/// Longest subject, in characters.
pub const MAX_SUBJECT: usize = 500;

/// The tool's arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendArgs {
    /// Recipients.
    pub to: Vec<String>,
    /// Copy recipients.
    #[serde(default)]
    pub cc: Vec<String>,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// The Message-ID (`<...>`) this answers.
    #[serde(default)]
    pub in_reply_to: Option<String>,
}

/// A mail ready to submit.
pub struct Outgoing {
    /// The built message.
    pub message: Message,
    /// The message's bytes: what SMTP gets and the Sent folder keeps.
    pub raw: Vec<u8>,
    /// Every recipient, for the answer.
    pub recipients: Vec<String>,
}

/// Checks `args` and builds the message from `config.address`.
pub fn build(config: &Config, args: &SendArgs) -> Result<Outgoing, ToolError> {
    if args.to.is_empty() {
        return Err(ToolError::invalid("to", "at least one recipient"));
    }
    if args.to.len() + args.cc.len() > MAX_RECIPIENTS {
        return Err(ToolError::invalid(
            "to",
            format!("at most {MAX_RECIPIENTS} recipients in to and cc"),
        ));
    }
    let from_address = config
        .address
        .parse()
        .map_err(|_| ToolError::new("CONFIG_ERROR: the configured address is unusable"))?;
    let display = config
        .display_name
        .as_deref()
        .map(|n| crate::text::one_line(n, 100));
    let mut builder = Message::builder().from(Mailbox::new(display, from_address));
    let mut recipients = Vec::new();
    for (field, list) in [("to", &args.to), ("cc", &args.cc)] {
        for (index, text) in list.iter().enumerate() {
            let refused = || {
                ToolError::invalid(
                    format!("{field}.{index}"),
                    "not a plain address (name@example.com)",
                )
            };
            let checked = Address::parse(text).ok_or_else(refused)?;
            let address: lettre::Address = checked.as_str().parse().map_err(|_| refused())?;
            let mailbox = Mailbox::new(None, address);
            builder = if field == "to" {
                builder.to(mailbox)
            } else {
                builder.cc(mailbox)
            };
            recipients.push(checked.as_str().to_owned());
        }
    }
    if args.subject.chars().any(char::is_control) {
        return Err(ToolError::invalid(
            "subject",
            "one line: no line breaks or control characters",
        ));
    }
    if args.subject.chars().count() > MAX_SUBJECT {
        return Err(ToolError::invalid(
            "subject",
            format!("at most {MAX_SUBJECT} characters"),
        ));
    }
    builder = builder.subject(args.subject.clone());
    if let Some(reply) = &args.in_reply_to {
        if !is_message_id(reply) {
            return Err(ToolError::invalid(
                "in_reply_to",
                "a Message-ID like <abc@example.com> (email_read gives it)",
            ));
        }
        builder = builder.in_reply_to(reply.clone()).references(reply.clone());
    }
    if args.body.contains('\0') {
        return Err(ToolError::invalid("body", "must not contain NUL"));
    }
    let message = builder
        .header(ContentType::TEXT_PLAIN)
        .body(args.body.clone())
        .map_err(|_| ToolError::new("the message could not be built"))?;
    // SMTP's DATA always ends in CRLF: a message that does not is given it here, so
    // the bytes the server gets are `raw` exactly.
    let mut raw = message.formatted();
    if !raw.ends_with(b"\r\n") {
        raw.extend_from_slice(b"\r\n");
    }
    Ok(Outgoing {
        message,
        raw,
        recipients,
    })
}

/// `<left@right>` with printable ASCII, no spaces, at most 998 bytes.
pub fn is_message_id(text: &str) -> bool {
    text.len() <= 998
        && text.starts_with('<')
        && text.ends_with('>')
        && text.contains('@')
        && text[1..text.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> Config {
        serde_json::from_value(json!({
            "address": "me@example.com",
            "imap": {"host": "h", "port": 993, "security": "tls"},
            "smtp": {"host": "h", "port": 465, "security": "tls"},
        }))
        .expect("test value")
    }

    fn args(to: &[&str], subject: &str) -> SendArgs {
        SendArgs {
            to: to.iter().map(|s| s.to_string()).collect(),
            cc: vec![],
            subject: subject.into(),
            body: "hi".into(),
            in_reply_to: None,
        }
    }

    #[test]
    fn header_injection_is_refused() {
        let e = build(&config(), &args(&["a@b.co"], "hi\r\nBcc: evil@x.com"))
            .err()
            .expect("test value");
        assert_eq!(e.field.as_deref(), Some("subject"));
        let e = build(&config(), &args(&["a@b.co\r\nBcc: evil@x.com"], "hi"))
            .err()
            .expect("test value");
        assert_eq!(e.field.as_deref(), Some("to.0"));
        let e = build(&config(), &args(&["a@b.co", "x@y.co, evil@x.com"], "hi"))
            .err()
            .expect("test value");
        assert_eq!(e.field.as_deref(), Some("to.1"));
        let mut reply = args(&["a@b.co"], "hi");
        reply.in_reply_to = Some("<a@b>\r\nBcc: evil@x.com".into());
        assert_eq!(
            build(&config(), &reply)
                .err()
                .expect("test value")
                .field
                .as_deref(),
            Some("in_reply_to")
        );
    }

    #[test]
    fn the_built_message_has_exactly_the_recipients() {
        let mut a = args(&["a@b.co"], "Grüße");
        a.cc = vec!["c@d.co".into()];
        a.body = "line1\r\n.\r\nBcc: x@y.co".into();
        let out = build(&config(), &a).expect("test value");
        assert_eq!(out.recipients, vec!["a@b.co", "c@d.co"]);
        let envelope = out.message.envelope();
        let to: Vec<String> = envelope.to().iter().map(|a| a.to_string()).collect();
        assert_eq!(to, vec!["a@b.co", "c@d.co"]);
        let formatted = String::from_utf8(out.message.formatted()).expect("test value");
        let (headers, _) = formatted.split_once("\r\n\r\n").expect("test value");
        assert!(!headers.contains("Bcc:"), "{formatted}");
    }
}
