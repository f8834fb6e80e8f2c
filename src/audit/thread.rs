//! The background audit writer: a std thread that owns an [`AuditWriter`]
//! and is fed by a bounded channel, so recording an event on the request
//! path is one channel send.
//!
//! When the disk falls behind by [`QUEUE_DEPTH`] events, `record` waits for
//! room: back-pressure on the callers, never unbounded memory and never a
//! dropped line. This file must never panic in [`AuditLog::record`] and never
//! log event values (only the event's `kind`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::{AuditError, AuditWriter};

type Event = serde_json::Map<String, serde_json::Value>;

/// Events queued for the writer before `record` waits for room.
pub const QUEUE_DEPTH: usize = 2048;

enum Msg {
    Event(Event),
    Flush(Sender<Result<(), AuditError>>),
    Shutdown,
}

struct Shared {
    dir: PathBuf,
    handle: Mutex<Option<JoinHandle<()>>>,
    dropped: AtomicU64,
}

/// A cheap, cloneable handle to the background audit writer thread.
///
/// The channel holds [`QUEUE_DEPTH`] events: if the disk stalls, callers
/// slow down to its pace rather than memory growing or events being dropped.
#[derive(Clone)]
pub struct AuditLog {
    tx: SyncSender<Msg>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Spawns the writer thread. It appends everything queued, then flushes,
    /// and repeats; it exits on [`shutdown`](Self::shutdown) or when every
    /// handle is dropped, flushing first.
    pub fn start(writer: AuditWriter) -> AuditLog {
        let (tx, rx) = mpsc::sync_channel(QUEUE_DEPTH);
        let dir = writer.log_dir().to_path_buf();
        let thread_dir = dir.clone();
        let spawned = std::thread::Builder::new()
            .name("carapace-audit".into())
            .spawn(move || run(writer, rx, thread_dir));
        let handle = match spawned {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::error!(error = %e, dir = %dir.display(), "cannot start the audit writer thread");
                None
            }
        };
        AuditLog {
            tx,
            shared: Arc::new(Shared {
                dir,
                handle: Mutex::new(handle),
                dropped: AtomicU64::new(0),
            }),
        }
    }

    /// Queues `event`, waiting only while the queue is full. Never panics; if the writer
    /// thread is gone the event is dropped and an error is logged (for the
    /// 1st, 2nd, 4th, 8th, ... dropped event, so a dead writer cannot flood
    /// the log).
    pub fn record(&self, event: Event) {
        if let Err(mpsc::SendError(msg)) = self.tx.send(Msg::Event(event)) {
            let n = self.shared.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                let kind = match &msg {
                    Msg::Event(e) => e.get("kind").and_then(|k| k.as_str()).map(str::to_owned),
                    _ => None,
                };
                tracing::error!(
                    dir = %self.shared.dir.display(),
                    dropped = n,
                    kind = kind.as_deref().unwrap_or("-"),
                    "audit writer thread is gone; audit event dropped"
                );
            }
        }
    }

    /// Waits until everything recorded before this call is written to disk.
    /// Also reports any write error the thread hit since the last flush.
    pub fn flush(&self) -> Result<(), AuditError> {
        let (tx, rx) = mpsc::channel();
        self.tx.send(Msg::Flush(tx)).map_err(|_| self.gone())?;
        rx.recv().map_err(|_| self.gone())?
    }

    /// Flushes, stops the thread and waits for it. Later `record` calls on
    /// other clones log an error and drop their event.
    pub fn shutdown(self) -> Result<(), AuditError> {
        let flushed = self.flush();
        let _ = self.tx.send(Msg::Shutdown);
        let handle = match self.shared.handle.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(h) = handle {
            if h.join().is_err() {
                return Err(AuditError::Writer {
                    dir: self.shared.dir.clone(),
                    reason: "the writer thread panicked".into(),
                });
            }
        }
        flushed
    }

    fn gone(&self) -> AuditError {
        AuditError::Writer {
            dir: self.shared.dir.clone(),
            reason: "the writer thread has stopped".into(),
        }
    }
}

fn run(mut writer: AuditWriter, rx: Receiver<Msg>, dir: PathBuf) {
    // The first error since the last Flush message, reported to that flush.
    let mut failed: Option<String> = None;
    let note = |failed: &mut Option<String>, e: AuditError| {
        tracing::error!(error = %e, "audit write failed");
        failed.get_or_insert_with(|| e.to_string());
    };
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        let mut stop = false;
        while let Some(msg) = next.take() {
            match msg {
                Msg::Event(event) => {
                    if let Err(e) = writer.append(&event) {
                        note(&mut failed, e);
                    }
                }
                Msg::Flush(reply) => {
                    let result = match (writer.flush(), failed.take()) {
                        (Err(e), _) => Err(e),
                        (Ok(()), Some(reason)) => Err(AuditError::Writer {
                            dir: dir.clone(),
                            reason,
                        }),
                        (Ok(()), None) => Ok(()),
                    };
                    let _ = reply.send(result);
                }
                Msg::Shutdown => {
                    stop = true;
                    break;
                }
            }
            next = rx.try_recv().ok();
        }
        if let Err(e) = writer.flush() {
            note(&mut failed, e);
        }
        if stop {
            return;
        }
    }
}
