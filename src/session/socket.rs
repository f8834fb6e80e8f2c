//! The session sockets: one libzmq ROUTER per session, all owned by one poller thread.
//!
//! libzmq sockets are not thread-safe, so a single thread binds, polls, reads
//! and writes them; the async side talks to it through channels and a wake-up
//! pipe. `ZMQ_MAXMSGSIZE` makes libzmq drop a peer that announces a frame over
//! the cap before anything is allocated. This module must never interpret a
//! message: it only moves bytes and says which session they arrived on.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use tokio::sync::{mpsc as tokio_mpsc, oneshot};

use crate::paths::MAX_SOCKET_PATH;

/// Frames over this size make libzmq drop the connection before reading them.
pub const ZMQ_MAX_MESSAGE: i64 = 4 << 20;
/// Messages queued per peer before libzmq stops reading from it.
const RECEIVE_HIGH_WATER: i32 = 16;
/// Answers queued per peer before further ones are dropped (with a warning).
/// It must absorb a burst of answers to a peer that is reading: the poller can
/// queue them faster than libzmq's I/O thread writes them out.
const SEND_HIGH_WATER: i32 = 128;
/// Messages read from one socket before the poller serves the others.
const READ_BATCH: usize = 64;

/// A message that arrived on a session socket.
#[derive(Debug)]
pub struct Inbound {
    /// The session whose socket it arrived on.
    pub session_id: String,
    /// The peer's routing id, needed to answer it.
    pub peer: Vec<u8>,
    /// Whether the peer used a REQ-style empty delimiter frame.
    pub delimited: bool,
    /// The message body, or `None` if the frames had an unexpected shape.
    pub body: Option<Vec<u8>>,
}

/// What a peer did to a session socket's connections, from libzmq's monitor.
#[derive(Debug)]
pub struct ConnectionEvent {
    /// The session whose socket saw it.
    pub session_id: String,
    /// `accepted`, `closed`, `handshake_failed` or `protocol_error`.
    pub kind: &'static str,
}

/// Everything the poller thread reports to the async side.
#[derive(Debug)]
pub enum SocketEvent {
    /// A message to run through the pipeline.
    Message(Inbound),
    /// A connection came, went, or was dropped by libzmq.
    Connection(ConnectionEvent),
}

/// An answer to send back to a peer.
#[derive(Debug)]
pub struct Outbound {
    /// The session socket to send on.
    pub session_id: String,
    /// The peer's routing id.
    pub peer: Vec<u8>,
    /// Whether to add the empty delimiter frame.
    pub delimited: bool,
    /// The response bytes.
    pub body: Vec<u8>,
}

/// Why a session socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The path does not fit in a Unix socket address.
    #[error("socket path {path} is {len} bytes; Unix sockets allow {MAX_SOCKET_PATH}: set CARAPACE_HOME to a shorter directory")]
    PathTooLong {
        /// The socket path.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
    },
    /// libzmq or the file system refused.
    #[error("cannot bind {path}: {message}")]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The poller thread is gone.
    #[error("the session socket thread has stopped")]
    Stopped,
}

enum Command {
    Bind {
        session_id: String,
        path: PathBuf,
        done: oneshot::Sender<Result<(), BindError>>,
    },
    Unbind {
        session_id: String,
        done: oneshot::Sender<()>,
    },
    Send(Outbound),
    Publish {
        topic: String,
        payload: Vec<u8>,
    },
    Stop,
}

/// Handle to the poller thread; cheap to clone.
#[derive(Clone)]
pub struct SocketServer {
    commands: mpsc::Sender<Command>,
    waker: std::sync::Arc<UnixStream>,
}

