//! One IMAP session kept open between calls (a login per call would cost a TLS
//! handshake and an authentication each time). Calls take turns on it; a call that
//! finds it broken (network error, timeout) reconnects once and runs again. A
//! refused login with OAuth2 drops the cached access token and tries once more
//! with a fresh one. A session whose server broke a bound or the protocol
//! ([`EmailError::Unreadable`]) is dropped, never used again, and not retried: the
//! next call connects anew.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::connection::{open_by, Imap, Session};
use crate::error::EmailError;
use crate::secret::Credentials;

/// A logged-in session and what its server can do.
pub struct Live {
    /// The session.
    pub imap: Imap,
    /// The server takes non-synchronizing literals (RFC 7888).
    pub literal_plus: bool,
}

impl Live {
    /// The session for one command (see [`Imap::command`]).
    pub fn command(&mut self) -> &mut Session {
        self.imap.command()
    }
}

/// The kept session.
pub struct Connection {
    config: Arc<Config>,
    credentials: Credentials,
    live: Mutex<Option<Live>>,
}

impl Connection {
    /// Not connected yet.
    pub fn new(config: Arc<Config>, credentials: Credentials) -> Connection {
        Connection {
            config,
            credentials,
            live: Mutex::new(None),
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout_secs)
    }

    /// A fresh session (logging in, with one retry after a refused OAuth2 token).
    pub fn connect(&self) -> Result<Live, EmailError> {
        self.connect_by(None)
    }

    fn connect_by(&self, until: Option<Instant>) -> Result<Live, EmailError> {
        // The session's commands end by `until` until `run` lifts the cap after
        // the call's work; each keeps its own `timeout_secs` (the session is kept).
        let open_one = || {
            let secret = self.credentials.login_secret(until)?;
            open_by(
                &self.config.imap,
                self.config.login(),
                &secret,
                self.timeout(),
                until,
            )
        };
        let session = match open_one() {
            Err(EmailError::Auth(_)) if matches!(self.credentials, Credentials::OAuth2(_)) => {
                self.credentials.refused();
                open_one()?
            }
            other => other?,
        };
        let mut live = Live {
            imap: session,
            literal_plus: false,
        };
        let capabilities = live
            .command()
            .capabilities()
            .map_err(crate::error::from_imap)?;
        live.literal_plus = capabilities.has_str("LITERAL+");
        Ok(live)
    }

    /// Runs `work` on the kept session, connecting first if needed; after a network
    /// failure, once more on a new session.
    pub fn with<T>(
        &self,
        work: impl FnMut(&mut Live) -> Result<T, EmailError>,
    ) -> Result<T, EmailError> {
        self.run(work, true, None)
    }

    /// [`Connection::with`], with no command (nor the connecting) running past
    /// `until`, if given.
    pub fn with_by<T>(
        &self,
        until: Option<Instant>,
        work: impl FnMut(&mut Live) -> Result<T, EmailError>,
    ) -> Result<T, EmailError> {
        self.run(work, true, until)
    }

    /// Runs `work` as [`Connection::with`] does, but never twice: for a command
    /// that must not be repeated when its answer was lost (APPEND would store a
    /// second copy). Call [`Connection::with`] with a NOOP first so a kept
    /// session the server closed meanwhile is replaced before it.
    pub fn once<T>(
        &self,
        work: impl FnMut(&mut Live) -> Result<T, EmailError>,
    ) -> Result<T, EmailError> {
        self.run(work, false, None)
    }

    /// [`Connection::once`], with no command (nor the connecting) running past
    /// `until`, if given.
    pub fn once_by<T>(
        &self,
        until: Option<Instant>,
        work: impl FnMut(&mut Live) -> Result<T, EmailError>,
    ) -> Result<T, EmailError> {
        self.run(work, false, until)
    }

    fn run<T>(
        &self,
        mut work: impl FnMut(&mut Live) -> Result<T, EmailError>,
        again_on_new_session: bool,
        until: Option<Instant>,
    ) -> Result<T, EmailError> {
        // The cap is the call's alone: it is lifted before the session is kept.
        let mut work = |live: &mut Live| {
            live.imap.cap(until);
            let answer = work(live);
            live.imap.cap(None);
            answer
        };
        let mut kept = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let reused = kept.is_some();
        let mut live = match kept.take() {
            Some(live) => live,
            None => self.connect_by(until)?,
        };
        match work(&mut live) {
            Ok(value) => {
                *kept = Some(live);
                Ok(value)
            }
            // A TLS error is sticky in rustls: that session answers it for ever.
            Err(EmailError::Network(_) | EmailError::Tls(_)) if reused && again_on_new_session => {
                drop(live);
                let mut fresh = self.connect_by(until)?;
                let answer = work(&mut fresh);
                if !answer.as_ref().is_err_and(EmailError::ends_session) {
                    *kept = Some(fresh);
                }
                answer
            }
            Err(error) if error.ends_session() => Err(error),
            Err(other) => {
                *kept = Some(live);
                Err(other)
            }
        }
    }

    /// Logs out and forgets the session (at shutdown).
    pub fn close(&self) {
        let mut kept = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(mut live) = kept.take() {
            let _ = live.command().logout();
        }
    }
}
