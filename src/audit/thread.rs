//! The background audit writer: a std thread that owns an [`AuditWriter`]
//! and is fed through a shared byte queue, so recording an event on the
//! request path is one copy of its bytes under a short lock.
//!
//! Each queued entry is `<ts> <event JSON>\n`, stamped when it is recorded.
//! The writer takes the whole queue at once (swapping buffers, so nothing is
//! allocated per event), appends every entry, flushes, then naps for
//! [`NAP`] before looking again: a steady stream of calls never has to wake
//! it. Only once the queue stayed empty for a whole nap does it sleep until
//! woken, so an idle core has no timer.
//!
//! When the disk falls behind by [`QUEUE_BYTES`] (a stalled, not failing,
//! disk), `record` never waits: it is called from async code, and waiting
//! would stall the core's workers, so nothing (not even `status`) would answer.
//! The event is counted as lost and the log is *unavailable* at once (calls are
//! refused with `AUDIT_UNAVAILABLE`) until the writer catches up and writes an
//! `audit.available` line with the count, as for a failing disk below.
//!
//! # Failing closed
//!
//! Each recorded entry gets a [`Ticket`]; [`AuditLog::wait_written`] returns
//! once the writer has written it to the file with write(2) (it then survives
//! a crash of the core, not a power loss unless `sync` is on). When a write
//! fails (ENOSPC, EIO, a permission, the thread gone) the log becomes
//! *unavailable*: [`AuditLog::available`] turns false at once, waiting tickets
//! fail, and the pipeline refuses calls until a write succeeds again. While
//! unavailable the writer retries every [`PROBE_EVERY`] with the lines it holds
//! (at most [`OUTAGE_BUFFER_BYTES`]; events past that are counted as lost, never
//! chained, so the chain stays whole). The first successful write is followed
//! by an `audit.available` line with the outage's start, reason and lost count.
//! This file must never panic in [`AuditLog::record`] and never log event
//! values (only the event's `kind`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use super::event::EventLine;
use super::format::Stamp;
use super::{AuditError, AuditWriter};

/// Bytes of queued entries past which `record` loses events (and the log is
/// unavailable) until the writer catches up.
pub const QUEUE_BYTES: usize = 4 << 20;

/// The outage reason when the queue was full.
const QUEUE_FULL: &str =
    "the audit writer fell behind by the whole queue (a stalled disk?); events were lost";

/// The ticket of an event that was not queued: never reported written.
const NOT_QUEUED: Ticket = Ticket(u64::MAX);

/// How long the writer waits for more events after writing a batch.
pub const NAP: Duration = Duration::from_micros(500);

/// How often the writer retries while the log cannot be written.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);

/// Bytes of unwritten lines the writer holds while the log cannot be written;
/// events beyond them are counted as lost (and reported when writing works again).
pub const OUTAGE_BUFFER_BYTES: usize = 256 << 10;

/// A recorded entry's place in the queue, for [`AuditLog::wait_written`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

/// Whether the audit log can be written, for `status` and `doctor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditHealth {
    /// The last write succeeded: calls run.
    pub available: bool,
    /// When the log stopped being writable (RFC 3339), if it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// The first error of the outage (a path and an OS error, no event values).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Events dropped during the outage (never chained).
    pub lost: u64,
}

/// An outage of the log: when it began, why, and what it cost.
#[derive(Clone)]
struct Outage {
    since: Stamp,
    reason: String,
    lost: u64,
    /// The `audit.available` line is appended (once) and waits to be written.
    announced: bool,
}

/// Events `record` lost to a full queue: since when, and how many.
#[derive(Clone, Copy)]
struct Overflow {
    since: Stamp,
    lost: u64,
}

/// What the request threads and the writer thread share, under one mutex.
#[derive(Default)]
struct Queue {
    /// Entries not yet taken by the writer.
    entries: Vec<u8>,
    /// The writer is asleep until notified (not napping): `record` must wake it.
    sleeping: bool,
    /// Events lost to a full queue since the writer last took it.
    overflow: Option<Overflow>,
    /// Flushes waiting for everything queued before them to be written; each
    /// gets the outcome (the first write error since the last flush) on its own.
    flushes: Vec<Sender<Result<(), String>>>,
    /// Every handle is gone or `shutdown` was called: nothing more is queued.
    stop: bool,
    /// The writer thread has ended (or never started).
    gone: bool,
    /// Entries ever queued; the last one's [`Ticket`].
    enqueued: u64,
    /// Entries written to the file, counted like `enqueued`.
    written: u64,
    /// The last ticket of the latest batch in which an entry was lost or a
    /// write failed: those tickets are never reported written.
    failed_upto: u64,
    /// The log cannot be written right now.
    outage: Option<Outage>,
    /// Tests hold the writer back to see what waits for it.
    #[cfg(test)]
    paused: bool,
}

