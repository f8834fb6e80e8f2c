//! The event bus: a libzmq PUB socket at `run/events.sock` (0600), owned by one thread.
//!
//! Only the core's own user can reach it (plugins have `run/` hidden), and it
//! only sends, so libzmq's per-frame bound is no concern here. libzmq sockets
//! are not thread-safe: one thread binds and sends; callers hand it events
//! through a channel and never wait.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::mpsc;

/// Events queued for subscribers before libzmq drops them for a slow one.
const SEND_HIGH_WATER: i32 = 1000;

enum Command {
    Publish { topic: String, payload: Vec<u8> },
    Stop,
}

/// Handle to the publisher thread.
pub struct Publisher {
    commands: mpsc::Sender<Command>,
}

impl Publisher {
    /// Binds the PUB socket at `path` (replacing a stale file) and starts its thread.
    pub fn start(path: &Path) -> std::io::Result<Publisher> {
        let context = zmq::Context::new();
        let socket = bind(&context, path)?;
        let (commands, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("event-bus".into())
            .spawn(move || run(&context, socket, receiver))?;
        Ok(Publisher { commands })
    }

    /// Publishes two frames, topic and JSON; never blocks.
    pub fn publish(&self, topic: &str, payload: &serde_json::Value) {
        let _ = self.commands.send(Command::Publish {
            topic: topic.to_owned(),
            payload: serde_json::to_vec(payload).unwrap_or_default(),
        });
    }

    /// Closes the socket and ends the thread.
    pub fn stop(&self) {
        let _ = self.commands.send(Command::Stop);
    }
}

fn run(_context: &zmq::Context, socket: zmq::Socket, commands: mpsc::Receiver<Command>) {
    while let Ok(Command::Publish { topic, payload }) = commands.recv() {
        let frames: [&[u8]; 2] = [topic.as_bytes(), &payload];
        let _ = socket.send_multipart(frames, zmq::DONTWAIT);
    }
}

fn bind(context: &zmq::Context, path: &Path) -> std::io::Result<zmq::Socket> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let publisher = context.socket(zmq::PUB).map_err(std::io::Error::other)?;
    publisher.set_linger(0).map_err(std::io::Error::other)?;
    publisher
        .set_sndhwm(SEND_HIGH_WATER)
        .map_err(std::io::Error::other)?;
    publisher
        .bind(&format!("ipc://{}", path.display()))
        .map_err(std::io::Error::other)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(publisher)
}
