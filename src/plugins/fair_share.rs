//! A plugin's call slots, shared fairly between the sessions that call it.
//!
//! A plugin runs at most `capacity` calls at once, and one session at most
//! `per_session` of them. A call that cannot run yet waits in its session's own
//! queue; each freed slot goes to the next session in turn that has a waiting
//! call and is under its cap (round-robin over sessions, first come first served
//! within one). So neither one session nor many flooding sessions can push a
//! quiet session's call to the back of everyone's queue: it waits for at most
//! one freed slot per session ahead of it in the turn.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

/// The slots of one plugin and the calls waiting for them, by session.
pub struct FairShare {
    shared: Arc<Shared>,
}

struct Shared {
    capacity: usize,
    per_session: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Calls holding a slot, over all sessions.
    running: usize,
    /// Sessions with a call running or waiting.
    sessions: HashMap<String, Queue>,
    /// Sessions with a call waiting, in turn order; the front is served next.
    turn: VecDeque<String>,
    next_ticket: u64,
}

#[derive(Default)]
struct Queue {
    running: usize,
    waiting: VecDeque<(u64, oneshot::Sender<Pass>)>,
}

/// A slot held by one call; dropping it frees the slot for the next session in turn.
pub struct Pass {
    shared: Arc<Shared>,
    session: String,
}

/// A waiting call; dropped before its slot came (a deadline), it leaves the queue.
struct Waiting {
    shared: Arc<Shared>,
    session: String,
    ticket: u64,
}