impl SocketServer {
    /// Starts the poller thread; inbound messages go to `inbound`, events are
    /// published on a PUB socket at `events_socket` when one is given.
    pub fn start(
        inbound: tokio_mpsc::Sender<SocketEvent>,
        events_socket: Option<&Path>,
    ) -> std::io::Result<SocketServer> {
        let (wake_tx, wake_rx) = UnixStream::pair()?;
        wake_tx.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        let (commands, command_rx) = mpsc::channel();
        let context = zmq::Context::new();
        let events = match events_socket {
            Some(path) => Some(bind_publisher(&context, path)?),
            None => None,
        };
        let poller = Poller {
            events,
            context,
            sockets: HashMap::new(),
            order: Vec::new(),
            commands: command_rx,
            wake: wake_rx,
            inbound,
        };
        std::thread::Builder::new()
            .name("session-sockets".into())
            .spawn(move || poller.run())?;
        Ok(SocketServer {
            commands,
            waker: std::sync::Arc::new(wake_tx),
        })
    }

    fn send_command(&self, command: Command) -> bool {
        if self.commands.send(command).is_err() {
            return false;
        }
        // A full pipe already holds a pending wake-up, so WouldBlock is fine.
        let _ = (&*self.waker).write(&[1]);
        true
    }

    /// Binds a ROUTER for `session_id` at `path` (removing a stale file first).
    pub async fn bind(&self, session_id: &str, path: &Path) -> Result<(), BindError> {
        let len = path.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            return Err(BindError::PathTooLong {
                path: path.to_owned(),
                len,
            });
        }
        let (done, wait) = oneshot::channel();
        let sent = self.send_command(Command::Bind {
            session_id: session_id.to_owned(),
            path: path.to_owned(),
            done,
        });
        if !sent {
            return Err(BindError::Stopped);
        }
        wait.await.map_err(|_| BindError::Stopped)?
    }

    /// Closes a session's socket and removes its file.
    pub async fn unbind(&self, session_id: &str) {
        let (done, wait) = oneshot::channel();
        if self.send_command(Command::Unbind {
            session_id: session_id.to_owned(),
            done,
        }) {
            let _ = wait.await;
        }
    }

    /// Queues an answer; dropped if the peer is gone or not reading.
    pub fn send(&self, message: Outbound) {
        self.send_command(Command::Send(message));
    }

    /// Publishes an event on the bus (`run/events.sock`): two frames, topic and JSON.
    pub fn publish(&self, topic: &str, payload: &serde_json::Value) {
        self.send_command(Command::Publish {
            topic: topic.to_owned(),
            payload: serde_json::to_vec(payload).unwrap_or_default(),
        });
    }

    /// Stops the thread, closing every socket.
    pub fn stop(&self) {
        self.send_command(Command::Stop);
    }
}

struct Bound {
    socket: zmq::Socket,
    monitor: zmq::Socket,
    path: PathBuf,
}

struct Poller {
    events: Option<zmq::Socket>,
    context: zmq::Context,
    sockets: HashMap<String, Bound>,
    order: Vec<String>,
    commands: mpsc::Receiver<Command>,
    wake: UnixStream,
    inbound: tokio_mpsc::Sender<SocketEvent>,
}

impl Poller {
    fn run(mut self) {
        loop {
            let readable = match self.poll() {
                Ok(readable) => readable,
                Err(e) => {
                    tracing::error!(error = %e, "session socket poll failed");
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                }
            };
            if readable.first() == Some(&true) {
                let mut sink = [0u8; 256];
                while matches!((&self.wake).read(&mut sink), Ok(n) if n > 0) {}
                if !self.handle_commands() {
                    break;
                }
            }
            let sessions: Vec<String> = self.order.clone();
            for (i, id) in sessions.iter().enumerate() {
                let message_ready = readable.get(1 + 2 * i) == Some(&true);
                let monitor_ready = readable.get(2 + 2 * i) == Some(&true);
                if (message_ready && !self.read_from(id))
                    || (monitor_ready && !self.read_monitor(id))
                {
                    return self.close_all();
                }
            }
        }
        self.close_all();
    }

