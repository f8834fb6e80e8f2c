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

/// When an agent's silence is not idleness: while `busy` says it waits on
/// the core (a call of its session in flight), up to `at_most` of silence.
#[derive(Clone, Copy)]
pub struct Busy<'a> {
    /// Whether the core has a call of the session in hand now.
    pub busy: &'a (dyn Fn() -> bool + Sync),
    /// The longest silence forgiven for it (the idle timeout plus the longest
    /// a call can take), so a core that never answered could not keep an
    /// agent for ever.
    pub at_most: Duration,
}

/// Streams `running` until it exits; kills it on silence (but not while
/// `busy`), on any error, when its output cannot be recorded, and when `stop`
/// fires.
pub async fn drive(
    running: &mut RunningContainer,
    transcript: &mut Transcript,
    idle: Duration,
    busy: Busy<'_>,
    progress: Option<&Progress>,
    stop: &tokio::sync::Notify,
) -> Result<Ended, AgentError> {
    let stderr = running.take_stderr().map(|pipe| tokio::spawn(tail(pipe)));
    let result = tokio::select! {
        result = run_to_exit(running, transcript, idle, busy, progress) => result,
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
    busy: Busy<'_>,
    progress: Option<&Progress>,
) -> Result<(Tally, Option<i32>), AgentError> {
    let tally = stream(running, transcript, idle, busy, progress).await?;
    match tokio::time::timeout(idle, running.wait()).await {
        Ok(status) => Ok((tally, status?.code())),
        Err(_) => Err(AgentError::IdleTimeout(idle.as_secs())),
    }
}

async fn stream(
    running: &mut RunningContainer,
    transcript: &mut Transcript,
    idle: Duration,
    busy: Busy<'_>,
    progress: Option<&Progress>,
) -> Result<Tally, AgentError> {
    let mut tally = Tally::default();
    let Some(stdout) = running.take_stdout() else {
        return Ok(tally);
    };
    let mut reader = BufReader::new(stdout);
    loop {
        let line = match next_line(&mut reader, idle, busy).await {
            Err(e) => return Err(e),
            Ok(None) => return Ok(tally),
            Ok(Some(line)) => line,
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

/// The next stdout line, or `None` at its end. Silence past `idle` is an
/// [`AgentError::IdleTimeout`] unless the agent is `busy`: a call of its may
/// wait for the person's approval longer than `idle`, and an agent killed
/// meanwhile would never learn that the call ran. The same read goes on (no
/// part of a line is lost).
async fn next_line(
    reader: &mut BufReader<impl tokio::io::AsyncRead + Unpin>,
    idle: Duration,
    busy: Busy<'_>,
) -> Result<Option<Vec<u8>>, AgentError> {
    let silent_since = std::time::Instant::now();
    let read = read_line_cut(reader, MAX_LINE_BYTES);
    tokio::pin!(read);
    loop {
        match tokio::time::timeout(idle, &mut read).await {
            Err(_) if (busy.busy)() && silent_since.elapsed() < busy.at_most => continue,
            Err(_) => return Err(AgentError::IdleTimeout(idle.as_secs())),
            Ok(line) => return line.map_err(AgentError::Output),
        }
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

    /// An agent silent past its idle timeout is idle only when the core has
    /// no call of its in hand; the line it prints after the call arrives whole.
    #[tokio::test]
    async fn silence_while_a_call_is_in_flight_is_not_idleness() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use tokio::io::AsyncWriteExt;
        let idle = Duration::from_millis(50);
        let (mut agent, out) = tokio::io::duplex(64);
        let mut reader = BufReader::new(out);
        let in_flight = AtomicBool::new(true);
        let check = || in_flight.load(Ordering::SeqCst);
        let busy = Busy {
            busy: &check,
            at_most: idle * 100,
        };
        agent.write_all(b"half a ").await.expect("write");
        let waited = next_line(&mut reader, idle, busy);
        let answer = async {
            // Ten idle timeouts pass with the call in flight, then it is answered.
            tokio::time::sleep(idle * 10).await;
            agent.write_all(b"line\n").await.expect("write");
            agent
        };
        let (line, agent) = tokio::join!(waited, answer);
        assert_eq!(line.expect("not idle"), Some(b"half a line".to_vec()));
        in_flight.store(false, Ordering::SeqCst);
        let silent = next_line(&mut reader, idle, busy).await;
        assert!(
            matches!(silent, Err(AgentError::IdleTimeout(_))),
            "{silent:?}"
        );
        // A call that never ends is forgiven only so long.
        in_flight.store(true, Ordering::SeqCst);
        let bounded = Busy {
            at_most: idle * 3,
            ..busy
        };
        let stuck = next_line(&mut reader, idle, bounded).await;
        assert!(
            matches!(stuck, Err(AgentError::IdleTimeout(_))),
            "{stuck:?}"
        );
        drop(agent);
    }

    #[tokio::test]
    async fn the_stderr_tail_is_bounded() {
        let big = vec![b'x'; 10_000];
        let kept = tail(&big[..]).await;
        assert_eq!(kept.len(), STDERR_TAIL_BYTES);
    }
}
