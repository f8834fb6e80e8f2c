//! The session sockets: one ZMTP 3 ROUTER per session, served by the core itself.
//!
//! Each session's Unix socket is a tokio listener; each connection speaks the
//! strict, bounded ZMTP of [`crate::codec`] (see [`connection`]) and may
//! be a ZeroMQ DEALER or REQ peer (the `ipc` binary, pyzmq, libzmq...). The
//! core does not use libzmq here because libzmq bounds each frame but not a
//! message: one peer sending endless "more" frames grew the core without limit.
//! This module must never interpret a message: it only moves bytes and says
//! which session they arrived on. The event bus (an owner-only PUB socket, the
//! same ZMTP) is [`super::publisher`].

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::UnixListener;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::connection;
use super::publisher::Publisher;
use crate::MAX_SOCKET_PATH;

/// Frames over this size lose their connection before any of their bytes are read;
/// a whole message (all its frames) is held to the same bound. A request over
/// 1 MiB is refused by the wire parser anyway; this leaves room to say so.
pub const MAX_FRAME_BYTES: usize = (1 << 20) + (64 << 10);
/// Bytes of requests a session may have read but not yet answered, over all
/// its connections; a connection past it waits (its own session's back-pressure).
pub const SESSION_BUDGET_BYTES: usize = 16 << 20;
/// Connections past the handshake one session may hold at once.
pub const MAX_CONNECTIONS: usize = 64;
/// Connections still shaking hands one session may hold at once; more are
/// closed at accept, so a container cannot use up the core's descriptors.
pub const MAX_HANDSHAKING: usize = 256;
/// Connection events audited per session per second (a burst of 4× that), for
/// routine ones (`accepted`, `closed`) and failures each; the rest are counted
/// and the count rides on the next one audited of its kind.
const CONNECTION_AUDITS_PER_SEC: f64 = 5.0;

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
    /// The share of the session's budget this message holds until it is dropped.
    pub budget: Option<OwnedSemaphorePermit>,
}

/// What a peer did to a session socket's connections.
#[derive(Debug)]
pub struct ConnectionEvent {
    /// The session whose socket saw it.
    pub session_id: String,
    /// `accepted`, `closed`, `handshake_failed`, `protocol_error` or `refused`.
    pub kind: &'static str,
    /// Why, for the failures (the core's words, never the peer's bytes).
    pub reason: Option<String>,
    /// Connection events of this session not audited since the last one (rate limit).
    pub suppressed: u64,
}

/// Everything the socket server reports to the dispatcher.
#[derive(Debug)]
pub enum SocketEvent {
    /// A message to run through the pipeline.
    Message(Inbound),
    /// A connection came, went, or was dropped.
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
    /// The file system refused.
    #[error("cannot bind {path}: {message}")]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The server was stopped.
    #[error("the session sockets have stopped")]
    Stopped,
}

/// What the connections of one session share.
pub(super) struct SessionShared {
    /// The session's id.
    pub session_id: String,
    /// Where messages and connection events go.
    pub inbound: mpsc::Sender<SocketEvent>,
    /// The session's budget of bytes read and not yet answered.
    pub budget: Arc<Semaphore>,
    /// Connections past the handshake.
    pub connections: AtomicUsize,
    /// Connections still shaking hands.
    pub handshaking: AtomicUsize,
    /// Each connection's queue of answers, by routing id.
    pub writers: Mutex<HashMap<u64, mpsc::Sender<Answer>>>,
    /// Routine connection events, and failures: one bucket each, so that a
    /// flood of one kind never hides the other.
    audits: Mutex<[AuditBucket; 2]>,
    next_peer: Arc<AtomicU64>,
    /// How long a message may take to arrive whole, in milliseconds (the server's setting).
    message_deadline_ms: Arc<AtomicU64>,
}

/// An answer queued for a peer, holding its share of the session's budget
/// until it is written.
pub struct Answer {
    /// The frames, encoded.
    pub bytes: Vec<u8>,
    /// The budget the answer's bytes hold.
    pub budget: Option<OwnedSemaphorePermit>,
}