impl FairShare {
    /// `capacity` slots in all, at most `per_session` of them for one session.
    pub fn new(capacity: usize, per_session: usize) -> FairShare {
        FairShare {
            shared: Arc::new(Shared {
                capacity,
                per_session: per_session.clamp(1, capacity.max(1)),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Waits for a slot for a call of `session`; `None` only if the share is torn down.
    /// Dropping the future before it is ready gives up the place (and any slot it got).
    pub async fn enter(&self, session: &str) -> Option<Pass> {
        let (ticket, granted) = {
            let mut state = self.shared.lock();
            let has_room = state.running < self.shared.capacity;
            let ticket = state.next_ticket;
            let queue = state.sessions.entry(session.to_owned()).or_default();
            if has_room && queue.waiting.is_empty() && queue.running < self.shared.per_session {
                queue.running += 1;
                state.running += 1;
                return Some(self.shared.pass(session));
            }
            let (sender, granted) = oneshot::channel();
            queue.waiting.push_back((ticket, sender));
            let first_waiting = queue.waiting.len() == 1;
            state.next_ticket += 1;
            if first_waiting {
                state.turn.push_back(session.to_owned());
            }
            (ticket, granted)
        };
        let _waiting = Waiting {
            shared: Arc::clone(&self.shared),
            session: session.to_owned(),
            ticket,
        };
        granted.await.ok()
    }

    /// Calls holding a slot now, over all sessions.
    pub fn running(&self) -> usize {
        self.shared.lock().running
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn pass(self: &Arc<Self>, session: &str) -> Pass {
        Pass {
            shared: Arc::clone(self),
            session: session.to_owned(),
        }
    }

    /// Hands free slots to waiting calls, one session at a time in turn; returns
    /// the grants to send once the lock is released.
    fn grant(&self, state: &mut State) -> Vec<(oneshot::Sender<Pass>, String)> {
        let mut grants = Vec::new();
        // Sessions passed over in a row because they are at their cap.
        let mut passed = 0;
        while state.running < self.capacity && passed < state.turn.len() {
            let Some(session) = state.turn.pop_front() else {
                break;
            };
            let Some(queue) = state.sessions.get_mut(&session) else {
                continue;
            };
            if queue.running >= self.per_session {
                state.turn.push_back(session);
                passed += 1;
                continue;
            }
            let Some((_, sender)) = queue.waiting.pop_front() else {
                continue;
            };
            queue.running += 1;
            state.running += 1;
            if !queue.waiting.is_empty() {
                state.turn.push_back(session.clone());
            }
            grants.push((sender, session));
            passed = 0;
        }
        grants
    }

    /// Sends each grant; a waiter that left meanwhile drops its pass, which frees the slot again.
    fn deliver(self: &Arc<Self>, grants: Vec<(oneshot::Sender<Pass>, String)>) {
        for (sender, session) in grants {
            let pass = self.pass(&session);
            drop(sender.send(pass));
        }
    }

    /// Forgets `session` once it has nothing running or waiting.
    fn tidy(state: &mut State, session: &str) {
        let idle = state
            .sessions
            .get(session)
            .is_some_and(|q| q.running == 0 && q.waiting.is_empty());
        if idle {
            state.sessions.remove(session);
        }
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        let grants = {
            let mut state = self.shared.lock();
            state.running = state.running.saturating_sub(1);
            if let Some(queue) = state.sessions.get_mut(&self.session) {
                queue.running = queue.running.saturating_sub(1);
            }
            Shared::tidy(&mut state, &self.session);
            self.shared.grant(&mut state)
        };
        self.shared.deliver(grants);
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        let Some(queue) = state.sessions.get_mut(&self.session) else {
            return;
        };
        // Still queued: leave. Already granted: the pass sits in (or is on its way
        // to) the dropped receiver and frees the slot when it is dropped there.
        queue.waiting.retain(|(ticket, _)| *ticket != self.ticket);
        if queue.waiting.is_empty() {
            state.turn.retain(|s| s != &self.session);
        }
        Shared::tidy(&mut state, &self.session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Whether `future` is ready at once.
    async fn ready_now<F: std::future::Future>(future: F) -> Option<F::Output> {
        tokio::time::timeout(Duration::from_millis(20), future)
            .await
            .ok()
    }

    #[tokio::test]
    async fn one_session_gets_at_most_its_cap() {
        let share = FairShare::new(4, 2);
        let a1 = share.enter("a").await;
        let a2 = share.enter("a").await;
        assert!(a1.is_some() && a2.is_some());
        assert!(
            ready_now(share.enter("a")).await.is_none(),
            "a is at its cap"
        );
        let b = ready_now(share.enter("b")).await.flatten();
        assert!(b.is_some(), "b has a slot while a floods");
        drop(a1);
        assert!(ready_now(share.enter("a")).await.flatten().is_some());
    }

    #[tokio::test]
    async fn freed_slots_go_round_robin_across_sessions() {
        let share = Arc::new(FairShare::new(2, 2));
        let held = vec![share.enter("a").await, share.enter("a").await];
        // Many calls of a wait first, then one of b, then more of c.
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for session in ["a", "a", "a", "a", "b", "c", "c"] {
            let (share, order) = (Arc::clone(&share), Arc::clone(&order));
            waiters.push(tokio::spawn(async move {
                let pass = share.enter(session).await;
                order.lock().expect("order").push(session);
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(pass);
            }));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        drop(held);
        for waiter in waiters {
            waiter.await.expect("waiter");
        }
        let order = order.lock().expect("order").clone();
        // b and c are not served after all of a's queue: a, b, c take turns.
        let b = order.iter().position(|s| *s == "b").expect("b served");
        let c = order.iter().position(|s| *s == "c").expect("c served");
        assert!(b <= 2 && c <= 2, "served in order {order:?}");
        assert_eq!(share.running(), 0);
    }

    #[tokio::test]
    async fn a_call_that_gives_up_waiting_leaves_nothing_behind() {
        let share = FairShare::new(1, 1);
        let held = share.enter("a").await;
        assert!(
            ready_now(share.enter("b")).await.is_none(),
            "b waits, then gives up"
        );
        drop(held);
        assert_eq!(share.running(), 0);
        assert!(share.shared.lock().sessions.is_empty());
        assert!(share.shared.lock().turn.is_empty());
        let again = ready_now(share.enter("b")).await.flatten();
        assert!(again.is_some(), "the slot is free again");
    }
}