    fn poll(&self) -> Result<Vec<bool>, zmq::Error> {
        let mut items = Vec::with_capacity(self.order.len() + 1);
        items.push(zmq::PollItem::from_fd(self.wake.as_raw_fd(), zmq::POLLIN));
        for id in &self.order {
            if let Some(bound) = self.sockets.get(id) {
                items.push(bound.socket.as_poll_item(zmq::POLLIN));
                items.push(bound.monitor.as_poll_item(zmq::POLLIN));
            }
        }
        zmq::poll(&mut items, -1)?;
        Ok(items.iter().map(|i| i.is_readable()).collect())
    }

    /// Returns false when asked to stop.
    fn handle_commands(&mut self) -> bool {
        while let Ok(command) = self.commands.try_recv() {
            match command {
                Command::Bind {
                    session_id,
                    path,
                    done,
                } => {
                    let result = self.bind(&session_id, &path);
                    let _ = done.send(result);
                }
                Command::Unbind { session_id, done } => {
                    self.unbind(&session_id);
                    let _ = done.send(());
                }
                Command::Send(message) => self.send(message),
                Command::Publish { topic, payload } => {
                    if let Some(events) = &self.events {
                        let frames: [&[u8]; 2] = [topic.as_bytes(), &payload];
                        let _ = events.send_multipart(frames, zmq::DONTWAIT);
                    }
                }
                Command::Stop => return false,
            }
        }
        true
    }

    fn bind(&mut self, session_id: &str, path: &Path) -> Result<(), BindError> {
        let err = |message: String| BindError::Bind {
            path: path.to_owned(),
            message,
        };
        match std::fs::remove_file(path) {
            Ok(()) => tracing::info!(path = %path.display(), "removed a stale session socket"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e.to_string())),
        }
        let socket = self
            .context
            .socket(zmq::ROUTER)
            .map_err(|e| err(e.to_string()))?;
        socket
            .set_maxmsgsize(ZMQ_MAX_MESSAGE)
            .and_then(|()| socket.set_rcvhwm(RECEIVE_HIGH_WATER))
            .and_then(|()| socket.set_sndhwm(SEND_HIGH_WATER))
            // Without this a ROUTER drops an answer to a full or gone peer
            // silently, and `send` below never sees the error.
            .and_then(|()| socket.set_router_mandatory(true))
            .and_then(|()| socket.set_linger(0))
            .map_err(|e| err(e.to_string()))?;
        let endpoint = format!("ipc://{}", path.display());
        socket.bind(&endpoint).map_err(|e| err(e.to_string()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| err(e.to_string()))?;
        let monitor_endpoint = format!("inproc://monitor-{session_id}");
        let watched = zmq::SocketEvent::ACCEPTED as i32
            | zmq::SocketEvent::DISCONNECTED as i32
            | zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL as i32
            | zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL as i32
            | zmq::SocketEvent::HANDSHAKE_FAILED_AUTH as i32;
        socket
            .monitor(&monitor_endpoint, watched)
            .map_err(|e| err(e.to_string()))?;
        let monitor = self
            .context
            .socket(zmq::PAIR)
            .and_then(|m| m.connect(&monitor_endpoint).map(|()| m))
            .map_err(|e| err(e.to_string()))?;
        self.sockets.insert(
            session_id.to_owned(),
            Bound {
                socket,
                monitor,
                path: path.to_owned(),
            },
        );
        self.order.push(session_id.to_owned());
        Ok(())
    }

    fn unbind(&mut self, session_id: &str) {
        if let Some(bound) = self.sockets.remove(session_id) {
            drop(bound.socket);
            let _ = std::fs::remove_file(&bound.path);
        }
        self.order.retain(|id| id != session_id);
    }

    fn send(&mut self, message: Outbound) {
        let Some(bound) = self.sockets.get(&message.session_id) else {
            return;
        };
        let mut frames: Vec<&[u8]> = vec![&message.peer];
        if message.delimited {
            frames.push(&[]);
        }
        frames.push(&message.body);
        if let Err(e) = bound.socket.send_multipart(frames, zmq::DONTWAIT) {
            tracing::warn!(session = %message.session_id, error = %e, "answer dropped: the peer is not reading");
        }
    }