/// The token bucket of a session's connection audits.
struct AuditBucket {
    tokens: f64,
    at: std::time::Instant,
    suppressed: u64,
}

impl SessionShared {
    /// How long a message may take to arrive whole once it holds budget.
    pub fn message_deadline(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.message_deadline_ms.load(Ordering::Relaxed))
    }

    /// Reports a connection event (at a bounded rate); dropped if the dispatcher is gone.
    pub fn report(&self, kind: &'static str, reason: Option<String>) {
        let suppressed = {
            let mut buckets = lock(&self.audits);
            let routine = matches!(kind, "accepted" | "closed");
            let bucket = &mut buckets[usize::from(!routine)];
            let now = std::time::Instant::now();
            let refill = now.duration_since(bucket.at).as_secs_f64() * CONNECTION_AUDITS_PER_SEC;
            bucket.tokens = (bucket.tokens + refill).min(CONNECTION_AUDITS_PER_SEC * 4.0);
            bucket.at = now;
            if bucket.tokens < 1.0 {
                bucket.suppressed += 1;
                return;
            }
            bucket.tokens -= 1.0;
            std::mem::take(&mut bucket.suppressed)
        };
        let event = SocketEvent::Connection(ConnectionEvent {
            session_id: self.session_id.clone(),
            kind,
            reason,
            suppressed,
        });
        let _ = self.inbound.try_send(event);
    }
}

struct Bound {
    path: PathBuf,
    shared: Arc<SessionShared>,
    server: tokio::task::JoinHandle<()>,
}

struct Inner {
    inbound: mpsc::Sender<SocketEvent>,
    sessions: Mutex<HashMap<String, Bound>>,
    publisher: Option<Publisher>,
    next_peer: Arc<AtomicU64>,
    stopped: std::sync::atomic::AtomicBool,
    message_deadline_ms: Arc<AtomicU64>,
}

/// Handle to the session sockets and the event bus; cheap to clone.
#[derive(Clone)]
pub struct SocketServer {
    inner: Arc<Inner>,
}

impl SocketServer {
    /// A server whose messages go to `inbound`; events are published on a PUB
    /// socket at `events_socket` when one is given.
    pub fn start(
        inbound: mpsc::Sender<SocketEvent>,
        events_socket: Option<&Path>,
    ) -> std::io::Result<SocketServer> {
        let publisher = events_socket.map(Publisher::start).transpose()?;
        Ok(SocketServer {
            inner: Arc::new(Inner {
                inbound,
                sessions: Mutex::new(HashMap::new()),
                publisher,
                next_peer: Arc::new(AtomicU64::new(1)),
                stopped: std::sync::atomic::AtomicBool::new(false),
                message_deadline_ms: Arc::new(AtomicU64::new(millis(connection::MESSAGE_DEADLINE))),
            }),
        })
    }

    /// Sets how long a message may take to arrive whole (`core.message_deadline_secs`),
    /// for every session's connections from their next message on.
    pub fn set_message_deadline(&self, deadline: std::time::Duration) {
        self.inner
            .message_deadline_ms
            .store(millis(deadline).max(1), Ordering::Relaxed);
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
        if self.inner.stopped.load(Ordering::SeqCst) {
            return Err(BindError::Stopped);
        }
        let err = |message: String| BindError::Bind {
            path: path.to_owned(),
            message,
        };
        match std::fs::remove_file(path) {
            Ok(()) => tracing::info!(path = %path.display(), "removed a stale session socket"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e.to_string())),
        }
        let listener = UnixListener::bind(path).map_err(|e| err(e.to_string()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| err(e.to_string()))?;
        let shared = Arc::new(SessionShared {
            session_id: session_id.to_owned(),
            inbound: self.inner.inbound.clone(),
            budget: Arc::new(Semaphore::new(SESSION_BUDGET_BYTES)),
            connections: AtomicUsize::new(0),
            handshaking: AtomicUsize::new(0),
            writers: Mutex::new(HashMap::new()),
            audits: Mutex::new(std::array::from_fn(|_| AuditBucket {
                tokens: CONNECTION_AUDITS_PER_SEC * 4.0,
                at: std::time::Instant::now(),
                suppressed: 0,
            })),
            next_peer: Arc::clone(&self.inner.next_peer),
            message_deadline_ms: Arc::clone(&self.inner.message_deadline_ms),
        });
        let server = tokio::spawn(serve(listener, Arc::clone(&shared)));
        let replaced = lock(&self.inner.sessions).insert(
            session_id.to_owned(),
            Bound {
                path: path.to_owned(),
                shared,
                server,
            },
        );
        if let Some(old) = replaced {
            old.server.abort();
        }
        Ok(())
    }

