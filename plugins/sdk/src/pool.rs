//! Runs calls on up to [`MAX_CONCURRENT_CALLS`] reusable worker threads; the rest wait in a queue.
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

/// The bounded call runner: up to [`MAX_CONCURRENT_CALLS`] long-lived workers
/// share one queue, so a call costs a channel hop, not a thread spawn.
pub(crate) struct CallPool {
    queue: mpsc::Sender<Job>,
    jobs: Arc<Mutex<mpsc::Receiver<Job>>>,
    /// Jobs accepted and not finished (queued or running).
    in_flight: Arc<Counter>,
    /// Workers alive, and how many of them wait for a job.
    workers: Arc<Workers>,
}

#[derive(Default)]
struct Workers {
    alive: Mutex<usize>,
    idle: std::sync::atomic::AtomicUsize,
}

/// Counts a worker out when its thread ends, even by a panic.
struct WorkerExit(Arc<Workers>);

impl Drop for WorkerExit {
    fn drop(&mut self) {
        let mut alive = self.0.alive.lock().unwrap_or_else(PoisonError::into_inner);
        *alive = alive.saturating_sub(1);
    }
}

impl CallPool {
    /// Makes an empty pool; workers start on demand.
    pub(crate) fn start() -> std::io::Result<CallPool> {
        let (queue, jobs) = mpsc::channel::<Job>();
        Ok(CallPool {
            queue,
            jobs: Arc::new(Mutex::new(jobs)),
            in_flight: Arc::new(Counter::default()),
            workers: Arc::new(Workers::default()),
        })
    }

    /// Queues a job; it runs as soon as one of at most [`MAX_CONCURRENT_CALLS`] workers is free.
    pub(crate) fn submit(&self, job: Job) {
        use std::sync::atomic::Ordering;
        self.in_flight.add(1);
        let accepted = Release(Arc::clone(&self.in_flight));
        let work: Job = Box::new(move || {
            let _accepted = accepted;
            job();
        });
        if let Err(mpsc::SendError(work)) = self.queue.send(work) {
            work();
            return;
        }
        if self.workers.idle.load(Ordering::SeqCst) > 0 {
            return;
        }
        let mut alive = self
            .workers
            .alive
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *alive >= MAX_CONCURRENT_CALLS {
            return;
        }
        let (jobs, workers) = (Arc::clone(&self.jobs), Arc::clone(&self.workers));
        let spawned = std::thread::Builder::new()
            .name("carapace-plugin-call".into())
            .spawn(move || work_loop(&jobs, workers));
        match spawned {
            Ok(_) => *alive += 1,
            Err(_) if *alive == 0 => {
                // Out of threads and no worker to take it: run it here rather than lose the answer.
                drop(alive);
                let next = self
                    .jobs
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .try_recv();
                if let Ok(work) = next {
                    work();
                }
            }
            Err(_) => {}
        }
    }

    /// Waits until every accepted job has finished, or `timeout`; false on timeout.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> bool {
        self.in_flight
            .wait_then_add(|value| value == 0, 0, Some(timeout))
    }
}

fn work_loop(jobs: &Mutex<mpsc::Receiver<Job>>, workers: Arc<Workers>) {
    use std::sync::atomic::Ordering;
    let _exit = WorkerExit(Arc::clone(&workers));
    loop {
        workers.idle.fetch_add(1, Ordering::SeqCst);
        let next = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        workers.idle.fetch_sub(1, Ordering::SeqCst);
        match next {
            Ok(work) => work(),
            Err(_) => return,
        }
    }
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