struct Shared {
    dir: PathBuf,
    queue: Mutex<Queue>,
    /// Wakes the writer.
    work: Condvar,
    dropped: AtomicU64,
    /// Mirrors `Queue::outage.is_some()` (and a gone writer) without the lock.
    unavailable: AtomicBool,
    /// Wakes `wait_written` after each batch (written or failed).
    written: tokio::sync::Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock cannot leave the queue half-updated in a way
        // that matters more than losing the log: keep going with what is there.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Ends the writer when the last handle goes; joins it on shutdown.
struct Owner {
    shared: Arc<Shared>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.work.notify_one();
    }
}

/// A cheap, cloneable handle to the background audit writer thread.
///
/// The queue holds [`QUEUE_BYTES`]: if the disk stalls, events past that are
/// lost (and counted) and the log is unavailable, rather than memory growing
/// or callers waiting.
#[derive(Clone)]
pub struct AuditLog {
    owner: Arc<Owner>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.shared().dir)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Spawns the writer thread. It appends everything queued, then flushes,
    /// and repeats; it exits on [`shutdown`](Self::shutdown) or when every
    /// handle is dropped, flushing first.
    pub fn start(writer: AuditWriter) -> AuditLog {
        let dir = writer.log_dir().to_path_buf();
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            dropped: AtomicU64::new(0),
            unavailable: AtomicBool::new(false),
            written: tokio::sync::Notify::new(),
        });
        let for_thread = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("carapace-audit".into())
            .spawn(move || run(writer, &for_thread));
        let handle = match spawned {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::error!(error = %e, dir = %dir.display(), "cannot start the audit writer thread");
                shared.lock().gone = true;
                shared.unavailable.store(true, Ordering::SeqCst);
                None
            }
        };
        let owner = Arc::new(Owner {
            shared,
            handle: Mutex::new(handle),
        });
        AuditLog { owner }
    }

    /// Queues `event`, stamped now, and returns its ticket. Never waits and
    /// never panics. If the queue is full the event is lost: counted, and the
    /// log is unavailable until the writer has caught up and said so. If the
    /// writer thread is gone the event is dropped and an error is logged (for
    /// the 1st, 2nd, 4th, 8th, ... dropped event, so a dead writer cannot flood
    /// the log).
    pub fn record(&self, event: &EventLine) -> Ticket {
        let stamp = Stamp::now();
        let mut queue = self.shared().lock();
        if queue.gone || queue.stop {
            drop(queue);
            self.dropped(event);
            return NOT_QUEUED;
        }
        if queue.entries.len() >= QUEUE_BYTES {
            let overflow = queue.overflow.get_or_insert(Overflow {
                since: stamp,
                lost: 0,
            });
            overflow.lost += 1;
            let first = overflow.lost == 1;
            self.shared().unavailable.store(true, Ordering::SeqCst);
            drop(queue);
            if first {
                tracing::error!(
                    dir = %self.shared().dir.display(),
                    "audit queue is full (the disk is not keeping up); events are lost and calls are refused until it catches up"
                );
            }
            return NOT_QUEUED;
        }
        queue.entries.extend_from_slice(stamp.as_bytes());
        queue.entries.push(b' ');
        queue.entries.extend_from_slice(event.as_bytes());
        queue.entries.push(b'\n');
        queue.enqueued += 1;
        if queue.sleeping {
            queue.sleeping = false;
            self.shared().work.notify_one();
        }
        Ticket(queue.enqueued)
    }

    /// Whether the last write succeeded (and the writer runs): without the lock.
    pub fn available(&self) -> bool {
        !self.shared().unavailable.load(Ordering::SeqCst)
    }

    /// Whether the log can be written, and since when not.
    pub fn health(&self) -> AuditHealth {
        let queue = self.shared().lock();
        if let (None, Some(overflow)) = (&queue.outage, &queue.overflow) {
            return AuditHealth {
                available: false,
                since: Some(String::from_utf8_lossy(overflow.since.as_bytes()).into_owned()),
                reason: Some(QUEUE_FULL.into()),
                lost: overflow.lost,
            };
        }
        match (&queue.outage, queue.gone && !queue.stop) {
            (Some(outage), _) => AuditHealth {
                available: false,
                since: Some(String::from_utf8_lossy(outage.since.as_bytes()).into_owned()),
                reason: Some(outage.reason.clone()),
                lost: outage.lost,
            },
            (None, true) => AuditHealth {
                available: false,
                since: None,
                reason: Some("the audit writer thread has stopped".into()),
                lost: self.shared().dropped.load(Ordering::Relaxed),
            },
            (None, false) => AuditHealth {
                available: true,
                since: None,
                reason: None,
                lost: 0,
            },
        }
    }

    /// Waits until the entry of `ticket` is written to the log file, at most
    /// `timeout`. Fails at once while the log is unavailable, and as soon as a
    /// write fails or the writer stops: the caller must then not act on the event.
    pub async fn wait_written(&self, ticket: Ticket, timeout: Duration) -> Result<(), AuditError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared().written.notified();
            tokio::pin!(notified);
            // Registered before the check, so a batch written in between still wakes us.
            notified.as_mut().enable();
            {
                let mut queue = self.shared().lock();
                if ticket.0 <= queue.failed_upto {
                    return Err(AuditError::Unavailable {
                        dir: self.shared().dir.clone(),
                        reason: "a write failed while this line was queued".into(),
                    });
                }
                if queue.written >= ticket.0 {
                    return Ok(());
                }
                if let Some(outage) = &queue.outage {
                    return Err(AuditError::Unavailable {
                        dir: self.shared().dir.clone(),
                        reason: outage.reason.clone(),
                    });
                }
                if queue.gone || queue.stop {
                    return Err(self.gone());
                }
                if ticket == NOT_QUEUED {
                    return Err(AuditError::Unavailable {
                        dir: self.shared().dir.clone(),
                        reason: QUEUE_FULL.into(),
                    });
                }
                // Cut a nap short: someone is waiting for this batch.
                queue.sleeping = false;
                self.shared().work.notify_one();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(AuditError::Unavailable {
                    dir: self.shared().dir.clone(),
                    reason: format!("a line was not written within {timeout:?}"),
                });
            }
        }
    }

    fn dropped(&self, event: &EventLine) {
        let n = self.shared().dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            let kind = event
                .to_map()
                .and_then(|e| e.get("kind").and_then(|k| k.as_str()).map(str::to_owned));
            tracing::error!(
                dir = %self.shared().dir.display(),
                dropped = n,
                kind = kind.as_deref().unwrap_or("-"),
                "audit writer thread is gone; audit event dropped"
            );
        }
    }

    /// Waits until everything recorded before this call is written to disk.
    /// Also reports any write error the thread hit since the last flush.
    pub fn flush(&self) -> Result<(), AuditError> {
        let (reply, outcome) = mpsc::channel();
        {
            let mut queue = self.shared().lock();
            if queue.gone {
                return Err(self.gone());
            }
            queue.flushes.push(reply);
            queue.sleeping = false;
            self.shared().work.notify_one();
        }
        // The writer answers every flush it took; if it ends first, the reply is dropped.
        match outcome.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(AuditError::Writer {
                dir: self.shared().dir.clone(),
                reason,
            }),
            Err(_) => Err(self.gone()),
        }
    }

    /// Flushes, stops the thread and waits for it. Later `record` calls on
    /// other clones log an error and drop their event.
    pub fn shutdown(self) -> Result<(), AuditError> {
        let flushed = self.flush();
        self.shared().lock().stop = true;
        self.shared().work.notify_one();
        let handle = self
            .owner
            .handle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = handle {
            if h.join().is_err() {
                return Err(AuditError::Writer {
                    dir: self.shared().dir.clone(),
                    reason: "the writer thread panicked".into(),
                });
            }
        }
        flushed
    }

    fn shared(&self) -> &Shared {
        &self.owner.shared
    }

    /// Holds the writer back (or lets it go) without stopping it.
    #[cfg(test)]
    pub(super) fn pause(&self, paused: bool) {
        self.shared().lock().paused = paused;
        self.shared().work.notify_one();
    }

    /// Bytes queued and not yet taken by the writer.
    #[cfg(test)]
    pub(super) fn queued_bytes(&self) -> usize {
        self.shared().lock().entries.len()
    }

    fn gone(&self) -> AuditError {
        AuditError::Writer {
            dir: self.shared().dir.clone(),
            reason: "the writer thread has stopped".into(),
        }
    }
}

