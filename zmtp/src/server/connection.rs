//! One connection on a session socket: the ZMTP handshake, then messages in and answers out.
//!
//! The peer must finish the handshake (greeting, NULL mechanism, READY as a
//! DEALER or REQ) within [`HANDSHAKE_TIMEOUT`]. After it, every frame header is
//! checked against the bounds before its body is read, and the body's bytes are
//! charged to the session's budget until the pipeline has answered the message;
//! an answer's bytes are charged until it is written. A message not complete
//! within its deadline ([`MESSAGE_DEADLINE`] by default, `core.message_deadline_secs`)
//! from the moment it first holds budget, or an answer the peer does not take
//! within [`WRITE_TIMEOUT`], ends the connection and gives its budget back.
//! The deadline is for the whole message, not for each frame: a peer cannot
//! keep a half-sent message (and its budget) alive by trickling frames.
//! Whatever the peer does, it ends only its own connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::codec::{self as zmtp, Assembler, Decoder, Event, Message, ZmtpError, FRAME_OVERHEAD};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio::time::Instant;

use super::socket::{
    Answer, Inbound, SessionShared, SocketEvent, MAX_CONNECTIONS, MAX_FRAME_BYTES,
};

/// How long a peer has to complete the ZMTP handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a message may take to arrive whole, from the moment its first frame
/// holds the session's budget (the default of `core.message_deadline_secs`).
pub const MESSAGE_DEADLINE: Duration = Duration::from_secs(10);
/// How long one answer may take to be written to a peer.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Answers queued for a peer before further ones are dropped.
const ANSWER_QUEUE: usize = 128;
/// Read buffer before the handshake (kept small: idle peers cost little).
const HANDSHAKE_CHUNK: usize = 512;
/// Read buffer once the peer has shaken hands.
const READ_CHUNK: usize = 16 << 10;
/// The socket types that may talk to a ROUTER here.
const PEER_TYPES: &[&str] = &["DEALER", "REQ"];
/// Frames kept of a message: enough to answer a wrong shape, never more.
const KEPT_FRAMES: usize = 3;

/// The routing id of a peer, as [`Inbound::peer`] carries it.
pub fn peer_from_bytes(bytes: &[u8]) -> Option<u64> {
    bytes.try_into().ok().map(u64::from_be_bytes)
}

/// How a connection ended.
pub(super) enum End {
    Closed,
    Handshake(String),
    Protocol(ZmtpError),
    Refused,
}

/// Serves one accepted connection until it ends, then reports how.
pub(super) async fn serve(stream: UnixStream, peer: u64, shared: Arc<SessionShared>) {
    shared.report("accepted", None);
    let end = run(stream, peer, &shared).await;
    super::socket::lock(&shared.writers).remove(&peer);
    match end {
        End::Closed => shared.report("closed", None),
        End::Handshake(why) => shared.report("handshake_failed", Some(why)),
        End::Protocol(e) => shared.report("protocol_error", Some(e.to_string())),
        End::Refused => shared.report(
            "refused",
            Some(format!("more than {MAX_CONNECTIONS} connections")),
        ),
    }
}

async fn run(stream: UnixStream, peer: u64, shared: &SessionShared) -> End {
    // Counted among the handshaking since accept; given back once the handshake ends.
    let handshaking = Counted(&shared.handshaking);
    let (mut reader, mut writer) = stream.into_split();
    let mut hello = zmtp::greeting(true).to_vec();
    hello.extend(zmtp::ready("ROUTER"));
    if writer.write_all(&hello).await.is_err() {
        return End::Closed;
    }
    let mut decoder = Decoder::new(MAX_FRAME_BYTES);
    let mut input = Input::new(HANDSHAKE_CHUNK);
    let handshake = handshake(&mut reader, &mut decoder, &mut input, PEER_TYPES);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(())) => {}
        Ok(Err(end)) => return end,
        Err(_) => {
            return End::Handshake(format!(
                "no handshake within {} s",
                HANDSHAKE_TIMEOUT.as_secs()
            ))
        }
    }
    drop(handshaking);
    let Some(_counted) = Counted::enter(&shared.connections, MAX_CONNECTIONS) else {
        return End::Refused;
    };
    input.grow(READ_CHUNK);
    let (answers, queued) = mpsc::channel(ANSWER_QUEUE);
    super::socket::lock(&shared.writers).insert(peer, answers.clone());
    tokio::select! {
        end = read_messages(&mut reader, decoder, input, peer, shared, answers) => end,
        end = write_answers(&mut writer, queued) => end,
    }
}

