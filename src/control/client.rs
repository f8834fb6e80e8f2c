//! The CLI side of the control socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::{ControlRequest, ControlResponse};

/// Why the core could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the control socket.
    #[error("the core is not running (no answer on {0}); start it with `carapace start`")]
    NotRunning(String),
    /// The conversation failed.
    #[error("control socket: {0}")]
    Io(String),
    /// The core refused the request.
    #[error("{0}")]
    Refused(String),
}

/// Sends one request and returns the response data.
pub fn request(
    socket: &Path,
    request: &ControlRequest,
    timeout: Duration,
) -> Result<serde_json::Value, ClientError> {
    request_streaming(socket, request, timeout, |_| {})
}

/// Sends one request, hands each progress line to `on_progress` as it comes,
/// and returns the response data. `timeout` bounds each wait for a line.
pub fn request_streaming(
    socket: &Path,
    request: &ControlRequest,
    timeout: Duration,
    mut on_progress: impl FnMut(&serde_json::Value),
) -> Result<serde_json::Value, ClientError> {
    let stream = UnixStream::connect(socket)
        .map_err(|_| ClientError::NotRunning(socket.display().to_string()))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| ClientError::Io(e.to_string()))?;
    let mut line = serde_json::to_vec(request).map_err(|e| ClientError::Io(e.to_string()))?;
    line.push(b'\n');
    (&stream)
        .write_all(&line)
        .map_err(|e| ClientError::Io(e.to_string()))?;
    let mut reader = BufReader::new(&stream);
    let response = loop {
        let mut answer = String::new();
        reader
            .read_line(&mut answer)
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let response: ControlResponse = serde_json::from_str(&answer)
            .map_err(|e| ClientError::Io(format!("unreadable answer from the core: {e}")))?;
        match &response.progress {
            Some(progress) => on_progress(progress),
            None => break response,
        }
    };
    if response.ok {
        Ok(response.data)
    } else {
        Err(ClientError::Refused(
            response.error.unwrap_or_else(|| "refused".into()),
        ))
    }
}
