//! `ipc relay`: forwards loopback TCP connections to the core's model proxy
//! socket, byte for byte, so an agent pointed at `http://127.0.0.1:PORT` reaches
//! its model without a network and without a key (DESIGN.md §4).
//!
//! Each accepted connection gets its own Unix connection and a
//! `copy_bidirectional`; a failure ends that connection only. It runs until killed.

use std::net::SocketAddr;

use carapace_ipc::{ErrorBody, ErrorCode};
use tokio::net::{TcpListener, TcpStream, UnixStream};

/// The proxy socket inside the container.
pub const DEFAULT_MODEL_SOCKET: &str = "/run/carapace/model.sock";

/// What `ipc relay` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// The loopback address to listen on (port 0 picks one).
    pub listen: SocketAddr,
    /// The Unix socket to forward to.
    pub socket: String,
}

/// Binds the listener; the address it reports is the one actually bound.
pub async fn bind(relay: &Relay) -> Result<TcpListener, ErrorBody> {
    TcpListener::bind(relay.listen).await.map_err(|e| {
        ErrorBody::new(
            ErrorCode::ConnectionFailed,
            format!("cannot listen on {}: {e}", relay.listen),
        )
    })
}

/// Accepts connections forever, relaying each to `socket`.
pub async fn run(listener: TcpListener, socket: String) -> ErrorBody {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(forward(stream, socket.clone()));
            }
            Err(e) if is_transient(&e) => {
                // Out of descriptors or a connection reset before accept: wait, go on.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
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
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || e
        .raw_os_error()
        .is_some_and(|code| code == 23 || code == 24)
}

/// Relays one TCP connection to a new connection on the Unix socket.
async fn forward(mut tcp: TcpStream, socket: String) {
    let _ = tcp.set_nodelay(true);
    let mut unix = match UnixStream::connect(&socket).await {
        Ok(unix) => unix,
        Err(e) => {
            report(&ErrorBody::new(
                ErrorCode::ConnectionFailed,
                format!("cannot connect to the model proxy at {socket}: {e}"),
            ));
            return;
        }
    };
    // A reset by either side simply ends the relay for this connection.
    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
}

/// One structured error line on stderr; the relay goes on.
fn report(body: &ErrorBody) {
    use std::io::Write;
    if let Ok(line) = serde_json::to_string(body) {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{line}");
    }
}