/// Marks the writer gone however its thread ends, so no caller waits for it forever.
struct Gone<'a>(&'a Shared);

impl Drop for Gone<'_> {
    fn drop(&mut self) {
        self.0.lock().gone = true;
        self.0.unavailable.store(true, Ordering::SeqCst);
        self.0.written.notify_waiters();
    }
}

fn run(mut writer: AuditWriter, shared: &Shared) {
    let _gone = Gone(shared);
    // The first error since the last answered flush, reported to the flushes of that round.
    let mut failed: Option<String> = None;
    let mut outage: Option<Outage> = None;
    let mut batch: Vec<u8> = Vec::new();
    loop {
        let (flushes, stop, taken, overflow) = {
            let mut queue = take_work(shared, outage.is_some());
            std::mem::swap(&mut queue.entries, &mut batch);
            (
                std::mem::take(&mut queue.flushes),
                queue.stop,
                queue.enqueued,
                queue.overflow.take(),
            )
        };
        // Events lost to a full queue are an outage like a failed write: once
        // this batch is written, the `audit.available` line counts them.
        if let Some(overflow) = overflow {
            match outage.as_mut() {
                Some(current) => current.lost += overflow.lost,
                None => {
                    outage = Some(Outage {
                        since: overflow.since,
                        reason: QUEUE_FULL.into(),
                        lost: overflow.lost,
                        announced: false,
                    });
                }
            }
        }
        let mut error: Option<AuditError> = None;
        let mut lost = 0u64;
        for entry in batch.split(|&b| b == b'\n').filter(|e| !e.is_empty()) {
            if outage.is_some() && writer.pending_bytes() >= OUTAGE_BUFFER_BYTES {
                lost += 1;
                continue;
            }
            // `record` wrote `<ts> <event>` (the stamp holds no space).
            let now;
            let (ts, event) = match entry.iter().position(|&b| b == b' ') {
                Some(at) => (&entry[..at], &entry[at + 1..]),
                None => {
                    now = Stamp::now();
                    (now.as_bytes(), entry)
                }
            };
            if let Err(e) = writer.append_json(ts, event) {
                lost += 1;
                error.get_or_insert(e);
            }
        }
        batch.clear();
        if batch.capacity() > QUEUE_BYTES {
            batch.shrink_to(QUEUE_BYTES);
        }
        if let Err(e) = writer.flush() {
            error.get_or_insert(e);
        }
        if let (None, Some(current)) = (&error, outage.as_mut()) {
            // Written again: say so in the log itself, and count that line as the probe.
            if !current.announced {
                current.announced = true;
                let mut event = serde_json::Map::new();
                event.insert("kind".into(), "audit.available".into());
                event.insert(
                    "unavailable_since".into(),
                    String::from_utf8_lossy(current.since.as_bytes()).into(),
                );
                event.insert("reason".into(), current.reason.clone().into());
                event.insert("lost".into(), (current.lost + lost).into());
                if let Err(e) = writer.append(&event) {
                    current.announced = false;
                    error = Some(e);
                }
            }
            if error.is_none() {
                if let Err(e) = writer.flush() {
                    error = Some(e);
                }
            }
        }
        match &error {
            None => {
                if let Some(ended) = outage.take() {
                    tracing::warn!(
                        dir = %shared.dir.display(),
                        lost = ended.lost + lost,
                        "audit log is writable again; calls run again"
                    );
                }
            }
            Some(e) => {
                failed.get_or_insert_with(|| e.to_string());
                match outage.as_mut() {
                    Some(current) => current.lost += lost,
                    None => {
                        tracing::error!(
                            error = %e,
                            "audit log cannot be written; calls are refused until it can"
                        );
                        outage = Some(Outage {
                            since: Stamp::now(),
                            reason: e.to_string(),
                            lost,
                            announced: false,
                        });
                    }
                }
            }
        }
        {
            let mut queue = shared.lock();
            if error.is_some() || lost > 0 {
                queue.failed_upto = taken;
            }
            if outage.is_none() {
                queue.written = taken;
            }
            queue.outage.clone_from(&outage);
            // The queue may have filled again while this batch was written.
            let down = outage.is_some() || queue.overflow.is_some();
            shared.unavailable.store(down, Ordering::SeqCst);
        }
        shared.written.notify_waiters();
        if !flushes.is_empty() {
            let outcome = failed.take();
            for reply in flushes {
                let _ = reply.send(outcome.clone().map_or(Ok(()), Err));
            }
        }
        if stop {
            // Nothing is queued after `stop`; end under the lock, so no caller waits on us.
            let mut queue = shared.lock();
            if queue.entries.is_empty() && queue.flushes.is_empty() {
                queue.gone = true;
                return;
            }
        }
    }
}

/// Waits for something to do: entries, a flush or a stop. Naps first (recorders do
/// not wake a napping writer), then sleeps until woken; while `probing` (the log
/// cannot be written) it returns after [`PROBE_EVERY`] anyway, to retry.
fn take_work(shared: &Shared, probing: bool) -> MutexGuard<'_, Queue> {
    let idle = |q: &Queue| {
        #[cfg(test)]
        if q.paused && !q.stop {
            return true;
        }
        q.entries.is_empty() && q.flushes.is_empty() && !q.stop
    };
    let mut queue = shared.lock();
    // A nap, then (while probing) the rest of a probe interval.
    for wait in [NAP, PROBE_EVERY] {
        if idle(&queue) && (wait == NAP || probing) {
            queue = shared
                .work
                .wait_timeout(queue, wait)
                .map(|(q, _)| q)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
    if probing {
        queue.sleeping = false;
        return queue;
    }
    while idle(&queue) {
        queue.sleeping = true;
        queue = shared.work.wait(queue).unwrap_or_else(|p| p.into_inner());
    }
    queue.sleeping = false;
    queue
}
