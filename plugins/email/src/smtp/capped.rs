//! The stream an SMTP session runs on: it stops reading after [`MAX_SESSION_BYTES`].
//!
//! Hand-written because lettre reads a reply line with `read_line`, which grows
//! its buffer until a newline comes and only then checks the line's length: a
//! server sending one endless line would fill the memory before the deadline.
//! This layer only counts.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use lettre::transport::smtp::client::AsyncTokioStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Most bytes one SMTP session may read from the server in all: a session's few
/// replies and (under STARTTLS) the TLS handshake need a few tens of KiB.
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
}

impl<S> Capped<S> {
    /// `inner`, connected to `peer`, with the whole budget.
    pub fn new(inner: S, peer: SocketAddr) -> Capped<S> {
        Capped {
            inner,
            peer,
            left: MAX_SESSION_BYTES,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Capped<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.left == 0 {
            return Poll::Ready(Err(io::Error::other(TooMuch)));
        }
        // Never more than the budget into the caller's buffer.
        let room = buf.remaining().min(self.left);
        let mut part = ReadBuf::new(buf.initialize_unfilled_to(room));
        let polled = Pin::new(&mut self.inner).poll_read(cx, &mut part);
        let read = part.filled().len();
        if let Poll::Ready(Ok(())) = polled {
            buf.advance(read);
            self.left -= read;
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
            assert!(error.get_ref().is_some_and(|e| e.is::<TooMuch>()), "{error}");
        });
    }
}
