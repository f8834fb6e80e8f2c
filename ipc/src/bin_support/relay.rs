//! `ipc relay`: forwards loopback TCP connections to the core's model proxy
//! socket, byte for byte, so an agent pointed at `http://127.0.0.1:PORT` reaches
//! its model without a network and without a key (DESIGN.md §4).
//!
//! Each accepted connection gets its own Unix connection and two copying
//! threads; a failure ends that connection only. It runs until killed.

use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;

use carapace_ipc::{ErrorBody, ErrorCode};

/// The proxy socket inside the container.
pub const DEFAULT_MODEL_SOCKET: &str = "/run/carapace/model.sock";

/// What `ipc relay` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// The loopback address to listen on (port 0 picks one).
    pub listen: SocketAddr,
    /// The Unix socket to forward to.
    pub socket: String,
    /// A program (and its arguments) to run once the relay listens; empty for none.
    pub exec: Vec<std::ffi::OsString>,
}

/// Binds the listener; the address it reports is the one actually bound.
pub fn bind(relay: &Relay) -> Result<TcpListener, ErrorBody> {
    TcpListener::bind(relay.listen).map_err(|e| {
        ErrorBody::new(
            ErrorCode::ConnectionFailed,
            format!("cannot listen on {}: {e}", relay.listen),
        )
    })
}

/// Runs `program` with this process's stdio and waits for it; the relay keeps
/// serving on other threads meanwhile. Returns its exit status (128 + signal
/// when killed), or the error that kept it from starting.
pub fn run_program(program: &[std::ffi::OsString]) -> Result<u8, ErrorBody> {
    use std::os::unix::process::ExitStatusExt;
    let (name, args) = program.split_first().ok_or_else(|| {
        ErrorBody::new(ErrorCode::ConnectionFailed, "no program to run after `--`")
    })?;
    let status = std::process::Command::new(name)
        .args(args)
        .status()
        .map_err(|e| {
            ErrorBody::new(
                ErrorCode::ConnectionFailed,
                format!("cannot run {}: {e}", name.to_string_lossy()),
            )
        })?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(255),
        (None, None) => 1,
    })
}

/// Accepts connections forever, relaying each to `socket` on threads of its own.
pub fn run(listener: TcpListener, socket: String) -> ErrorBody {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let socket = socket.clone();
                let spawned = std::thread::Builder::new()
                    .name("relay".into())
                    .spawn(move || forward(stream, &socket));
                if let Err(e) = spawned {
                    report(&ErrorBody::new(
                        ErrorCode::ConnectionFailed,
                        format!("cannot start a relay thread: {e}"),
                    ));
                }
            }
            Err(e) if is_transient(&e) => {
                // Out of descriptors or a connection reset before accept: wait, go on.
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => {
                return ErrorBody::new(
                    ErrorCode::ConnectionFailed,
                    format!("accepting on the relay socket failed: {e}"),
                )
            }
        }
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionAborted
            | ErrorKind::ConnectionReset
            | ErrorKind::Interrupted
            | ErrorKind::WouldBlock
    ) || e
        .raw_os_error()
        .is_some_and(|code| code == 23 || code == 24)
}

/// Relays one TCP connection to a new connection on the Unix socket, both ways.
///
/// Each direction is a plain copy: bytes are written as soon as they are read,
/// so a streamed (SSE) answer is never held back. When one side stops sending,
/// the other is told with a half-close; a reset ends both.
fn forward(tcp: TcpStream, socket: &str) {
    let _ = tcp.set_nodelay(true);
    let unix = match UnixStream::connect(socket) {
        Ok(unix) => unix,
        Err(e) => {
            report(&ErrorBody::new(
                ErrorCode::ConnectionFailed,
                format!("cannot connect to the model proxy at {socket}: {e}"),
            ));
            return;
        }
    };
    let (Ok(mut tcp_in), Ok(mut unix_out)) = (tcp.try_clone(), unix.try_clone()) else {
        return;
    };
    let upstream = std::thread::Builder::new()
        .name("relay-up".into())
        .spawn(move || {
            let _ = std::io::copy(&mut tcp_in, &mut unix_out);
            let _ = unix_out.shutdown(Shutdown::Write);
        });
    let (mut unix_in, mut tcp_out) = (unix, tcp);
    let _ = std::io::copy(&mut unix_in, &mut tcp_out);
    let _ = tcp_out.shutdown(Shutdown::Write);
    if let Ok(upstream) = upstream {
        let _ = upstream.join();
    }
}

/// One structured error line on stderr; the relay goes on.
fn report(body: &ErrorBody) {
    use std::io::Write;
    if let Ok(line) = serde_json::to_string(body) {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{line}");
    }
}
