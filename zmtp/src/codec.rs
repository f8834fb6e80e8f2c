//! ZMTP 3 (the ZeroMQ wire protocol) as the session sockets speak it: strict and bounded.
//!
//! Both ends of a session socket use this module: the core as a ROUTER that
//! accepts DEALER and REQ peers, the `ipc` client as a DEALER. It is sans-IO:
//! [`Decoder`] takes bytes as they arrive and yields the greeting, commands and
//! message frames; the callers own the sockets. What it must never do: allocate
//! what a header *announces* (bodies grow only as their bytes arrive, and a
//! frame over the decoder's limit is an error before any of it is read), or
//! accept anything but the NULL mechanism and the ZMTP 3 framing rules.
//!
//! [`Assembler`] joins frames into messages and bounds a whole message, not
//! only each frame: libzmq's `ZMQ_MAXMSGSIZE` is per frame, so a peer sending
//! endless "more" frames grew a libzmq ROUTER without limit.

use std::fmt;

/// Length of the ZMTP 3 greeting each side sends first.
pub const GREETING_LEN: usize = 64;
/// Largest command frame (READY, PING) accepted.
pub const MAX_COMMAND_BYTES: usize = 4096;
/// Bytes a frame header costs at most, charged against a message's bound.
pub const FRAME_OVERHEAD: usize = 9;

const SIGNATURE_HEAD: u8 = 0xFF;
const SIGNATURE_TAIL: u8 = 0x7F;
const MAJOR_VERSION: u8 = 3;
const MINOR_VERSION: u8 = 0;
const MECHANISM_NULL: &[u8] = b"NULL";
const MECHANISM_LEN: usize = 20;
const FLAG_MORE: u8 = 0x01;
const FLAG_LONG: u8 = 0x02;
const FLAG_COMMAND: u8 = 0x04;
const FLAGS_RESERVED: u8 = !(FLAG_MORE | FLAG_LONG | FLAG_COMMAND);
/// Bytes of a body kept in advance of their arrival.
const BODY_CHUNK: usize = 64 << 10;
/// The property naming a peer's socket type in READY.
const SOCKET_TYPE: &str = "Socket-Type";

/// Why a peer's bytes are not acceptable ZMTP; the connection ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZmtpError {
    /// The first ten bytes are not a ZMTP signature.
    BadSignature,
    /// The peer speaks a version before ZMTP 3.
    UnsupportedVersion(u8),
    /// The peer asks for a security mechanism other than NULL.
    UnsupportedMechanism,
    /// A frame's flags use reserved bits.
    ReservedFlags(u8),
    /// A message frame announces more than the limit.
    FrameTooLarge {
        /// The length the header announced.
        announced: u64,
        /// The limit.
        limit: usize,
    },
    /// A command frame announces more than [`MAX_COMMAND_BYTES`].
    CommandTooLarge(u64),
    /// A command frame has the MORE flag.
    MoreOnCommand,
    /// A command's body does not parse.
    MalformedCommand(&'static str),
    /// A command that is not allowed at this point.
    UnexpectedCommand(String),
    /// A message frame arrived before the handshake finished.
    FrameBeforeReady,
    /// The peer's socket type cannot talk to ours.
    IncompatibleSocket(String),
    /// A message's frames together are over the limit.
    MessageTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A message was left half sent for too long.
    Stalled,
}

impl fmt::Display for ZmtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZmtpError::BadSignature => write!(f, "not a ZMTP greeting"),
            ZmtpError::UnsupportedVersion(v) => write!(f, "ZMTP version {v} is not supported"),
            ZmtpError::UnsupportedMechanism => write!(f, "only the NULL mechanism is supported"),
            ZmtpError::ReservedFlags(flags) => {
                write!(f, "frame flags {flags:#04x} use reserved bits")
            }
            ZmtpError::FrameTooLarge { announced, limit } => {
                write!(
                    f,
                    "a frame of {announced} bytes is over the {limit}-byte limit"
                )
            }
            ZmtpError::CommandTooLarge(n) => write!(f, "a command of {n} bytes is too large"),
            ZmtpError::MoreOnCommand => write!(f, "a command frame has the MORE flag"),
            ZmtpError::MalformedCommand(why) => write!(f, "malformed command: {why}"),
            ZmtpError::UnexpectedCommand(name) => write!(f, "unexpected command {name:?}"),
            ZmtpError::FrameBeforeReady => write!(f, "a message frame before READY"),
            ZmtpError::IncompatibleSocket(kind) => {
                write!(f, "socket type {kind:?} cannot talk to this socket")
            }
            ZmtpError::MessageTooLarge { limit } => {
                write!(f, "a message over the {limit}-byte limit")
            }
            ZmtpError::Stalled => write!(f, "a message stalled half sent"),
        }
    }
}

