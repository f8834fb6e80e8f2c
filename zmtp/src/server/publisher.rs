//! The event bus: a ZMTP 3 PUB socket at `run/events.sock` (0600), served by
//! the core itself like the session sockets.
//!
//! Subscribers are ZeroMQ SUB (or XSUB) peers: `carapace events`, or any
//! ZeroMQ library of the owner's. Each says which topic prefixes it wants (a
//! ZMTP 3.0 subscription message, `\x01` + prefix, or a 3.1 `SUBSCRIBE`
//! command); each event goes out as two frames, topic and JSON, to every
//! subscriber with a matching prefix. A subscriber that does not read loses
//! events (its queue is bounded); publishing never waits. Only the core's own
//! user can reach the socket, and plugins have `run/` hidden.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::codec::{self as zmtp, Decoder, Event, Frame};
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use super::connection::{handshake, Input, HANDSHAKE_TIMEOUT};
use super::socket::lock;

/// Events queued for one subscriber before further ones are dropped for it.
const QUEUE: usize = 1000;
/// Subscribers at once.
const MAX_SUBSCRIBERS: usize = 64;
/// Prefixes one subscriber may hold, and the longest prefix.
const MAX_PREFIXES: usize = 64;
const MAX_PREFIX_BYTES: usize = 256;
/// Largest frame a subscriber may send (subscriptions are small).
const MAX_SUBSCRIBER_FRAME: usize = 1024;
/// The socket types that may subscribe.
const SUBSCRIBER_TYPES: &[&str] = &["SUB", "XSUB"];

struct Subscriber {
    prefixes: Vec<Vec<u8>>,
    queue: mpsc::Sender<Arc<Vec<u8>>>,
}

#[derive(Default)]
struct Subscribers {
    by_id: Mutex<HashMap<u64, Subscriber>>,
    next: AtomicU64,
}

/// Handle to the event bus.
pub struct Publisher {
    subscribers: Arc<Subscribers>,
    server: tokio::task::JoinHandle<()>,
    path: PathBuf,
}

