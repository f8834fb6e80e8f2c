//! `email_send {to, cc, subject, body, in_reply_to}` over SMTP submission.
//!
//! The tool is `high` risk in the manifest: the core holds every call until the
//! person approves it, showing every argument (all recipients, the subject and the
//! whole body), and an approval covers that one call. Here the arguments are checked
//! again: recipients must be plain addresses (no name, comment or second address
//! hidden in one entry), subject and `in_reply_to` one line (a CR or LF could add a
//! header such as `Bcc:`), then the message is built by `lettre` (which encodes the
//! headers) and submitted with the account's own address as From.
//!
//! Must never: send to an address that was not in `to` or `cc`; send without TLS.

use carapace_plugin_sdk::ToolError;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials as SmtpCredentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::address::Address;
use crate::config::{Config, Security, Server};
use crate::error::EmailError;
use crate::secret::{Credentials, LoginSecret};

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

/// Submits `outgoing` to the configured SMTP server. With OAuth2, a refused login
/// is tried once more with a freshly refreshed access token.
pub fn submit(
    config: &Config,
    credentials: &Credentials,
    outgoing: &Outgoing,
) -> Result<Value, EmailError> {
    let attempts = if matches!(credentials, Credentials::OAuth2(_)) {
        2
    } else {
        1
    };
    let mut last = EmailError::Auth("no attempt".into());
    for _ in 0..attempts {
        match submit_once(config, credentials, outgoing) {
            Err(EmailError::Auth(why)) => {
                credentials.refused();
                last = EmailError::Auth(why);
            }
            other => return other,
        }
    }
    Err(last)
}

fn submit_once(
    config: &Config,
    credentials: &Credentials,
    outgoing: &Outgoing,
) -> Result<Value, EmailError> {
    let transport = transport(config, &config.smtp, credentials)?;
    // lettre ends DATA with CRLF "." CRLF whatever the message ends with: without
    // the message's own last CRLF, the server receives exactly `raw`, the bytes
    // the Sent folder keeps.
    let data = outgoing.raw.strip_suffix(b"\r\n").unwrap_or(&outgoing.raw);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| EmailError::Setup(format!("the SMTP runtime: {e}")))?;
    // One deadline for the whole exchange (connect, TLS, login, the mail): at
    // the deadline the future is dropped, which closes the connection.
    let deadline = std::time::Duration::from_secs(config.timeout_secs);
    let sent = runtime.block_on(async {
        tokio::time::timeout(
            deadline,
            transport.send_raw(outgoing.message.envelope(), data),
        )
        .await
    });
    let Ok(sent) = sent else {
        return Err(EmailError::Unfinished);
    };
    match sent {
        Ok(_) => Ok(json!({
            "sent": true,
            "recipients": outgoing.recipients,
        })),
        Err(error) => {
            let code = error.status().map(|c| c.to_string()).unwrap_or_default();
            if code == "535" || code == "534" {
                return Err(EmailError::Auth("the SMTP server refused the login".into()));
            }
            if error.is_tls() {
                return Err(EmailError::Tls("SMTP TLS failed".into()));
            }
            if error.is_permanent() {
                return Err(EmailError::Rejected(code));
            }
            if error.is_transient() {
                return Err(EmailError::Server(format!(
                    "SMTP deferred the mail ({code})"
                )));
            }
            Err(EmailError::Network("SMTP exchange failed".into()))
        }
    }
}

fn transport(
    config: &Config,
    server: &Server,
    credentials: &Credentials,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, EmailError> {
    let mut tls = TlsParameters::builder(
        server
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    );
    if let Some(path) = &server.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| EmailError::Setup(format!("smtp.ca_file {}: {e}", path.display())))?;
        let certificate = Certificate::from_pem(&pem).map_err(|_| {
            EmailError::Setup(format!(
                "smtp.ca_file {} holds no certificate",
                path.display()
            ))
        })?;
        tls = tls
            .certificate_store(CertificateStore::None)
            .add_root_certificate(certificate);
    } else {
        tls = tls.certificate_store(CertificateStore::WebpkiRoots);
    }
    if server.insecure {
        tls = tls.dangerous_accept_invalid_certs(true);
    }
    let tls = tls
        .build_rustls()
        .map_err(|_| EmailError::Setup("SMTP TLS settings".into()))?;
    let (smtp_credentials, mechanisms) = match credentials.login_secret()? {
        LoginSecret::Password(password) => (
            SmtpCredentials::new(config.login().to_owned(), password),
            vec![Mechanism::Plain, Mechanism::Login],
        ),
        LoginSecret::Bearer(token) => (
            SmtpCredentials::new(config.login().to_owned(), token),
            vec![Mechanism::Xoauth2],
        ),
    };
    let mode = match server.security {
        Security::Tls => Tls::Wrapper(tls),
        Security::Starttls => Tls::Required(tls),
    };
    Ok(
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server.host.clone())
            .port(server.port)
            .tls(mode)
            .credentials(smtp_credentials)
            .authentication(mechanisms)
            .timeout(Some(std::time::Duration::from_secs(config.timeout_secs)))
            .build(),
    )
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