impl std::error::Error for ZmtpError {}

/// The version a peer's greeting announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Greeting {
    /// Major version (3 or later).
    pub major: u8,
    /// Minor version.
    pub minor: u8,
}

/// A command frame: its name and the bytes after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The command name (`READY`, `PING`, ...).
    pub name: Vec<u8>,
    /// The command's data.
    pub data: Vec<u8>,
}

/// One message frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Whether more frames of the same message follow.
    pub more: bool,
    /// The frame's bytes.
    pub body: Vec<u8>,
}

/// What the decoder recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The peer's greeting, checked.
    Greeting(Greeting),
    /// A message frame's header: `len` bytes follow (a caller may budget them now).
    Header {
        /// The announced body length, within the decoder's limit.
        len: usize,
    },
    /// A command frame.
    Command(Command),
    /// A message frame, whole.
    Frame(Frame),
}

#[derive(Debug)]
enum State {
    Greeting(Vec<u8>),
    Flags,
    Size {
        flags: u8,
        bytes: [u8; 8],
        have: usize,
    },
    Body {
        flags: u8,
        remaining: usize,
        body: Vec<u8>,
    },
    Failed(ZmtpError),
}

/// Incremental, bounded ZMTP 3 decoder for one connection.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    max_frame: usize,
}

impl Decoder {
    /// A decoder that expects a greeting and refuses message frames over `max_frame` bytes.
    pub fn new(max_frame: usize) -> Decoder {
        Decoder {
            state: State::Greeting(Vec::with_capacity(GREETING_LEN)),
            max_frame,
        }
    }

    /// Consumes bytes from `input`: returns how many it used and the event they
    /// completed, if any. It uses all of `input` unless it returns an event, so a
    /// caller loops until it gets `(n, None)` with `n == input.len()`. After an
    /// error every further call fails the same way.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<Event>), ZmtpError> {
        let mut used = 0;
        loop {
            match self.step(&input[used..]) {
                Ok((n, Some(event))) => return Ok((used + n, Some(event))),
                // A step that used nothing with input left would loop forever; none does.
                Ok((n, None)) if n > 0 && used + n < input.len() => used += n,
                Ok((n, None)) => return Ok((used + n, None)),
                Err(e) => {
                    self.state = State::Failed(e.clone());
                    return Err(e);
                }
            }
        }
    }

    fn step(&mut self, input: &[u8]) -> Result<(usize, Option<Event>), ZmtpError> {
        match &mut self.state {
            State::Failed(e) => Err(e.clone()),
            State::Greeting(got) => {
                let take = (GREETING_LEN - got.len()).min(input.len());
                got.extend_from_slice(&input[..take]);
                // Refuse a wrong signature as soon as its bytes are in.
                check_greeting_prefix(got)?;
                if got.len() < GREETING_LEN {
                    return Ok((take, None));
                }
                let greeting = check_greeting(got)?;
                self.state = State::Flags;
                Ok((take, Some(Event::Greeting(greeting))))
            }
            State::Flags => {
                let Some(&flags) = input.first() else {
                    return Ok((0, None));
                };
                if flags & FLAGS_RESERVED != 0 {
                    return Err(ZmtpError::ReservedFlags(flags));
                }
                if flags & FLAG_COMMAND != 0 && flags & FLAG_MORE != 0 {
                    return Err(ZmtpError::MoreOnCommand);
                }
                self.state = State::Size {
                    flags,
                    bytes: [0; 8],
                    have: 0,
                };
                Ok((1, None))
            }
            State::Size { flags, bytes, have } => {
                let width = if *flags & FLAG_LONG != 0 { 8 } else { 1 };
                let take = (width - *have).min(input.len());
                bytes[*have..*have + take].copy_from_slice(&input[..take]);
                *have += take;
                if *have < width {
                    return Ok((take, None));
                }
                let announced = if width == 8 {
                    u64::from_be_bytes(*bytes)
                } else {
                    u64::from(bytes[0])
                };
                let flags = *flags;
                let len = self.check_length(flags, announced)?;
                self.state = State::Body {
                    flags,
                    remaining: len,
                    body: Vec::with_capacity(len.min(BODY_CHUNK)),
                };
                let header = (flags & FLAG_COMMAND == 0).then_some(Event::Header { len });
                Ok((take, header))
            }
            State::Body {
                flags,
                remaining,
                body,
            } => {
                let take = (*remaining).min(input.len());
                if body.capacity() - body.len() < take {
                    // Exact: a doubling reserve could hold twice what was charged for.
                    body.reserve_exact(take.max(BODY_CHUNK.min(*remaining)));
                }
                body.extend_from_slice(&input[..take]);
                *remaining -= take;
                if *remaining > 0 {
                    return Ok((take, None));
                }
                let flags = *flags;
                let body = std::mem::take(body);
                self.state = State::Flags;
                let event = if flags & FLAG_COMMAND != 0 {
                    Event::Command(parse_command(body)?)
                } else {
                    Event::Frame(Frame {
                        more: flags & FLAG_MORE != 0,
                        body,
                    })
                };
                Ok((take, Some(event)))
            }
        }
    }

    fn check_length(&self, flags: u8, announced: u64) -> Result<usize, ZmtpError> {
        if flags & FLAG_COMMAND != 0 {
            return usize::try_from(announced)
                .ok()
                .filter(|&n| n <= MAX_COMMAND_BYTES)
                .ok_or(ZmtpError::CommandTooLarge(announced));
        }
        usize::try_from(announced)
            .ok()
            .filter(|&n| n <= self.max_frame)
            .ok_or(ZmtpError::FrameTooLarge {
                announced,
                limit: self.max_frame,
            })
    }
}