/// Reads the peer's greeting and READY; `peer_types` are the socket types accepted.
pub(super) async fn handshake<R: AsyncRead + Unpin>(
    reader: &mut R,
    decoder: &mut Decoder,
    input: &mut Input,
    peer_types: &[&str],
) -> Result<(), End> {
    let refused = |e: ZmtpError| End::Handshake(e.to_string());
    match input.next_event(reader, decoder).await? {
        Ok(Event::Greeting(_)) => {}
        Ok(_) => return Err(End::Handshake("no greeting".into())),
        Err(e) => return Err(refused(e)),
    }
    match input.next_event(reader, decoder).await? {
        Ok(Event::Command(command)) => zmtp::accept_ready(&command, peer_types)
            .map(drop)
            .map_err(refused),
        Ok(_) => Err(refused(ZmtpError::FrameBeforeReady)),
        Err(e) => Err(refused(e)),
    }
}

async fn read_messages<R: AsyncRead + Unpin>(
    reader: &mut R,
    mut decoder: Decoder,
    mut input: Input,
    peer: u64,
    shared: &SessionShared,
    answers: mpsc::Sender<Answer>,
) -> End {
    let mut assembler = Assembler::new(KEPT_FRAMES, MAX_FRAME_BYTES);
    let mut held: Option<OwnedSemaphorePermit> = None;
    // When the message being read must be whole; set once it first holds budget.
    let mut due: Option<Instant> = None;
    loop {
        let next = input.next_event(reader, &mut decoder);
        // Between messages a peer may idle; in the middle of one it holds budget,
        // and everything until its last frame (reading, waiting for more budget)
        // counts against one deadline.
        let event = match due {
            Some(due) => match tokio::time::timeout_at(due, next).await {
                Ok(event) => event,
                Err(_) => return End::Protocol(ZmtpError::Stalled),
            },
            None => next.await,
        };
        let event = match event {
            Ok(Ok(event)) => event,
            Ok(Err(e)) => return End::Protocol(e),
            Err(end) => return end,
        };
        match event {
            Event::Header { len } => {
                if let Err(e) = assembler.admit(len) {
                    return End::Protocol(e);
                }
                // Charged before the body is read; a full budget holds this peer back.
                let cost = u32::try_from(len + FRAME_OVERHEAD).unwrap_or(u32::MAX);
                let acquire = Arc::clone(&shared.budget).acquire_many_owned(cost);
                // A first frame waits for budget holding none; a later one holds
                // some, and its wait is on the message's clock.
                let acquired = match due {
                    Some(due) => match tokio::time::timeout_at(due, acquire).await {
                        Ok(acquired) => acquired,
                        Err(_) => return End::Protocol(ZmtpError::Stalled),
                    },
                    None => acquire.await,
                };
                let Ok(permit) = acquired else {
                    return End::Closed;
                };
                match &mut held {
                    Some(held) => held.merge(permit),
                    None => {
                        held = Some(permit);
                        due = Some(Instant::now() + shared.message_deadline());
                    }
                }
            }
            Event::Frame(frame) => match assembler.push(frame) {
                Ok(Some(message)) => {
                    due = None;
                    let inbound = to_inbound(&shared.session_id, peer, message, held.take());
                    if shared
                        .inbound
                        .send(SocketEvent::Message(inbound))
                        .await
                        .is_err()
                    {
                        return End::Closed;
                    }
                }
                Ok(None) => {}
                Err(e) => return End::Protocol(e),
            },
            Event::Command(command) => match zmtp::pong_for(&command) {
                Some(pong) => {
                    let _ = answers.try_send(Answer {
                        bytes: pong,
                        budget: None,
                    });
                }
                None => {
                    let name = String::from_utf8_lossy(&command.name);
                    let name: String = name.chars().take(32).collect();
                    return End::Protocol(ZmtpError::UnexpectedCommand(name));
                }
            },
            Event::Greeting(_) => {
                return End::Protocol(ZmtpError::UnexpectedCommand("greeting".into()))
            }
        }
    }
}

