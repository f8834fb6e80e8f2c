//! A blocking ZMTP 3 peer on a Unix stream, for the clients of the core's
//! sockets: the `ipc` binary (a DEALER on a session socket) and `carapace
//! events` (a SUB on the event bus). Every read and write is bounded by an
//! optional deadline, and answers are bounded like requests: a frame over the
//! limit ends the connection before its body is read.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::codec::{self as zmtp, Assembler, Decoder, Event, Message, ZmtpError};

/// Why an exchange with the core ended.
#[derive(Debug)]
pub enum ClientError {
    /// The deadline passed.
    Timeout,
    /// The core closed the connection.
    Closed,
    /// The core broke the protocol (or sent something over the bounds).
    Protocol(ZmtpError),
    /// Reading or writing failed.
    Io(std::io::Error),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Timeout => write!(f, "timed out"),
            ClientError::Closed => write!(f, "the connection was closed"),
            ClientError::Protocol(e) => write!(f, "protocol error: {e}"),
            ClientError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// One connection, past the handshake.
pub struct ClientConnection {
    stream: UnixStream,
    decoder: Decoder,
    assembler: Assembler,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    deadline: Option<Instant>,
}

impl ClientConnection {
    /// Greets the peer as `socket_type`, and checks that it answers as one of
    /// `peer_types`; frames and messages over `max_bytes` are refused.
    pub fn handshake(
        stream: UnixStream,
        socket_type: &str,
        peer_types: &[&str],
        max_bytes: usize,
        deadline: Option<Instant>,
    ) -> Result<ClientConnection, ClientError> {
        let mut connection = ClientConnection {
            stream,
            decoder: Decoder::new(max_bytes),
            assembler: Assembler::new(3, max_bytes),
            buf: vec![0; 16 << 10],
            start: 0,
            end: 0,
            deadline,
        };
        let mut hello = zmtp::greeting(false).to_vec();
        hello.extend(zmtp::ready(socket_type));
        connection.write(&hello)?;
        match connection.next_event()? {
            Event::Greeting(_) => {}
            _ => return Err(ClientError::Protocol(ZmtpError::BadSignature)),
        }
        match connection.next_event()? {
            Event::Command(command) => {
                zmtp::accept_ready(&command, peer_types).map_err(ClientError::Protocol)?;
            }
            _ => return Err(ClientError::Protocol(ZmtpError::FrameBeforeReady)),
        }
        Ok(connection)
    }

    /// Sends one message. Only after the handshake: a ZeroMQ peer takes any
    /// frame before its own READY went out as a handshake command.
    pub fn send(&mut self, frames: &[&[u8]]) -> Result<(), ClientError> {
        let mut bytes = Vec::with_capacity(frames.iter().map(|f| f.len() + 9).sum());
        zmtp::encode_message(&mut bytes, frames);
        self.write(&bytes)
    }

    /// The next whole message (PINGs are answered on the way).
    pub fn receive(&mut self) -> Result<Message, ClientError> {
        loop {
            match self.next_event()? {
                Event::Header { len } => {
                    self.assembler.admit(len).map_err(ClientError::Protocol)?;
                }
                Event::Frame(frame) => {
                    let message = self.assembler.push(frame).map_err(ClientError::Protocol)?;
                    if let Some(message) = message {
                        return Ok(message);
                    }
                }
                Event::Command(command) => match zmtp::pong_for(&command) {
                    Some(pong) => self.write(&pong)?,
                    None => {
                        let name = String::from_utf8_lossy(&command.name).into_owned();
                        return Err(ClientError::Protocol(ZmtpError::UnexpectedCommand(name)));
                    }
                },
                Event::Greeting(_) => return Err(ClientError::Protocol(ZmtpError::BadSignature)),
            }
        }
    }

    fn next_event(&mut self) -> Result<Event, ClientError> {
        loop {
            let (used, event) = self
                .decoder
                .decode(&self.buf[self.start..self.end])
                .map_err(ClientError::Protocol)?;
            self.start += used;
            if let Some(event) = event {
                return Ok(event);
            }
            let _ = self.stream.set_read_timeout(self.remaining()?);
            match self.stream.read(&mut self.buf) {
                Ok(0) => return Err(ClientError::Closed),
                Ok(n) => {
                    self.start = 0;
                    self.end = n;
                }
                Err(e) if is_timeout(&e) => return Err(ClientError::Timeout),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(ClientError::Io(e)),
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        let _ = self.stream.set_write_timeout(self.remaining()?);
        self.stream.write_all(bytes).map_err(|e| {
            if is_timeout(&e) {
                ClientError::Timeout
            } else {
                ClientError::Io(e)
            }
        })
    }

    /// Time left before the deadline (`None`: no deadline); none left is a timeout.
    fn remaining(&self) -> Result<Option<Duration>, ClientError> {
        match self.deadline {
            None => Ok(None),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    Err(ClientError::Timeout)
                } else {
                    Ok(Some(left))
                }
            }
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}