/// Our greeting: ZMTP 3.0, NULL mechanism.
pub fn greeting(as_server: bool) -> [u8; GREETING_LEN] {
    let mut g = [0u8; GREETING_LEN];
    g[0] = SIGNATURE_HEAD;
    g[9] = SIGNATURE_TAIL;
    g[10] = MAJOR_VERSION;
    g[11] = MINOR_VERSION;
    g[12..12 + MECHANISM_NULL.len()].copy_from_slice(MECHANISM_NULL);
    g[32] = u8::from(as_server);
    g
}

fn check_greeting_prefix(got: &[u8]) -> Result<(), ZmtpError> {
    if got.first().is_some_and(|&b| b != SIGNATURE_HEAD)
        || got.get(9).is_some_and(|&b| b != SIGNATURE_TAIL)
    {
        return Err(ZmtpError::BadSignature);
    }
    match got.get(10) {
        Some(&major) if major < MAJOR_VERSION => Err(ZmtpError::UnsupportedVersion(major)),
        _ => Ok(()),
    }
}

fn check_greeting(got: &[u8]) -> Result<Greeting, ZmtpError> {
    check_greeting_prefix(got)?;
    let mechanism = &got[12..12 + MECHANISM_LEN];
    let (name, padding) = mechanism.split_at(MECHANISM_NULL.len());
    if name != MECHANISM_NULL || padding.iter().any(|&b| b != 0) {
        return Err(ZmtpError::UnsupportedMechanism);
    }
    Ok(Greeting {
        major: got[10],
        minor: got[11],
    })
}

fn parse_command(body: Vec<u8>) -> Result<Command, ZmtpError> {
    let (&name_len, rest) = body
        .split_first()
        .ok_or(ZmtpError::MalformedCommand("empty command"))?;
    let name_len = usize::from(name_len);
    if name_len == 0 || rest.len() < name_len {
        return Err(ZmtpError::MalformedCommand("command name does not fit"));
    }
    Ok(Command {
        name: rest[..name_len].to_vec(),
        data: rest[name_len..].to_vec(),
    })
}

/// Appends one message frame to `out`.
pub fn encode_frame(out: &mut Vec<u8>, body: &[u8], more: bool) {
    let more = if more { FLAG_MORE } else { 0 };
    encode(out, more, body);
}