async fn write_answers<W: AsyncWrite + Unpin>(
    writer: &mut W,
    mut queued: mpsc::Receiver<Answer>,
) -> End {
    while let Some(answer) = queued.recv().await {
        // The answer's budget is given back once it is written (or the peer is dropped).
        match tokio::time::timeout(WRITE_TIMEOUT, writer.write_all(&answer.bytes)).await {
            Ok(Ok(())) => {}
            _ => break,
        }
    }
    End::Closed
}

/// `[body]` (DEALER) or `["", body]` (REQ); any other shape has no body.
fn to_inbound(
    session_id: &str,
    peer: u64,
    message: Message,
    budget: Option<OwnedSemaphorePermit>,
) -> Inbound {
    let Message {
        mut frames,
        dropped_frames,
    } = message;
    let (delimited, body) = match (frames.len(), dropped_frames) {
        (1, 0) => (false, frames.pop()),
        (2, 0) if frames[0].is_empty() => (true, frames.pop()),
        _ => (false, None),
    };
    Inbound {
        session_id: session_id.to_owned(),
        peer: peer.to_be_bytes().to_vec(),
        delimited,
        body,
        budget,
    }
}

/// Bytes read from the peer and not yet decoded.
pub(super) struct Input {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Input {
    /// An empty buffer of `capacity` bytes.
    pub(super) fn new(capacity: usize) -> Input {
        Input {
            buf: vec![0; capacity],
            start: 0,
            end: 0,
        }
    }

    /// Enlarges the buffer, keeping what it holds.
    pub(super) fn grow(&mut self, capacity: usize) {
        if self.buf.len() < capacity {
            self.buf.resize(capacity, 0);
        }
    }

    /// The next event: `Err` when the connection ended, `Ok(Err)` for a protocol violation.
    pub(super) async fn next_event<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut R,
        decoder: &mut Decoder,
    ) -> Result<Result<Event, ZmtpError>, End> {
        loop {
            let (used, event) = match decoder.decode(&self.buf[self.start..self.end]) {
                Ok(decoded) => decoded,
                Err(e) => return Ok(Err(e)),
            };
            self.start += used;
            if let Some(event) = event {
                return Ok(Ok(event));
            }
            match reader.read(&mut self.buf).await {
                Ok(0) | Err(_) => return Err(End::Closed),
                Ok(n) => {
                    self.start = 0;
                    self.end = n;
                }
            }
        }
    }
}

/// A place among a session's counted connections, given back on drop.
struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    fn enter(count: &'a AtomicUsize, max: usize) -> Option<Counted<'a>> {
        if count.fetch_add(1, Ordering::SeqCst) >= max {
            count.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Counted(count))
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(frames: &[&[u8]], dropped_frames: usize) -> Message {
        Message {
            frames: frames.iter().map(|f| f.to_vec()).collect(),
            dropped_frames,
        }
    }

    #[test]
    fn frames_are_split_by_shape() {
        let dealer = to_inbound("s", 7, message(&[b"m"], 0), None);
        assert_eq!(
            (dealer.delimited, dealer.body.as_deref()),
            (false, Some(&b"m"[..]))
        );
        assert_eq!(peer_from_bytes(&dealer.peer), Some(7));
        let req = to_inbound("s", 7, message(&[b"", b"m"], 0), None);
        assert_eq!(
            (req.delimited, req.body.as_deref()),
            (true, Some(&b"m"[..]))
        );
        assert_eq!(
            to_inbound("s", 7, message(&[b"a", b"m"], 0), None).body,
            None
        );
        assert_eq!(
            to_inbound("s", 7, message(&[b"a", b"b", b"c"], 0), None).body,
            None
        );
        assert_eq!(to_inbound("s", 7, message(&[b"m"], 1), None).body, None);
        assert_eq!(peer_from_bytes(b"short"), None);
    }

    #[test]
    fn the_connection_count_is_bounded_and_given_back() {
        let count = AtomicUsize::new(0);
        let first = Counted::enter(&count, 2).expect("first");
        let second = Counted::enter(&count, 2).expect("second");
        assert!(Counted::enter(&count, 2).is_none());
        drop(first);
        assert!(Counted::enter(&count, 2).is_some());
        drop(second);
        assert_eq!(count.load(Ordering::SeqCst), 0);
    }
}
