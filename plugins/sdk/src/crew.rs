//! Threads that take turns reading the core's input: the thread that reads a call runs it
//! itself (leader/follower), so a call costs no hand-over between threads.
//!
//! Before a reader starts a call it makes sure another thread is left to read, so answers
//! to the plugin's own requests to the core are always read, even while every call waits
//! for one. At most [`MAX_CONCURRENT_CALLS`] jobs run at once; a call read past that waits
//! in a queue, and a thread that finishes a job takes the next queued one.
//!
//! Kept rather than replaced by a std primitive because the replacement cost more than
//! issue 13 allows (10 % on the plugin hop). Measured 2026-12-03 against one reader thread
//! handing jobs over a `std::sync::mpsc` channel to up to 16 workers started on demand
//! (same limit, same first-read-first-run queue, same `catch_unwind` per job):
//! `cargo build --release -p carapace-plugin-echo`, then
//! `cargo bench --bench pipeline -- plugin_hop --measurement-time 5 --noplot`, the two
//! echo handlers swapped in turn, 5 runs each on a 2-core machine (load about 2):
//!
//! - `echo_plugin`: crew 110, 129, 149, 146, 156 µs (mean 138); pool 119, 113, 168, 161,
//!   116 µs (mean 136): −2 %.
//! - `echo_plugin_32_in_flight`: crew 1.01, 1.20, 1.48, 1.42, 1.31 ms (mean 1.28); pool
//!   1.31, 1.16, 1.73, 1.49, 1.57 ms (mean 1.45): +13 %, slower in 4 runs of 5.
//!
//! With calls in flight the pool pays a thread hand-over per call that the crew avoids
//! (the thread that reads a call runs it).

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Calls running at once; more are queued.
pub const MAX_CONCURRENT_CALLS: usize = 16;

/// A unit of work: one call or one event.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// Who is doing what; changed only under one lock, so the counts always agree.
#[derive(Default)]
struct Roster {
    /// Threads of the crew alive (readers, waiting readers and job runners).
    threads: usize,
    /// Threads running a job.
    running: usize,
    /// Jobs read while [`MAX_CONCURRENT_CALLS`] were running.
    queue: VecDeque<Job>,
}

/// The shared input and the roster of the threads taking turns at it.
pub(crate) struct Crew<R> {
    /// The input; whoever holds this lock is the reader.
    input: Mutex<R>,
    roster: Mutex<Roster>,
    /// Signalled whenever a job finishes.
    finished: Condvar,
}

impl<R> Crew<R> {
    /// A crew for `input` with one thread: the one about to call [`Crew::read`] first.
    pub(crate) fn new(input: R) -> Crew<R> {
        Crew {
            input: Mutex::new(input),
            roster: Mutex::new(Roster {
                threads: 1,
                ..Roster::default()
            }),
            finished: Condvar::new(),
        }
    }

    /// Takes the reader's turn: waits for the input and holds it until the guard drops.
    pub(crate) fn read(&self) -> MutexGuard<'_, R> {
        self.input.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn roster(&self) -> MutexGuard<'_, Roster> {
        self.roster.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `job` on this thread (call it after letting go of the input), then any jobs
    /// queued meanwhile. `spawn_reader` starts one more crew thread; it is called when
    /// no other thread would be left to read.
    pub(crate) fn run(&self, job: Job, spawn_reader: impl FnOnce() -> bool) {
        {
            let mut roster = self.roster();
            if roster.running >= MAX_CONCURRENT_CALLS {
                roster.queue.push_back(job);
                return;
            }
            roster.running += 1;
            if roster.threads == roster.running {
                if spawn_reader() {
                    roster.threads += 1;
                } else if roster.running > 1 {
                    // No thread to spare: this one stays the reader; a runner takes the job.
                    roster.running -= 1;
                    roster.queue.push_back(job);
                    return;
                }
                // Out of threads with nothing else running: run it here rather than lose
                // the answer (a call that then asks the core waits for its deadline).
            }
        }
        let mut job = job;
        loop {
            // Plugin code is already guarded by its job; this keeps the counts right regardless.
            let _ = catch_unwind(AssertUnwindSafe(job));
            let mut roster = self.roster();
            match roster.queue.pop_front() {
                Some(next) => job = next,
                None => {
                    roster.running -= 1;
                    let idle = roster.running == 0;
                    self.finished.notify_all();
                    drop(roster);
                    if idle {
                        // The last job of a burst: its answer is written, nothing
                        // else runs, so giving the heap back delays no one.
                        crate::heap::give_back();
                    }
                    return;
                }
            }
        }
    }

    /// Counts a crew thread out (its loop ended).
    pub(crate) fn leave(&self) {
        let mut roster = self.roster();
        roster.threads = roster.threads.saturating_sub(1);
    }

    /// Waits until no job runs or waits, or `timeout`; false on timeout.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut roster = self.roster();
        while roster.running > 0 || !roster.queue.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            roster = self
                .finished
                .wait_timeout(roster, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A crew whose threads read jobs from a queue of closures, as the runtime reads lines.
    fn crew_loop(crew: Arc<Crew<VecDeque<Job>>>) {
        loop {
            let job = match crew.read().pop_front() {
                Some(job) => job,
                None => break,
            };
            let spare = Arc::clone(&crew);
            crew.run(job, move || {
                std::thread::Builder::new()
                    .spawn(move || crew_loop(spare))
                    .is_ok()
            });
        }
        crew.leave();
    }

    #[test]
    fn no_more_than_the_limit_run_at_once_and_all_finish() {
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let jobs: VecDeque<Job> = (0..MAX_CONCURRENT_CALLS * 3)
            .map(|_| {
                let (now, peak, done) = (Arc::clone(&now), Arc::clone(&peak), Arc::clone(&done));
                Box::new(move || {
                    let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(running, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    now.fetch_sub(1, Ordering::SeqCst);
                    done.fetch_add(1, Ordering::SeqCst);
                }) as Job
            })
            .collect();
        let crew = Arc::new(Crew::new(jobs));
        crew_loop(Arc::clone(&crew));
        assert!(crew.wait_idle(Duration::from_secs(10)));
        assert_eq!(done.load(Ordering::SeqCst), MAX_CONCURRENT_CALLS * 3);
        let peak = peak.load(Ordering::SeqCst);
        assert!(peak <= MAX_CONCURRENT_CALLS, "peak {peak}");
        assert!(peak > 1, "calls ran one at a time");
    }

    #[test]
    fn a_panicking_job_does_not_leak_its_slot() {
        let crew = Crew::new(());
        for _ in 0..(MAX_CONCURRENT_CALLS + 2) {
            crew.run(Box::new(|| panic!("plugin bug")), || true);
        }
        assert!(crew.wait_idle(Duration::from_secs(1)));
        let ran = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&ran);
        crew.run(
            Box::new(move || {
                counted.fetch_add(1, Ordering::SeqCst);
            }),
            || true,
        );
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }
}