/// Appends a whole message (its frames, MORE on all but the last) to `out`.
pub fn encode_message(out: &mut Vec<u8>, frames: &[&[u8]]) {
    for (i, frame) in frames.iter().enumerate() {
        encode_frame(out, frame, i + 1 < frames.len());
    }
}

/// Appends a command frame to `out`; `name` is at most 255 bytes.
pub fn encode_command(out: &mut Vec<u8>, name: &[u8], data: &[u8]) {
    let mut body = Vec::with_capacity(1 + name.len() + data.len());
    let name = &name[..name.len().min(255)];
    body.push(name.len() as u8);
    body.extend_from_slice(name);
    body.extend_from_slice(data);
    encode(out, FLAG_COMMAND, &body);
}

fn encode(out: &mut Vec<u8>, flags: u8, body: &[u8]) {
    match u8::try_from(body.len()) {
        Ok(short) => out.extend_from_slice(&[flags, short]),
        Err(_) => {
            out.push(flags | FLAG_LONG);
            out.extend_from_slice(&(body.len() as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(body);
}

/// Our READY command announcing `socket_type`, as frame bytes.
pub fn ready(socket_type: &str) -> Vec<u8> {
    let mut data = Vec::with_capacity(16 + socket_type.len());
    data.push(SOCKET_TYPE.len() as u8);
    data.extend_from_slice(SOCKET_TYPE.as_bytes());
    data.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    data.extend_from_slice(socket_type.as_bytes());
    let mut out = Vec::new();
    encode_command(&mut out, b"READY", &data);
    out
}

/// Checks that `command` is READY from one of the `allowed` socket types; returns the type.
pub fn accept_ready(command: &Command, allowed: &[&str]) -> Result<String, ZmtpError> {
    if command.name != b"READY" {
        return Err(ZmtpError::UnexpectedCommand(
            String::from_utf8_lossy(&command.name).into_owned(),
        ));
    }
    let mut socket_type = None;
    let mut rest = command.data.as_slice();
    while let Some((&name_len, tail)) = rest.split_first() {
        let name_len = usize::from(name_len);
        let name = tail
            .get(..name_len)
            .ok_or(ZmtpError::MalformedCommand("property name does not fit"))?;
        let tail = &tail[name_len..];
        let value_len = tail
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or(ZmtpError::MalformedCommand("property length does not fit"))?;
        let value = tail
            .get(4..4usize.saturating_add(value_len))
            .ok_or(ZmtpError::MalformedCommand("property value does not fit"))?;
        if name.eq_ignore_ascii_case(SOCKET_TYPE.as_bytes()) {
            socket_type = Some(String::from_utf8_lossy(value).into_owned());
        }
        rest = &tail[4 + value_len..];
    }
    let socket_type =
        socket_type.ok_or(ZmtpError::MalformedCommand("READY names no Socket-Type"))?;
    if allowed.contains(&socket_type.as_str()) {
        Ok(socket_type)
    } else {
        Err(ZmtpError::IncompatibleSocket(socket_type))
    }
}

/// The PONG that answers a ZMTP 3.1 PING command, or `None` for another command.
pub fn pong_for(command: &Command) -> Option<Vec<u8>> {
    if command.name != b"PING" {
        return None;
    }
    // PING: a 2-byte TTL, then up to 16 bytes of context that PONG echoes.
    let context = command.data.get(2..).unwrap_or_default();
    let mut out = Vec::new();
    encode_command(&mut out, b"PONG", &context[..context.len().min(16)]);
    Some(out)
}

/// A whole message, as the [`Assembler`] hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The frames kept, in order.
    pub frames: Vec<Vec<u8>>,
    /// How many frames arrived beyond those kept (their bytes were dropped).
    pub dropped_frames: usize,
}

/// Joins frames into messages, keeping at most `max_frames` of each and
/// refusing a message whose frames (with their headers) exceed `max_bytes`.
#[derive(Debug)]
pub struct Assembler {
    max_frames: usize,
    max_bytes: usize,
    frames: Vec<Vec<u8>>,
    dropped_frames: usize,
    bytes: usize,
}

impl Assembler {
    /// An assembler with these bounds.
    pub fn new(max_frames: usize, max_bytes: usize) -> Assembler {
        Assembler {
            max_frames,
            max_bytes,
            frames: Vec::new(),
            dropped_frames: 0,
            bytes: 0,
        }
    }

    /// Checks a frame of `len` bytes announced by a header against the message bound.
    pub fn admit(&self, len: usize) -> Result<(), ZmtpError> {
        if self.bytes + len + FRAME_OVERHEAD > self.max_bytes {
            return Err(ZmtpError::MessageTooLarge {
                limit: self.max_bytes,
            });
        }
        Ok(())
    }

    /// Adds a frame; returns the message when it was the last one.
    pub fn push(&mut self, frame: Frame) -> Result<Option<Message>, ZmtpError> {
        self.admit(frame.body.len())?;
        self.bytes += frame.body.len() + FRAME_OVERHEAD;
        if self.frames.len() < self.max_frames {
            self.frames.push(frame.body);
        } else {
            self.dropped_frames += 1;
        }
        if frame.more {
            return Ok(None);
        }
        self.bytes = 0;
        Ok(Some(Message {
            frames: std::mem::take(&mut self.frames),
            dropped_frames: std::mem::replace(&mut self.dropped_frames, 0),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` one call at a time in pieces of `chunk`, collecting events.
    fn feed(decoder: &mut Decoder, bytes: &[u8], chunk: usize) -> Result<Vec<Event>, ZmtpError> {
        let mut events = Vec::new();
        for piece in bytes.chunks(chunk.max(1)) {
            let mut at = 0;
            loop {
                let (used, event) = decoder.decode(&piece[at..])?;
                at += used;
                match event {
                    Some(event) => events.push(event),
                    None => {
                        assert_eq!(at, piece.len(), "no event, so all input is used");
                        break;
                    }
                }
            }
        }
        // A zero-length body completes without further input.
        while let (_, Some(event)) = decoder.decode(&[])? {
            events.push(event);
        }
        Ok(events)
    }

    fn session_bytes() -> Vec<u8> {
        let mut bytes = greeting(false).to_vec();
        bytes.extend(ready("DEALER"));
        encode_message(&mut bytes, &[b"", b"hello"]);
        let long = vec![b'x'; 300];
        encode_frame(&mut bytes, &long, false);
        bytes
    }

    #[test]
    fn a_session_decodes_the_same_in_any_chunking() {
        let bytes = session_bytes();
        let whole = feed(&mut Decoder::new(1 << 20), &bytes, bytes.len()).expect("decodes");
        for chunk in [1, 2, 7, 63, 64, 65, 300] {
            let events = feed(&mut Decoder::new(1 << 20), &bytes, chunk).expect("decodes");
            assert_eq!(events, whole, "chunk {chunk}");
        }
        assert_eq!(whole[0], Event::Greeting(Greeting { major: 3, minor: 0 }));
        let Event::Command(ready) = &whole[1] else {
            panic!("READY expected: {whole:?}")
        };
        assert_eq!(accept_ready(ready, &["DEALER"]).expect("ok"), "DEALER");
        let frames: Vec<&Frame> = whole
            .iter()
            .filter_map(|e| match e {
                Event::Frame(f) => Some(f),
                _ => None,
            })
            .collect();
        assert_eq!(frames.len(), 3);
        assert!(frames[0].more && frames[0].body.is_empty());
        assert_eq!(frames[1].body, b"hello");
        assert_eq!(frames[2].body.len(), 300);
        let headers = whole
            .iter()
            .filter(|e| matches!(e, Event::Header { .. }))
            .count();
        assert_eq!(headers, 3, "every message frame announces itself first");
    }

    #[test]
    fn a_huge_announced_frame_fails_before_its_body() {
        let mut bytes = greeting(false).to_vec();
        bytes.extend(ready("DEALER"));
        bytes.push(FLAG_LONG);
        bytes.extend((1u64 << 40).to_be_bytes());
        let mut decoder = Decoder::new(4 << 20);
        let err = feed(&mut decoder, &bytes, 5).expect_err("refused");
        assert_eq!(
            err,
            ZmtpError::FrameTooLarge {
                announced: 1 << 40,
                limit: 4 << 20
            }
        );
        assert!(
            decoder.decode(b"more").is_err(),
            "a failed decoder stays failed"
        );
        let mut command = greeting(false).to_vec();
        command.push(FLAG_COMMAND | FLAG_LONG);
        command.extend((1u64 << 40).to_be_bytes());
        assert_eq!(
            feed(&mut Decoder::new(4 << 20), &command, 64).expect_err("refused"),
            ZmtpError::CommandTooLarge(1 << 40)
        );
    }

    #[test]
    fn bad_greetings_are_refused_early() {
        let http = b"GET / HTTP/1.1\r\n";
        assert_eq!(
            Decoder::new(1024).decode(http).expect_err("no"),
            ZmtpError::BadSignature
        );
        let mut old = greeting(false);
        old[10] = 2;
        assert_eq!(
            Decoder::new(1024).decode(&old[..11]).expect_err("no"),
            ZmtpError::UnsupportedVersion(2)
        );
        let mut curve = greeting(false);
        curve[12..17].copy_from_slice(b"CURVE");
        assert_eq!(
            Decoder::new(1024).decode(&curve).expect_err("no"),
            ZmtpError::UnsupportedMechanism
        );
    }

    #[test]
    fn frame_flags_are_checked() {
        let mut decoder = Decoder::new(1024);
        feed(&mut decoder, &greeting(false), 64).expect("greeting");
        assert_eq!(
            decoder.decode(&[0x08, 0]).expect_err("reserved"),
            ZmtpError::ReservedFlags(0x08)
        );
        let mut decoder = Decoder::new(1024);
        feed(&mut decoder, &greeting(false), 64).expect("greeting");
        assert_eq!(
            decoder
                .decode(&[FLAG_COMMAND | FLAG_MORE])
                .expect_err("more"),
            ZmtpError::MoreOnCommand
        );
    }

    #[test]
    fn ready_properties_are_parsed_with_bounds() {
        let command = |data: &[u8]| Command {
            name: b"READY".to_vec(),
            data: data.to_vec(),
        };
        let mut ok = vec![11];
        ok.extend(b"Socket-Type\0\0\0\x03REQ\x08Identity\0\0\0\x02id");
        assert_eq!(accept_ready(&command(&ok), &["REQ"]).expect("ok"), "REQ");
        assert!(matches!(
            accept_ready(&command(&ok), &["DEALER"]),
            Err(ZmtpError::IncompatibleSocket(t)) if t == "REQ"
        ));
        let mut overlong = vec![11];
        overlong.extend(b"Socket-Type\xff\xff\xff\xffDEALER");
        assert!(matches!(
            accept_ready(&command(&overlong), &["DEALER"]),
            Err(ZmtpError::MalformedCommand(_))
        ));
        assert!(accept_ready(&command(b""), &["DEALER"]).is_err());
        assert!(accept_ready(&command(&[200]), &["DEALER"]).is_err());
        let ping = Command {
            name: b"PING".to_vec(),
            data: b"\0\x10ctx".to_vec(),
        };
        assert!(accept_ready(&ping, &["DEALER"]).is_err());
        let pong = pong_for(&ping).expect("pong");
        assert_eq!(pong, [&[FLAG_COMMAND, 8, 4][..], b"PONGctx"].concat());
    }

    #[test]
    fn the_assembler_bounds_whole_messages() {
        let frame = |body: &[u8], more| Frame {
            more,
            body: body.to_vec(),
        };
        let mut assembler = Assembler::new(3, 100);
        assert_eq!(assembler.push(frame(b"a", true)), Ok(None));
        let message = assembler
            .push(frame(b"b", false))
            .expect("ok")
            .expect("done");
        assert_eq!(message.frames, vec![b"a".to_vec(), b"b".to_vec()]);
        for _ in 0..4 {
            assert_eq!(assembler.push(frame(b"x", true)), Ok(None));
        }
        let message = assembler
            .push(frame(b"y", false))
            .expect("ok")
            .expect("done");
        assert_eq!((message.frames.len(), message.dropped_frames), (3, 2));
        // Many small "more" frames add up: the bound is on the message.
        let mut assembler = Assembler::new(3, 100);
        let mut outcome = Ok(None);
        for _ in 0..20 {
            outcome = assembler.push(frame(b"0123456789", true));
            if outcome.is_err() {
                break;
            }
        }
        assert_eq!(outcome, Err(ZmtpError::MessageTooLarge { limit: 100 }));
        assert!(Assembler::new(3, 100).admit(92).is_err());
        assert!(Assembler::new(3, 100).admit(91).is_ok());
    }
}
