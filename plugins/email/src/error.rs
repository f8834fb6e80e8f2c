//! The plugin's errors, and the one place they become what the agent sees.
//!
//! Must never put a password, a token, a server's words about a credential or a
//! mail's content into a message: the agent sees these, the log gets `kind()`.

use carapace_plugin_sdk::ToolError;

/// What went wrong talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// The server (or the token endpoint) refused the credentials.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The refresh token was revoked or expired (`invalid_grant`).
    #[error("the OAuth2 refresh token is no longer valid")]
    Revoked,
    /// The server could not be reached, or the connection broke.
    #[error("connection failed: {0}")]
    Network(String),
    /// The TLS handshake failed (certificate not trusted, wrong name...).
    #[error("TLS failed: {0}")]
    Tls(String),
    /// The server answered NO/BAD.
    #[error("the server refused: {0}")]
    Server(String),
    /// The server's answer broke a bound (too long, too deep: `connection::limits`)
    /// or could not be parsed; the session is not used again.
    #[error("unreadable answer: {0}")]
    Unreadable(&'static str),
    /// The id names a message that no longer exists as named.
    #[error("stale id")]
    Stale,
    /// The server refused the mail for good (an SMTP 5xx code).
    #[error("the mail was refused ({0})")]
    Rejected(String),
    /// The message does not exist.
    #[error("not found")]
    NotFound,
    /// The folder the arguments name does not exist.
    #[error("no such folder")]
    NoFolder,
    /// The server lacks what the plugin needs to do this safely.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// Local setup (CA file, config) is wrong.
    #[error("setup: {0}")]
    Setup(String),
    /// A command that changes something (SMTP's mail, IMAP's MOVE) was cut, by
    /// the deadline or a broken connection, before the server confirmed it: it
    /// may or may not have taken effect.
    #[error("cut before the server confirmed it")]
    Unfinished,
}

impl EmailError {
    /// Whether the session this came from is broken and must not be used again:
    /// the connection failed or was cut, TLS failed (rustls errors are sticky),
    /// or the server broke a bound (`connection::limits`).
    pub fn ends_session(&self) -> bool {
        matches!(
            self,
            EmailError::Network(_)
                | EmailError::Tls(_)
                | EmailError::Unreadable(_)
                | EmailError::Unfinished
        )
    }

    /// A short name for logs (never carries a secret).
    pub fn kind(&self) -> &'static str {
        match self {
            EmailError::Auth(_) => "auth",
            EmailError::Revoked => "revoked",
            EmailError::Network(_) => "network",
            EmailError::Tls(_) => "tls",
            EmailError::Server(_) => "server",
            EmailError::Unreadable(why) => why,
            EmailError::Stale => "stale",
            EmailError::Rejected(_) => "rejected",
            EmailError::NotFound => "not_found",
            EmailError::NoFolder => "no_folder",
            EmailError::Unsupported(_) => "unsupported",
            EmailError::Setup(_) => "setup",
            EmailError::Unfinished => "unfinished",
        }
    }

    /// What the agent sees: the code `AUTH_ERROR` / `UPSTREAM_UNAVAILABLE` / ... leads
    /// the message, since the SDK's own codes are only three.
    pub fn to_tool(&self, what: &str) -> ToolError {
        match self {
            EmailError::Auth(_) => ToolError::new(format!(
                "AUTH_ERROR: the mail server refused the plugin's credentials while {what}; the person must check them (carapace doctor)"
            )),
            EmailError::Revoked => ToolError::new(format!(
                "AUTH_ERROR: the OAuth2 sign-in was revoked or expired while {what}; the person must run `carapace auth login --plugin email`"
            )),
            EmailError::Network(_) => ToolError::retriable(format!(
                "UPSTREAM_UNAVAILABLE: the mail server could not be reached while {what}; try again later"
            )),
            EmailError::Tls(_) => ToolError::new(format!(
                "TLS_ERROR: the mail server's certificate was not accepted while {what}; the person must check the server or its ca_file"
            )),
            EmailError::Server(_) => ToolError::retriable(format!(
                "UPSTREAM_ERROR: the mail server refused the request while {what}"
            )),
            EmailError::Unreadable(_) => ToolError::retriable(format!(
                "UPSTREAM_ERROR: the mail server sent an answer the plugin does not accept (too large, too deeply nested or unreadable) while {what}"
            )),
            EmailError::Stale => ToolError::invalid(
                "id",
                "the id is stale: the folder was recreated (UIDVALIDITY changed); search again",
            ),
            EmailError::NotFound => {
                ToolError::invalid("id", "no such message (moved or deleted?); search again")
            }
            EmailError::Rejected(code) => {
                let digits: String = code.chars().filter(char::is_ascii_digit).take(3).collect();
                let code = if digits.is_empty() { String::new() } else { format!(" (SMTP {digits})") };
                ToolError::new(format!(
                    "UPSTREAM_REFUSED: the mail server refused the mail for good{code} while {what}"
                ))
            }
            EmailError::NoFolder => ToolError::invalid("folder", "no such folder (email_list_folders lists them)"),
            EmailError::Unsupported(why) => ToolError::new(format!(
                "UPSTREAM_REFUSED: the mail server cannot do this safely ({why}) while {what}"
            )),
            EmailError::Setup(_) => ToolError::new(format!(
                "CONFIG_ERROR: the email plugin is not set up right ({what}); see carapace doctor"
            )),
            // Not retriable: the cut may have come after the server acted.
            EmailError::Unfinished => ToolError::new(format!(
                "UPSTREAM_UNAVAILABLE: the connection ended (or the time ran out) before the mail server confirmed {what}, so it may or may not have happened: check before doing it again, and do not send a mail again without asking the person"
            )),
        }
    }
}

/// An IMAP crate error, classified.
pub fn from_imap(error: imap::Error) -> EmailError {
    match error {
        imap::Error::Io(e) => io(&e),
        imap::Error::No(no) => EmailError::Server(no.information),
        imap::Error::Bad(bad) => EmailError::Server(bad.information),
        imap::Error::ConnectionLost => EmailError::Network("connection lost".into()),
        imap::Error::Parse(_) | imap::Error::TagMismatch(_) => {
            EmailError::Unreadable("unparsable answer")
        }
        imap::Error::Validate(_) => EmailError::Server("invalid argument".into()),
        other => EmailError::Server(other.to_string()),
    }
}

/// An I/O error, classified (a TLS alert arrives as an I/O error from rustls).
pub fn io(error: &std::io::Error) -> EmailError {
    if let Some(tls) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return EmailError::Tls(tls.to_string());
    }
    if let Some(exceeded) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<crate::connection::limits::Exceeded>())
    {
        return EmailError::Unreadable(exceeded.kind());
    }
    EmailError::Network(error.kind().to_string())
}
