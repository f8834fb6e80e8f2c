//! SMTP submission of one built mail, in two phases with one deadline over both.
//!
//! 1. The session: TCP (the name resolved by `resolve`), TLS (implicit, with the
//!    same rustls settings as IMAP, or lettre's STARTTLS), the greeting, EHLO and
//!    AUTH. Nothing has been sent yet, so any failure here is safe to retry:
//!    [`EmailError::Network`], `Tls`, `Auth`, `Setup`.
//! 2. The mail: MAIL FROM, RCPT TO, DATA. A refusal the server states (4xx, 5xx)
//!    means it did not take the mail; a cut connection or the deadline may have
//!    come after it did: [`EmailError::Unfinished`], never retried.
//!
//! Then QUIT, under a short timeout of its own and never past the deadline; its
//! failure changes nothing. Every byte read passes [`capped::Capped`] first.
//!
//! Must never: send without TLS; read more than `capped::MAX_SESSION_BYTES` from
//! a server; answer a retriable error once MAIL FROM was sent.

pub mod capped;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lettre::transport::smtp::authentication::{Credentials as SmtpCredentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, CertificateStore, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::time::timeout_at;

use crate::config::{Config, Security, Server};
use crate::error::EmailError;
use crate::secret::{Credentials, LoginSecret};
use crate::send::Outgoing;
use capped::Capped;

/// Longest wait for the answer to QUIT, after the mail was taken.
const QUIT_WAIT: Duration = Duration::from_secs(2);
/// The login methods for a password, in lettre's order of preference.
const PASSWORD: &[Mechanism] = &[Mechanism::Plain, Mechanism::Login];
/// The login method for an OAuth2 access token.
const BEARER: &[Mechanism] = &[Mechanism::Xoauth2];

/// Submits `outgoing` to the configured SMTP server: each attempt within
/// `timeout_secs`, and all by `until` (the call's deadline) if given. With OAuth2,
/// a refused login is tried once more with a freshly refreshed access token.
pub fn submit(
    config: &Config,
    credentials: &Credentials,
    outgoing: &Outgoing,
    until: Option<Instant>,
) -> Result<Value, EmailError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| EmailError::Setup(format!("the SMTP runtime: {e}")))?;
    let attempts = if matches!(credentials, Credentials::OAuth2(_)) {
        2
    } else {
        1
    };
    let mut sent = Err(EmailError::Auth("no attempt".into()));
    for _ in 0..attempts {
        // The token is fetched (maybe refreshed, by `until`) before the session:
        // a blocking refresh inside it would hold the runtime's timers.
        sent = credentials.login_secret(until).and_then(|secret| {
            let own = Instant::now() + Duration::from_secs(config.timeout_secs);
            let by = until.map_or(own, |until| own.min(until));
            runtime.block_on(exchange(config, &secret, outgoing, by))
        });
        if !matches!(sent, Err(EmailError::Auth(_))) {
            break;
        }
        credentials.refused();
    }
    // Nothing may be left waiting on the runtime, but never wait for it anyway.
    runtime.shutdown_background();
    sent
}

/// One session: phase 1, then the mail, then QUIT.
async fn exchange(
    config: &Config,
    secret: &LoginSecret,
    outgoing: &Outgoing,
    until: Instant,
) -> Result<Value, EmailError> {
    let deadline = tokio::time::Instant::from_std(until);
    let opened = timeout_at(deadline, session(config, &config.smtp, secret, until)).await;
    let mut connection = match opened {
        Ok(connection) => connection?,
        Err(_) => {
            return Err(EmailError::Network(
                "the SMTP server did not get ready in time".into(),
            ))
        }
    };
    // lettre ends DATA with CRLF "." CRLF whatever the message ends with: without
    // the message's own last CRLF, the server receives exactly `raw`, the bytes
    // the Sent folder keeps.
    let data = outgoing.raw.strip_suffix(b"\r\n").unwrap_or(&outgoing.raw);
    let envelope = outgoing.message.envelope();
    match timeout_at(deadline, connection.send(envelope, data)).await {
        Err(_) => return Err(EmailError::Unfinished),
        Ok(sent) => sent.map_err(after_mail_from)?,
    };
    let quit_by = deadline.min(tokio::time::Instant::now() + QUIT_WAIT);
    let _ = timeout_at(quit_by, connection.quit()).await;
    Ok(json!({
        "sent": true,
        "recipients": outgoing.recipients,
    }))
}