impl Publisher {
    /// Binds the PUB socket at `path` (replacing a stale file) and serves it.
    pub fn start(path: &Path) -> std::io::Result<Publisher> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        let subscribers = Arc::new(Subscribers::default());
        let server = tokio::spawn(serve(listener, Arc::clone(&subscribers)));
        Ok(Publisher {
            subscribers,
            server,
            path: path.to_owned(),
        })
    }

    /// Publishes two frames, topic and JSON, to the matching subscribers; never waits.
    pub fn publish(&self, topic: &str, payload: &serde_json::Value) {
        let payload = serde_json::to_vec(payload).unwrap_or_default();
        let mut message = Vec::with_capacity(topic.len() + payload.len() + 18);
        zmtp::encode_message(&mut message, &[topic.as_bytes(), &payload]);
        let message = Arc::new(message);
        for subscriber in lock(&self.subscribers.by_id).values() {
            let wanted = subscriber
                .prefixes
                .iter()
                .any(|p| topic.as_bytes().starts_with(p));
            if wanted {
                // A full queue drops this event for that subscriber alone.
                let _ = subscriber.queue.try_send(Arc::clone(&message));
            }
        }
    }

    /// Closes the socket and every subscriber's connection.
    pub fn stop(&self) {
        self.server.abort();
        lock(&self.subscribers.by_id).clear();
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn serve(listener: UnixListener, subscribers: Arc<Subscribers>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if connections.len() < MAX_SUBSCRIBERS => {
                    let id = subscribers.next.fetch_add(1, Ordering::Relaxed);
                    connections.spawn(subscriber(stream, id, Arc::clone(&subscribers)));
                }
                Ok(_) => tracing::warn!("event bus: refused a subscriber past {MAX_SUBSCRIBERS}"),
                Err(e) => {
                    tracing::warn!(error = %e, "event bus: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// One subscriber: handshake, then its subscriptions in and events out.
async fn subscriber(stream: UnixStream, id: u64, subscribers: Arc<Subscribers>) {
    let (mut reader, mut writer) = stream.into_split();
    let mut hello = zmtp::greeting(true).to_vec();
    hello.extend(zmtp::ready("PUB"));
    if writer.write_all(&hello).await.is_err() {
        return;
    }
    let mut decoder = Decoder::new(MAX_SUBSCRIBER_FRAME);
    let mut input = Input::new(MAX_SUBSCRIBER_FRAME);
    let greeted = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        handshake(&mut reader, &mut decoder, &mut input, SUBSCRIBER_TYPES),
    )
    .await;
    if !matches!(greeted, Ok(Ok(()))) {
        return;
    }
    let (queue, mut queued) = mpsc::channel::<Arc<Vec<u8>>>(QUEUE);
    lock(&subscribers.by_id).insert(
        id,
        Subscriber {
            prefixes: Vec::new(),
            queue,
        },
    );
    let reading = async {
        loop {
            let event = match input.next_event(&mut reader, &mut decoder).await {
                Ok(Ok(event)) => event,
                _ => return,
            };
            let change = match event {
                Event::Frame(Frame { body, more: false }) => subscription(&body),
                Event::Command(command) if command.name == b"SUBSCRIBE" => {
                    Some((true, command.data))
                }
                Event::Command(command) if command.name == b"CANCEL" => Some((false, command.data)),
                Event::Header { .. } | Event::Command(_) => None,
                Event::Frame(_) | Event::Greeting(_) => return,
            };
            if let Some((subscribe, prefix)) = change {
                if !update(&subscribers, id, subscribe, prefix) {
                    return;
                }
            }
        }
    };
    let writing = async {
        while let Some(message) = queued.recv().await {
            if writer.write_all(&message).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = reading => {}
        () = writing => {}
    }
    lock(&subscribers.by_id).remove(&id);
}

/// A ZMTP 3.0 subscription message: `\x01` + prefix subscribes, `\x00` + prefix cancels.
fn subscription(body: &[u8]) -> Option<(bool, Vec<u8>)> {
    match body.split_first() {
        Some((1, prefix)) => Some((true, prefix.to_vec())),
        Some((0, prefix)) => Some((false, prefix.to_vec())),
        _ => None,
    }
}

/// Applies a subscription change; false (the subscriber is dropped) past the bounds.
fn update(subscribers: &Subscribers, id: u64, subscribe: bool, prefix: Vec<u8>) -> bool {
    if prefix.len() > MAX_PREFIX_BYTES {
        return false;
    }
    let mut all = lock(&subscribers.by_id);
    let Some(subscriber) = all.get_mut(&id) else {
        return false;
    };
    if subscribe {
        if subscriber.prefixes.len() >= MAX_PREFIXES {
            return false;
        }
        subscriber.prefixes.push(prefix);
    } else if let Some(at) = subscriber.prefixes.iter().position(|p| *p == prefix) {
        subscriber.prefixes.remove(at);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_messages_are_read() {
        assert_eq!(
            subscription(b"\x01agent."),
            Some((true, b"agent.".to_vec()))
        );
        assert_eq!(
            subscription(b"\x00agent."),
            Some((false, b"agent.".to_vec()))
        );
        assert_eq!(subscription(b"\x01"), Some((true, Vec::new())));
        assert_eq!(subscription(b""), None);
        assert_eq!(subscription(b"\x02x"), None);
    }

    #[test]
    fn prefixes_are_bounded() {
        let subscribers = Subscribers::default();
        let (queue, _rx) = mpsc::channel(1);
        lock(&subscribers.by_id).insert(
            1,
            Subscriber {
                prefixes: Vec::new(),
                queue,
            },
        );
        for i in 0..MAX_PREFIXES {
            assert!(update(&subscribers, 1, true, format!("p{i}").into_bytes()));
        }
        assert!(!update(&subscribers, 1, true, b"one too many".to_vec()));
        assert!(update(&subscribers, 1, false, b"p0".to_vec()));
        assert!(!update(
            &subscribers,
            1,
            true,
            vec![b'x'; MAX_PREFIX_BYTES + 1]
        ));
        assert!(!update(&subscribers, 2, true, b"unknown".to_vec()));
    }
}