    /// Reads a batch from one socket; returns false if the async side is gone.
    fn read_from(&mut self, session_id: &str) -> bool {
        let Some(bound) = self.sockets.get(session_id) else {
            return true;
        };
        for _ in 0..READ_BATCH {
            let frames = match bound.socket.recv_multipart(zmq::DONTWAIT) {
                Ok(frames) => frames,
                Err(zmq::Error::EAGAIN) => break,
                Err(e) => {
                    tracing::warn!(session = %session_id, error = %e, "session socket read failed");
                    break;
                }
            };
            let inbound = split_frames(session_id, frames);
            if self
                .inbound
                .blocking_send(SocketEvent::Message(inbound))
                .is_err()
            {
                return false;
            }
        }
        true
    }

    /// Forwards the monitor's connection events; returns false if the async side is gone.
    fn read_monitor(&mut self, session_id: &str) -> bool {
        let Some(bound) = self.sockets.get(session_id) else {
            return true;
        };
        while let Ok(frames) = bound.monitor.recv_multipart(zmq::DONTWAIT) {
            let Some(kind) = frames.first().and_then(|f| monitor_event_kind(f)) else {
                continue;
            };
            let event = SocketEvent::Connection(ConnectionEvent {
                session_id: session_id.to_owned(),
                kind,
            });
            if self.inbound.blocking_send(event).is_err() {
                return false;
            }
        }
        true
    }

    fn close_all(&mut self) {
        let ids: Vec<String> = self.order.clone();
        for id in ids {
            self.unbind(&id);
        }
    }
}

/// The first monitor frame is a 16-bit event id and a 32-bit value, little-endian.
fn monitor_event_kind(frame: &[u8]) -> Option<&'static str> {
    let id = u16::from_le_bytes([*frame.first()?, *frame.get(1)?]);
    let kind = match id {
        x if x == zmq::SocketEvent::ACCEPTED as u16 => "accepted",
        x if x == zmq::SocketEvent::DISCONNECTED as u16 => "closed",
        x if x == zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL as u16 => "protocol_error",
        x if x == zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL as u16
            || x == zmq::SocketEvent::HANDSHAKE_FAILED_AUTH as u16 =>
        {
            "handshake_failed"
        }
        _ => return None,
    };
    Some(kind)
}

/// Binds the event bus PUB socket (0600), replacing a stale file.
fn bind_publisher(context: &zmq::Context, path: &Path) -> std::io::Result<zmq::Socket> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let publisher = context.socket(zmq::PUB).map_err(std::io::Error::other)?;
    publisher.set_linger(0).map_err(std::io::Error::other)?;
    publisher.set_sndhwm(1000).map_err(std::io::Error::other)?;
    publisher
        .bind(&format!("ipc://{}", path.display()))
        .map_err(std::io::Error::other)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(publisher)
}

/// `[peer, body]` (DEALER) or `[peer, "", body]` (REQ); anything else has no body.
fn split_frames(session_id: &str, mut frames: Vec<Vec<u8>>) -> Inbound {
    let peer = if frames.is_empty() {
        Vec::new()
    } else {
        frames.remove(0)
    };
    let (delimited, body) = match frames.len() {
        1 => (false, frames.pop()),
        2 if frames[0].is_empty() => (true, frames.pop()),
        _ => (false, None),
    };
    Inbound {
        session_id: session_id.to_owned(),
        peer,
        delimited,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_split_by_shape() {
        let dealer = split_frames("s", vec![b"p".to_vec(), b"m".to_vec()]);
        assert_eq!(
            (dealer.delimited, dealer.body.as_deref()),
            (false, Some(&b"m"[..]))
        );
        let req = split_frames("s", vec![b"p".to_vec(), vec![], b"m".to_vec()]);
        assert_eq!(
            (req.delimited, req.body.as_deref()),
            (true, Some(&b"m"[..]))
        );
        let odd = split_frames("s", vec![b"p".to_vec(), b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(odd.body, None);
        let none = split_frames("s", vec![b"p".to_vec()]);
        assert_eq!(none.body, None);
    }
}
