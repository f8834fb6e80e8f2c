//! Runs each call on its own thread, at most [`MAX_CONCURRENT_CALLS`] at once; the rest wait in a queue.
//!
//! The reader thread only enqueues, so it never blocks on a busy plugin and can
//! keep routing the core's answers to calls that wait for them.

use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Calls running at once; more are queued.
pub const MAX_CONCURRENT_CALLS: usize = 16;

/// A unit of work: one call or one event.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// A counter with a wait-until condition.
#[derive(Default)]
struct Counter {
    value: Mutex<usize>,
    changed: Condvar,
}

impl Counter {
    fn lock(&self) -> MutexGuard<'_, usize> {
        self.value.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, delta: isize) {
        let mut value = self.lock();
        *value = value.saturating_add_signed(delta);
        self.changed.notify_all();
    }

    /// Waits until `ready(value)`, then applies `delta`; false if `timeout` passed first.
    fn wait_then_add(
        &self,
        ready: impl Fn(usize) -> bool,
        delta: isize,
        timeout: Option<Duration>,
    ) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut value = self.lock();
        while !ready(*value) {
            value = match deadline {
                None => self
                    .changed
                    .wait(value)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.changed
                        .wait_timeout(value, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
        *value = value.saturating_add_signed(delta);
        self.changed.notify_all();
        true
    }
}

/// Decrements a counter when dropped, even if the job panicked.
struct Release(Arc<Counter>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.add(-1);
    }
}

/// The bounded call runner.
pub(crate) struct CallPool {
    queue: mpsc::Sender<Job>,
    /// Jobs accepted and not finished (queued or running).
    in_flight: Arc<Counter>,
}

impl CallPool {
    /// Starts the dispatcher thread.
    pub(crate) fn start() -> std::io::Result<CallPool> {
        let (queue, jobs) = mpsc::channel::<Job>();
        let in_flight = Arc::new(Counter::default());
        let done = Arc::clone(&in_flight);
        std::thread::Builder::new()
            .name("carapace-plugin-dispatch".into())
            .spawn(move || dispatch(jobs, done))?;
        Ok(CallPool { queue, in_flight })
    }

    /// Queues a job; it runs as soon as fewer than [`MAX_CONCURRENT_CALLS`] run.
    pub(crate) fn submit(&self, job: Job) {
        self.in_flight.add(1);
        if let Err(mpsc::SendError(job)) = self.queue.send(job) {
            // The dispatcher is gone (it never is while the pool lives): run here.
            let _release = Release(Arc::clone(&self.in_flight));
            job();
        }
    }

    /// Waits until every accepted job has finished, or `timeout`; false on timeout.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> bool {
        self.in_flight
            .wait_then_add(|value| value == 0, 0, Some(timeout))
    }
}

fn dispatch(jobs: mpsc::Receiver<Job>, in_flight: Arc<Counter>) {
    let running = Arc::new(Counter::default());
    for job in jobs {
        running.wait_then_add(|value| value < MAX_CONCURRENT_CALLS, 1, None);
        let slot = Release(Arc::clone(&running));
        let accepted = Release(Arc::clone(&in_flight));
        let work: Job = Box::new(move || {
            let _slot = slot;
            let _accepted = accepted;
            job();
        });
        // Kept outside the thread's closure so that a failed spawn can still run it here.
        let cell = Arc::new(Mutex::new(Some(work)));
        let in_thread = Arc::clone(&cell);
        let spawned = std::thread::Builder::new()
            .name("carapace-plugin-call".into())
            .spawn(move || take(&in_thread).map(|work| work()));
        if spawned.is_err() {
            // Out of threads: run it on the dispatcher rather than lose the answer.
            if let Some(work) = take(&cell) {
                work();
            }
        }
    }
}

fn take(cell: &Mutex<Option<Job>>) -> Option<Job> {
    cell.lock().unwrap_or_else(PoisonError::into_inner).take()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn no_more_than_the_limit_run_at_once_and_all_finish() {
        let pool = CallPool::start().expect("thread");
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        for _ in 0..(MAX_CONCURRENT_CALLS * 3) {
            let (now, peak) = (Arc::clone(&now), Arc::clone(&peak));
            pool.submit(Box::new(move || {
                let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(running, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                now.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        assert!(pool.wait_idle(Duration::from_secs(10)));
        let peak = peak.load(Ordering::SeqCst);
        assert!(peak <= MAX_CONCURRENT_CALLS, "peak {peak}");
        assert!(peak > 1, "calls ran one at a time");
    }
}
