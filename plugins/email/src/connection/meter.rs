//! The two stream layers that bound one IMAP command: [`Timed`] under TLS gives
//! the command one deadline in all (a server sending a byte every second passes
//! every per-read timeout, and rustls keeps reading a record until it is whole), and
//! [`Metered`] over TLS hands the plain bytes to the [`Lexer`] before the `imap`
//! crate reads them. Both share one [`Meter`], which [`super::Imap::command`]
//! restarts for every command.
//!
//! Hand-written because nothing in the `imap` crate bounds time or size (see
//! `limits`); this is the only protocol code here, and it only counts.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::limits::Lexer;

struct State {
    deadline: Instant,
    /// No command's deadline is later than this (a call's own deadline).
    cap: Option<Instant>,
    lexer: Lexer,
}

/// One command's deadline and byte budget, shared by the stream layers.
#[derive(Clone)]
pub struct Meter {
    state: Arc<Mutex<State>>,
    per_command: Duration,
}

/// The deadline of the command passed.
#[derive(Debug, thiserror::Error)]
#[error("the command's deadline passed")]
pub struct DeadlinePassed;

impl Meter {
    /// A meter whose first command (connecting and logging in) starts now.
    pub fn new(per_command: Duration) -> Meter {
        Meter {
            state: Arc::new(Mutex::new(State {
                deadline: Instant::now() + per_command,
                cap: None,
                lexer: Lexer::new(),
            })),
            per_command,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new command: the deadline is `per_command` from now (never past the
    /// cap), the byte budget full.
    pub fn start_command(&self) {
        let mut state = self.lock();
        let own = Instant::now() + self.per_command;
        state.deadline = state.cap.map_or(own, |cap| own.min(cap));
        state.lexer.new_command();
    }

    /// From the next command on, no command runs past `cap` (`None`: no cap).
    pub fn cap(&self, cap: Option<Instant>) {
        self.lock().cap = cap;
    }

    /// When the current command must be done.
    pub fn deadline(&self) -> Instant {
        self.lock().deadline
    }

    /// Time left for the command, or `TimedOut`.
    fn left(&self) -> io::Result<Duration> {
        let left = self
            .lock()
            .deadline
            .saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, DeadlinePassed));
        }
        Ok(left)
    }

    fn feed(&self, bytes: &[u8]) -> io::Result<()> {
        self.lock().lexer.feed(bytes).map_err(io::Error::other)
    }
}

/// TCP with every read and write bounded by what is left of the command's deadline.
pub struct Timed {
    tcp: TcpStream,
    meter: Meter,
}

impl Timed {
    /// `tcp` under `meter`.
    pub fn new(tcp: TcpStream, meter: Meter) -> Timed {
        Timed { tcp, meter }
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.meter.left()?;
        self.tcp.set_read_timeout(Some(left))?;
        self.tcp.read(buf)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.meter.left()?;
        self.tcp.set_write_timeout(Some(left))?;
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// A stream whose every byte read passes the command's [`Lexer`] first.
pub struct Metered<S> {
    inner: S,
    meter: Meter,
}

impl<S> Metered<S> {
    /// `inner` under `meter`.
    pub fn new(inner: S, meter: Meter) -> Metered<S> {
        Metered { inner, meter }
    }
}

impl<S: Read> Read for Metered<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.meter.feed(buf.get(..read).unwrap_or_default())?;
        Ok(read)
    }
}

impl<S: Write> Write for Metered<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for Metered<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metered")
            .field("inner", &self.inner)
            .finish()
    }
}
