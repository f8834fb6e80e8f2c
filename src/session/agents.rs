//! The agent sessions of this core: which are running (and in which container),
//! and each group's queue for a turn.
//!
//! A group runs at most `agent.max_concurrent_per_group` agents at once; more
//! wait in order (tokio's semaphore is fair) and are never dropped, up to
//! `agent.max_queued` waiting over all groups.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// One agent session that is running now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunningAgent {
    /// The session it runs in.
    pub session: String,
    /// The group it acts for.
    pub group: String,
    /// Its container's name.
    pub container: String,
}

/// Why an agent session could not get a turn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// Too many are waiting already.
    #[error("{0} agent sessions are waiting already (agent.max_queued); try again later")]
    Full(usize),
    /// The core is stopping.
    #[error("the core is stopping")]
    Closed,
}

struct GroupQueue {
    limit: usize,
    turns: Arc<Semaphore>,
}

/// The registry; one per core.
#[derive(Default)]
pub struct AgentRegistry {
    /// Each running agent, with the stop signal its runner waits on.
    running: Mutex<HashMap<String, (RunningAgent, Arc<Notify>)>>,
    stopped: Mutex<std::collections::HashSet<String>>,
    queues: Mutex<HashMap<String, GroupQueue>>,
    waiting: AtomicUsize,
}

impl AgentRegistry {
    /// Waits for a turn of `group` (at most `limit` at once); the permit is the turn.
    pub async fn turn(
        &self,
        group: &str,
        limit: usize,
        max_waiting: usize,
    ) -> Result<OwnedSemaphorePermit, QueueError> {
        let turns = {
            let mut queues = lock(&self.queues);
            let queue = queues
                .entry(group.to_owned())
                .or_insert_with(|| GroupQueue {
                    limit,
                    turns: Arc::new(Semaphore::new(limit)),
                });
            if queue.limit != limit {
                // A reload changed the limit: new turns queue on a fresh semaphore,
                // turns already taken finish on the old one.
                *queue = GroupQueue {
                    limit,
                    turns: Arc::new(Semaphore::new(limit)),
                };
            }
            Arc::clone(&queue.turns)
        };
        if let Ok(permit) = Arc::clone(&turns).try_acquire_owned() {
            return Ok(permit);
        }
        // Counted while waiting, also when the waiting task is dropped.
        let _waiting = Waiting::enter(&self.waiting, max_waiting)?;
        turns.acquire_owned().await.map_err(|_| QueueError::Closed)
    }

    /// How many agent sessions are waiting for a turn.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Records that `agent` is running; the signal returned fires when it is
    /// asked to stop (also when that happened before anyone waits on it).
    pub fn started(&self, agent: RunningAgent) -> Arc<Notify> {
        let signal = Arc::new(Notify::new());
        lock(&self.running).insert(agent.session.clone(), (agent, Arc::clone(&signal)));
        signal
    }

    /// Forgets a session that ended.
    pub fn ended(&self, session: &str) {
        lock(&self.running).remove(session);
        lock(&self.stopped).remove(session);
    }

    /// Notes that the user asked `session` to stop (so its end is not a
    /// failure) and tells its runner.
    pub fn mark_stopped(&self, session: &str) {
        lock(&self.stopped).insert(session.to_owned());
        if let Some((_, signal)) = lock(&self.running).get(session) {
            signal.notify_one();
        }
    }

    /// Whether `session` was asked to stop (the request stays noted).
    pub fn is_stopped(&self, session: &str) -> bool {
        lock(&self.stopped).contains(session)
    }

    /// Whether `session` was asked to stop; forgets the request.
    pub fn take_stopped(&self, session: &str) -> bool {
        lock(&self.stopped).remove(session)
    }

    /// The running agent of `session`, if any.
    pub fn get(&self, session: &str) -> Option<RunningAgent> {
        lock(&self.running)
            .get(session)
            .map(|(agent, _)| agent.clone())
    }

    /// Every running agent.
    pub fn running(&self) -> Vec<RunningAgent> {
        let mut all: Vec<RunningAgent> = lock(&self.running)
            .values()
            .map(|(agent, _)| agent.clone())
            .collect();
        all.sort_by(|a, b| a.session.cmp(&b.session));
        all
    }
}

/// A place among the waiting, given back on drop.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicUsize, max: usize) -> Result<Waiting<'a>, QueueError> {
        if count.fetch_add(1, Ordering::SeqCst) >= max {
            count.fetch_sub(1, Ordering::SeqCst);
            return Err(QueueError::Full(max));
        }
        Ok(Waiting(count))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_group_runs_its_limit_and_the_rest_wait_in_order() {
        let registry = Arc::new(AgentRegistry::default());
        let first = registry.turn("main", 1, 8).await.expect("first turn");
        let (order_tx, mut order_rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..3 {
            let waiter = Arc::clone(&registry);
            let order = order_tx.clone();
            tokio::spawn(async move {
                let _turn = waiter.turn("main", 1, 8).await.expect("a turn");
                let _ = order.send(i);
                tokio::time::sleep(Duration::from_millis(5)).await;
            });
            // Each waiter queues before the next is spawned.
            while registry.waiting() < i + 1 {
                tokio::task::yield_now().await;
            }
        }
        // Another group is not held up.
        let other = registry.turn("other", 1, 8).await.expect("other group");
        assert!(
            order_rx.try_recv().is_err(),
            "main waits while its turn is taken"
        );
        drop(first);
        let got: Vec<usize> = vec![
            order_rx.recv().await.expect("1"),
            order_rx.recv().await.expect("2"),
            order_rx.recv().await.expect("3"),
        ];
        assert_eq!(got, [0, 1, 2], "waiters run in the order they came");
        drop(other);
    }

    #[tokio::test]
    async fn past_the_queue_bound_a_turn_is_refused() {
        let registry = Arc::new(AgentRegistry::default());
        let _held = registry.turn("main", 1, 1).await.expect("turn");
        let waiter = {
            let registry = Arc::clone(&registry);
            tokio::spawn(async move { registry.turn("main", 1, 1).await.map(drop) })
        };
        while registry.waiting() < 1 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            registry.turn("main", 1, 1).await.map(drop),
            Err(QueueError::Full(1))
        );
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(
            registry.waiting(),
            0,
            "a dropped waiter gives its place back"
        );
    }

    #[test]
    fn running_agents_are_listed_and_forgotten() {
        let registry = AgentRegistry::default();
        let agent = RunningAgent {
            session: "s1".into(),
            group: "main".into(),
            container: "carapace-s1".into(),
        };
        registry.started(agent.clone());
        assert_eq!(registry.get("s1"), Some(agent.clone()));
        assert_eq!(registry.running(), vec![agent]);
        registry.ended("s1");
        assert_eq!(registry.get("s1"), None);
    }
}
