//! Running the container: stream its stdout into the transcript and the
//! tally, kill it when it is silent past the idle timeout.

use std::time::Duration;

use tokio::io::{AsyncReadExt, BufReader};

use super::stream::Tally;
use super::transcript::Transcript;
use super::AgentError;
use crate::bounded_line::read_line_cut;
use crate::runtime::RunningContainer;

/// Longest stdout line kept (the rest of a longer line is dropped).
pub const MAX_LINE_BYTES: usize = 4 << 20;
/// How much of the container's stderr is kept for error messages.
const STDERR_TAIL_BYTES: usize = 2048;

/// Where progress (the model's text, the tools it calls) goes as it comes.
pub type Progress = tokio::sync::mpsc::UnboundedSender<serde_json::Value>;

/// How a run ended.
#[derive(Debug)]
pub struct Ended {
    /// What stdout said.
    pub tally: Tally,
    /// The container's exit code (`None` if killed by a signal).
    pub exit_code: Option<i32>,
    /// The end of its stderr.
    pub stderr_tail: String,
}

/// Streams `running` until it exits; kills it on silence, on any error, when
/// its output cannot be recorded, and when `stop` fires.
pub async fn drive(
    running: &mut RunningContainer,
    transcript: &mut Transcript,
    idle: Duration,
    progress: Option<&Progress>,
    stop: &tokio::sync::Notify,
) -> Result<Ended, AgentError> {
    let stderr = running.take_stderr().map(|pipe| tokio::spawn(tail(pipe)));
    let result = tokio::select! {
        result = run_to_exit(running, transcript, idle, progress) => result,
        () = stop.notified() => Err(AgentError::Stopped),
    };
    if result.is_err() {
        if let Err(kill) = running.kill().await {
            tracing::warn!(container = running.name(), error = %kill, "cannot remove the container");
        }
    }
    let stderr_tail = match stderr {
        Some(task) => task.await.unwrap_or_default(),
        None => String::new(),
    };
    let (tally, exit_code) = result?;
    Ok(Ended {
        tally,
        exit_code,
        stderr_tail,
    })
}

/// Streams stdout to its end, then waits up to `idle` for the exit (the
/// caller kills the container on any error, this timeout included).
async fn run_to_exit(
    running: &mut RunningContainer,
    transcript: &mut Transcript,
    idle: Duration,
    progress: Option<&Progress>,
) -> Result<(Tally, Option<i32>), AgentError> {
    let tally = stream(running, transcript, idle, progress).await?;
    match tokio::time::timeout(idle, running.wait()).await {
        Ok(status) => Ok((tally, status?.code())),
        Err(_) => Err(AgentError::IdleTimeout(idle.as_secs())),
    }
}

async fn stream(
    running: &mut RunningContainer,
    transcript: &mut Transcript,
    idle: Duration,
    progress: Option<&Progress>,
) -> Result<Tally, AgentError> {
    let mut tally = Tally::default();
    let Some(stdout) = running.take_stdout() else {
        return Ok(tally);
    };
    let mut reader = BufReader::new(stdout);
    loop {
        let line =
            match tokio::time::timeout(idle, read_line_cut(&mut reader, MAX_LINE_BYTES)).await {
                Err(_) => return Err(AgentError::IdleTimeout(idle.as_secs())),
                Ok(Err(e)) => return Err(AgentError::Output(e)),
                Ok(Ok(None)) => return Ok(tally),
                Ok(Ok(Some(line))) => line,
            };
        transcript
            .append(&line)
            .await
            .map_err(|source| AgentError::Transcript {
                path: transcript.path().display().to_string(),
                source,
            })?;
        let text = String::from_utf8_lossy(&line);
        if let Some(progress) = progress {
            for update in super::stream::progress_of(&text) {
                // A watcher that went away does not stop the run.
                let _ = progress.send(update);
            }
        }
        tally.push(&text);
    }
}

/// Reads a pipe to its end, keeping the last [`STDERR_TAIL_BYTES`].
async fn tail(mut pipe: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut kept: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&chunk[..n]);
        if kept.len() > STDERR_TAIL_BYTES {
            kept.drain(..kept.len() - STDERR_TAIL_BYTES);
        }
    }
    String::from_utf8_lossy(&kept).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_stderr_tail_is_bounded() {
        let big = vec![b'x'; 10_000];
        let kept = tail(&big[..]).await;
        assert_eq!(kept.len(), STDERR_TAIL_BYTES);
    }
}
