//! IMAP connections: TCP with a deadline, TLS (implicit or after STARTTLS) with the
//! server's configured trust, then LOGIN or AUTHENTICATE XOAUTH2. Every command runs
//! under a [`meter::Meter`]: one deadline for the whole command and bounds on what
//! the server may send for it (`limits`).
//!
//! Must never: say anything but STARTTLS before TLS; log the password or token; run
//! a command without restarting its meter ([`Imap::command`]).

pub mod limits;
pub mod live;
pub mod meter;
pub mod quote;
pub mod starttls;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use rustls::{ClientConnection, StreamOwned};

use crate::config::{Security, Server};
use crate::error::{from_imap, io, EmailError};
use crate::secret::LoginSecret;
use meter::{Meter, Metered, Timed};

/// The stream an IMAP session runs on: TLS over timed TCP, its plain bytes metered.
pub type Stream = Metered<StreamOwned<ClientConnection, Timed>>;
/// A logged-in IMAP session.
pub type Session = imap::Session<Stream>;

/// A logged-in session whose commands each run under a fresh meter.
pub struct Imap {
    session: Session,
    meter: Meter,
}

impl Imap {
    /// The session, for one command: its deadline and byte budget start now, and
    /// what the server said unasked since the last command is dropped (the `imap`
    /// crate keeps every unsolicited response until someone takes them).
    pub fn command(&mut self) -> &mut Session {
        self.meter.start_command();
        drop(self.session.take_all_unsolicited());
        &mut self.session
    }

    /// From the next command on, none runs past `cap` (`None`: each has its own
    /// deadline only).
    pub fn cap(&mut self, cap: Option<Instant>) {
        self.meter.cap(cap);
    }
}

/// Opens TCP to `server` (the name resolved, each address tried with an equal
/// share of the time left) before `deadline`; [`Timed`] bounds each read and
/// write after that.
pub fn tcp(server: &Server, deadline: Instant) -> Result<TcpStream, EmailError> {
    let addresses = crate::resolve::addresses(&server.host, server.port, deadline)?;
    let mut last = EmailError::Network("host has no address".into());
    for (index, address) in addresses.iter().enumerate() {
        let Some(share) = crate::resolve::share(deadline, addresses.len() - index) else {
            return Err(EmailError::Network(
                "the server was not reached in time".into(),
            ));
        };
        match TcpStream::connect_timeout(address, share) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = io(&e),
        }
    }
    Err(last)
}

/// TLS over `tcp` with `server`'s trust, handshake done (so a refused certificate
/// shows here, as [`EmailError::Tls`]).
pub fn tls(
    server: &Server,
    mut tcp: Timed,
) -> Result<StreamOwned<ClientConnection, Timed>, EmailError> {
    let config = crate::tls::client_config(server)?;
    let name = crate::tls::server_name(&server.host)?;
    let mut connection =
        ClientConnection::new(config, name).map_err(|e| EmailError::Tls(e.to_string()))?;
    while connection.is_handshaking() {
        connection.complete_io(&mut tcp).map_err(|e| io(&e))?;
    }
    Ok(StreamOwned::new(connection, tcp))
}

/// A new logged-in session; connecting and logging in are its first command, so
/// they share one deadline of `timeout`, as each later command has.
pub fn open(
    server: &Server,
    login: &str,
    secret: &LoginSecret,
    timeout: Duration,
) -> Result<Imap, EmailError> {
    open_by(server, login, secret, timeout, None)
}

/// [`open`], no command running past `cap` until it is lifted
/// ([`Imap::cap`]); each command's own deadline stays `timeout`.
pub fn open_by(
    server: &Server,
    login: &str,
    secret: &LoginSecret,
    timeout: Duration,
    cap: Option<Instant>,
) -> Result<Imap, EmailError> {
    let meter = Meter::new(timeout);
    meter.cap(cap);
    meter.start_command();
    let mut tcp = Timed::new(tcp(server, meter.deadline())?, meter.clone());
    if server.security == Security::Starttls {
        starttls::upgrade(&mut tcp)?;
    }
    let stream = Metered::new(tls(server, tcp)?, meter.clone());
    let mut client = imap::Client::new(stream);
    if server.security == Security::Tls {
        client.read_greeting().map_err(from_imap)?;
    }
    let logged_in = match secret {
        LoginSecret::Password(password) => client.login(login, password.as_str()),
        LoginSecret::Bearer(token) => client.authenticate(
            "XOAUTH2",
            &XOAuth2 {
                user: login.to_owned(),
                token: token.clone(),
            },
        ),
    };
    let session = logged_in.map_err(|(error, _)| match error {
        imap::Error::No(_) | imap::Error::Bad(_) => {
            EmailError::Auth("the server refused the login".into())
        }
        other => from_imap(other),
    })?;
    Ok(Imap { session, meter })
}

/// The SASL XOAUTH2 exchange: the initial response, then an empty answer to the
/// error challenge a refusing server sends.
struct XOAuth2 {
    user: String,
    token: String,
}

impl imap::Authenticator for XOAuth2 {
    type Response = String;
    fn process(&self, challenge: &[u8]) -> String {
        if challenge.is_empty() {
            xoauth2_response(&self.user, &self.token)
        } else {
            String::new()
        }
    }
}

/// The XOAUTH2 initial client response (before base64).
pub fn xoauth2_response(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}