/// Phase 1: a logged-in session, ready for MAIL FROM.
async fn session(
    config: &Config,
    server: &Server,
    secret: &LoginSecret,
    until: Instant,
) -> Result<AsyncSmtpConnection, EmailError> {
    let (tcp, peer) = connect(server, until).await?;
    let hello = ClientId::default();
    let mut connection = match server.security {
        Security::Tls => {
            let tls = tokio_rustls::TlsConnector::from(crate::tls::client_config(server)?);
            let name = crate::tls::server_name(&server.host)?;
            let stream = tls
                .connect(name, tcp)
                .await
                .map_err(|e| crate::error::io(&e))?;
            let stream: Box<dyn AsyncTokioStream> = Box::new(Capped::new(stream, peer));
            AsyncSmtpConnection::connect_with_transport(stream, &hello)
                .await
                .map_err(before_mail_from)?
        }
        Security::Starttls => {
            let stream: Box<dyn AsyncTokioStream> = Box::new(Capped::by_line(tcp, peer));
            let mut connection = AsyncSmtpConnection::connect_with_transport(stream, &hello)
                .await
                .map_err(before_mail_from)?;
            if !connection.can_starttls() {
                return Err(EmailError::Tls(
                    "the SMTP server does not offer STARTTLS".into(),
                ));
            }
            connection
                .starttls(starttls_parameters(server)?, &hello)
                .await
                .map_err(before_mail_from)?;
            connection
        }
    };
    let (login, mechanisms) = match secret {
        LoginSecret::Password(password) => (
            SmtpCredentials::new(config.login().to_owned(), password.clone()),
            PASSWORD,
        ),
        LoginSecret::Bearer(token) => (
            SmtpCredentials::new(config.login().to_owned(), token.clone()),
            BEARER,
        ),
    };
    if !mechanisms
        .iter()
        .any(|m| connection.server_info().supports_auth_mechanism(*m))
    {
        return Err(EmailError::Setup(
            "the SMTP server offers none of the plugin's login methods".into(),
        ));
    }
    connection.auth(mechanisms, &login).await.map_err(|error| {
        // lettre answers a challenge to XOAUTH2 (how Gmail and Outlook refuse a
        // token: `334` with a JSON error) with a client error, no code.
        if error.is_client() {
            EmailError::Auth("the SMTP server refused the login".into())
        } else {
            before_mail_from(error)
        }
    })?;
    Ok(connection)
}

/// TCP to the first of `server`'s addresses that answers before `until`, each
/// tried with an equal share of the time left.
async fn connect(server: &Server, until: Instant) -> Result<(TcpStream, SocketAddr), EmailError> {
    let addresses = crate::resolve::addresses(&server.host, server.port, until)?;
    let mut last = EmailError::Network("host has no address".into());
    for (index, address) in addresses.iter().enumerate() {
        let Some(share) = crate::resolve::share(until, addresses.len() - index) else {
            break;
        };
        match tokio::time::timeout(share, TcpStream::connect(address)).await {
            Ok(Ok(tcp)) => {
                let _ = tcp.set_nodelay(true);
                return Ok((tcp, *address));
            }
            Ok(Err(e)) => last = crate::error::io(&e),
            Err(_) => last = EmailError::Network("the server did not answer in time".into()),
        }
    }
    Err(last)
}

/// lettre's TLS settings for STARTTLS, from the same `server` keys as
/// `tls::client_config` (lettre upgrades its own stream, so it needs its own).
fn starttls_parameters(server: &Server) -> Result<TlsParameters, EmailError> {
    let bare = server.host.trim_start_matches('[').trim_end_matches(']');
    let mut tls = TlsParameters::builder(bare.to_owned());
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
    tls.build_rustls()
        .map_err(|_| EmailError::Setup("SMTP TLS settings".into()))
}

/// A failure before MAIL FROM: nothing was sent, so it may be tried again.
fn before_mail_from(error: lettre::transport::smtp::Error) -> EmailError {
    let code = code_of(&error);
    if code == "535" || code == "534" {
        return EmailError::Auth("the SMTP server refused the login".into());
    }
    if error.is_tls() || tls_underneath(&error) {
        return EmailError::Tls("SMTP TLS failed".into());
    }
    if error.is_response() || error.is_permanent() || error.is_transient() {
        return EmailError::Server(format!("the SMTP server refused the session ({code})"));
    }
    EmailError::Network("SMTP exchange failed".into())
}

/// A failure once MAIL FROM was sent: a refusal the server stated means the mail
/// was not taken; anything else may have come after it was.
fn after_mail_from(error: lettre::transport::smtp::Error) -> EmailError {
    let code = code_of(&error);
    if error.is_permanent() || error.is_client() {
        return EmailError::Rejected(code);
    }
    if error.is_transient() {
        return EmailError::Server(format!("SMTP deferred the mail ({code})"));
    }
    EmailError::Unfinished
}

/// Whether a rustls error lies under `error` (lettre reports a failed STARTTLS
/// handshake as a connection error, the rustls error inside an I/O error).
fn tls_underneath(error: &lettre::transport::smtp::Error) -> bool {
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        let io_tls = inner
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| matches!(crate::error::io(io), EmailError::Tls(_)));
        if io_tls || inner.is::<rustls::Error>() {
            return true;
        }
        cause = inner.source();
    }
    false
}

fn code_of(error: &lettre::transport::smtp::Error) -> String {
    error.status().map(|c| c.to_string()).unwrap_or_default()
}