    /// Closes a session's socket and its connections, and removes its file.
    pub async fn unbind(&self, session_id: &str) {
        let bound = lock(&self.inner.sessions).remove(session_id);
        if let Some(bound) = bound {
            close(bound).await;
        }
    }

    /// Queues an answer; dropped (with a warning) if the peer is gone or not
    /// reading, or if the session's budget cannot hold it.
    pub fn send(&self, message: Outbound) {
        let shared = match lock(&self.inner.sessions).get(&message.session_id) {
            Some(bound) => Arc::clone(&bound.shared),
            None => return,
        };
        let Some(peer) = connection::peer_from_bytes(&message.peer) else {
            return;
        };
        let Some(writer) = lock(&shared.writers).get(&peer).cloned() else {
            return;
        };
        let mut frames = Vec::with_capacity(message.body.len() + 12);
        if message.delimited {
            crate::codec::encode_frame(&mut frames, &[], true);
        }
        crate::codec::encode_frame(&mut frames, &message.body, false);
        // Answers waiting for a peer count against its session's budget too.
        let cost = u32::try_from(frames.len()).unwrap_or(u32::MAX);
        let Ok(budget) = Arc::clone(&shared.budget).try_acquire_many_owned(cost) else {
            tracing::debug!(session = %message.session_id, "answer dropped: the session's budget is spent");
            return;
        };
        let answer = Answer {
            bytes: frames,
            budget: Some(budget),
        };
        if writer.try_send(answer).is_err() {
            tracing::debug!(session = %message.session_id, "answer dropped: the peer is not reading");
        }
    }

    /// Publishes an event on the bus (`run/events.sock`): two frames, topic and JSON.
    pub fn publish(&self, topic: &str, payload: &serde_json::Value) {
        if let Some(publisher) = &self.inner.publisher {
            publisher.publish(topic, payload);
        }
    }

    /// Closes every session socket and the event bus.
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        let all: Vec<Bound> = lock(&self.inner.sessions)
            .drain()
            .map(|(_, bound)| bound)
            .collect();
        for bound in all {
            bound.server.abort();
            let _ = std::fs::remove_file(&bound.path);
        }
        if let Some(publisher) = &self.inner.publisher {
            publisher.stop();
        }
    }
}

async fn close(bound: Bound) {
    bound.server.abort();
    // Aborting drops the task's connections; wait so that none outlives the unbind.
    let _ = bound.server.await;
    lock(&bound.shared.writers).clear();
    let _ = std::fs::remove_file(&bound.path);
}

/// Accepts connections until aborted; dropping the task drops its connections.
async fn serve(listener: UnixListener, shared: Arc<SessionShared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if shared.handshaking.load(Ordering::SeqCst) >= MAX_HANDSHAKING => {
                    drop(stream);
                    shared.report("refused", Some(format!("more than {MAX_HANDSHAKING} connections shaking hands")));
                }
                Ok((stream, _)) => {
                    let peer = shared.next_peer.fetch_add(1, Ordering::Relaxed);
                    shared.handshaking.fetch_add(1, Ordering::SeqCst);
                    connections.spawn(connection::serve(stream, peer, Arc::clone(&shared)));
                }
                Err(e) => {
                    // Out of descriptors, or a peer gone before accept: wait, go on.
                    tracing::warn!(session = %shared.session_id, error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
