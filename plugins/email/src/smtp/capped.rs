//! The stream an SMTP session runs on: it stops reading after [`MAX_SESSION_BYTES`].
//!
//! Hand-written because lettre reads a reply line with `read_line`, which grows
//! its buffer until a newline comes and only then checks the line's length: a
//! server sending one endless line would fill the memory before the deadline.
//!
//! Under STARTTLS it also hands out at most one line per read ([`Capped::by_line`]):
//! lettre's reader keeps whatever it read past STARTTLS's `220` and would take
//! those plaintext bytes, which anyone on the path can add, as the server's first
//! answers over TLS (a STARTTLS response injection). Held here instead, they are
//! the first bytes the TLS handshake reads, and it fails.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use lettre::transport::smtp::client::AsyncTokioStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Most bytes one SMTP session may read from the server in all: a session's few
/// replies and (under STARTTLS) the TLS handshake need a few tens of KiB. Under
/// STARTTLS this counts the bytes on the wire; with implicit TLS, the plain bytes
/// over it (rustls holds at most one record besides, and the deadline bounds
/// records that carry none).
pub const MAX_SESSION_BYTES: usize = 1 << 20;

/// The session's reads ended at [`MAX_SESSION_BYTES`].
#[derive(Debug, thiserror::Error)]
#[error("the SMTP server sent more than {MAX_SESSION_BYTES} bytes")]
pub struct TooMuch;

/// `inner`, read at most [`MAX_SESSION_BYTES`] in all.
pub struct Capped<S> {
    inner: S,
    peer: SocketAddr,
    left: usize,
    /// Hand out at most one line per read.
    by_line: bool,
    /// Bytes read past the end of a line, handed out before anything new.
    held: Vec<u8>,
}

impl<S> Capped<S> {
    /// `inner`, connected to `peer`, with the whole budget.
    pub fn new(inner: S, peer: SocketAddr) -> Capped<S> {
        Capped {
            inner,
            peer,
            left: MAX_SESSION_BYTES,
            by_line: false,
            held: Vec::new(),
        }
    }

    /// As [`Capped::new`], handing out at most one line (up to a `\n`) per read.
    pub fn by_line(inner: S, peer: SocketAddr) -> Capped<S> {
        Capped {
            by_line: true,
            ..Capped::new(inner, peer)
        }
    }

    /// How many of `bytes` one read hands out: up to the first line's end.
    fn portion(&self, bytes: &[u8]) -> usize {
        match bytes.iter().position(|&b| b == b'\n') {
            Some(end) if self.by_line => end + 1,
            _ => bytes.len(),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Capped<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.held.is_empty() {
            let given = this.portion(&this.held).min(buf.remaining());
            buf.put_slice(&this.held[..given]);
            this.held.drain(..given);
            return Poll::Ready(Ok(()));
        }
        if this.left == 0 {
            return Poll::Ready(Err(io::Error::other(TooMuch)));
        }
        // Never more than the budget into the caller's buffer.
        let room = buf.remaining().min(this.left);
        let mut part = ReadBuf::new(buf.initialize_unfilled_to(room));
        let polled = Pin::new(&mut this.inner).poll_read(cx, &mut part);
        if let Poll::Ready(Ok(())) = polled {
            let read = part.filled();
            let given = this.portion(read);
            this.held.extend_from_slice(&read[given..]);
            this.left -= read.len();
            buf.advance(given);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Capped<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S> fmt::Debug for Capped<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capped")
            .field("peer", &self.peer)
            .field("left", &self.left)
            .field("held", &self.held.len())
            .finish()
    }
}

impl<S: AsyncRead + AsyncWrite + Send + Sync + Unpin> AsyncTokioStream for Capped<S> {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn reads_stop_at_the_budget() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let endless = tokio::io::repeat(b'a');
            let mut capped = Capped::new(endless, "127.0.0.1:25".parse().expect("test value"));
            let mut all = Vec::new();
            let error = capped.read_to_end(&mut all).await.expect_err("cut");
            assert_eq!(all.len(), MAX_SESSION_BYTES);
            assert!(
                error.get_ref().is_some_and(|e| e.is::<TooMuch>()),
                "{error}"
            );
        });
    }

    #[test]
    fn by_line_a_read_ends_at_the_first_line_and_keeps_the_rest() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let wire: &[u8] = b"220 go ahead\r\n250 injected\r\n";
            let mut capped = Capped::by_line(wire, "127.0.0.1:25".parse().expect("test value"));
            let mut buffer = [0u8; 256];
            let first = capped.read(&mut buffer).await.expect("read");
            assert_eq!(&buffer[..first], b"220 go ahead\r\n");
            let second = capped.read(&mut buffer).await.expect("read");
            assert_eq!(&buffer[..second], b"250 injected\r\n");
            assert_eq!(capped.read(&mut buffer).await.expect("read"), 0);
        });
    }
}
