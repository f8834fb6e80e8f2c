//! The loopback redirect of the code flow: a listener on `127.0.0.1` (a free
//! port) that takes the browser's `GET /callback?...` and answers a short page.
//! Hand-written on purpose (the trust boundary is small and the request one
//! line): only the request line is read, at most [`MAX_REQUEST_BYTES`], within
//! a deadline; anything but `GET /callback` is answered 404 and waited past.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Most bytes of one request read.
const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// How long one connection may take to send its request line.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A bound redirect listener.
pub struct Redirect {
    listener: TcpListener,
}

/// The query of the callback: `code` and `state`, or `error`.
#[derive(Debug, Default)]
pub struct Callback {
    /// The authorization code.
    pub code: Option<String>,
    /// The state sent with the authorization request.
    pub state: Option<String>,
    /// The provider's error code (e.g. `access_denied`).
    pub error: Option<String>,
}

impl Redirect {
    /// Binds `127.0.0.1` on a free port.
    pub fn bind() -> std::io::Result<Redirect> {
        Ok(Redirect {
            listener: TcpListener::bind(("127.0.0.1", 0))?,
        })
    }

    /// `http://127.0.0.1:<port>/callback`.
    pub fn uri(&self) -> std::io::Result<String> {
        Ok(format!(
            "http://127.0.0.1:{}/callback",
            self.listener.local_addr()?.port()
        ))
    }

    /// Waits until `deadline` for the callback.
    pub fn wait(&self, deadline: Instant) -> std::io::Result<Option<Callback>> {
        self.listener.set_nonblocking(true)?;
        while Instant::now() < deadline {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if let Some(callback) = serve(stream)? {
                        return Ok(Some(callback));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}

/// Reads one request; answers it; the callback if it was one.
fn serve(mut stream: TcpStream) -> std::io::Result<Option<Callback>> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buffer.windows(2).any(|w| w == b"\r\n") && buffer.len() < MAX_REQUEST_BYTES {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let line = buffer.split(|b| *b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let Some(query) = target
        .strip_prefix("/callback?")
        .filter(|_| method == "GET")
    else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return Ok(None);
    };
    let mut callback = Callback::default();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "code" => callback.code = Some(value.into_owned()),
            "state" => callback.state = Some(value.into_owned()),
            "error" => callback.error = Some(value.into_owned()),
            _ => {}
        }
    }
    let page = "<!doctype html><title>Carapace</title><p>Carapace got the answer; you may close this window and go back to the terminal.</p>";
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
    Ok(Some(callback))
}
