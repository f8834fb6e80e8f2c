//! A stop signal once the request is on its way: reported, not silent.
//!
//! An agent's shell may kill `ipc` while it waits (a Bash timeout shorter than
//! the call, the person pressing Ctrl-C). Before the request is sent that
//! ends `ipc` as usual: nothing reached the core. From the send on, the core
//! may run the call whatever becomes of `ipc`, so a silent death would leave
//! the agent free to repeat a send that is still on its way. Then SIGTERM,
//! SIGINT and SIGHUP print the non-retriable error first and end `ipc` with
//! the error status; once the answer is in hand they end it as by default.
//! `signal-hook` hands them to a thread of its own (no code of ours runs in
//! a signal handler).

use std::io::Write;
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};

use carapace_ipc::{ErrorBody, ErrorCode};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The signals that stop `ipc`.
const STOPS: [i32; 3] = [SIGTERM, SIGINT, SIGHUP];

/// The error printed when `ipc` is stopped after sending.
pub fn stopped_body() -> ErrorBody {
    ErrorBody {
        retriable: false,
        ..ErrorBody::new(
            ErrorCode::Timeout,
            "ipc was stopped before the answer came; the request was sent, so the call \
             may still run or have run: do not repeat it without checking (or asking the person)",
        )
    }
}

/// The watch over stop signals; whether the answer is in hand.
#[derive(Debug, Default)]
pub struct Stops {
    answered: Arc<Mutex<bool>>,
}

impl Stops {
    /// From now on, a stop signal prints [`stopped_body`] on stderr and exits
    /// with `status`, until [`Stops::answered`]. The thread is started before
    /// the signals are taken: if it cannot start, they keep their default.
    pub fn watch(status: i32) -> Stops {
        let stops = Stops::default();
        let answered = Arc::clone(&stops.answered);
        let (hand_over, taken) = mpsc::channel::<Signals>();
        let watching = std::thread::Builder::new()
            .name("stopped".into())
            .spawn(move || {
                let Ok(mut signals) = taken.recv() else {
                    return;
                };
                if let Some(signal) = signals.forever().next() {
                    let answered = answered.lock().unwrap_or_else(PoisonError::into_inner);
                    if *answered {
                        // The answer is out: stop as by default (by the signal).
                        let _ = signal_hook::low_level::emulate_default_handler(signal);
                        std::process::exit(status);
                    }
                    let line = serde_json::to_string(&stopped_body()).unwrap_or_default();
                    let _ = writeln!(std::io::stderr(), "{line}");
                    std::process::exit(status);
                }
            });
        if watching.is_ok() {
            // A signal before the thread reads the channel waits in signal-hook's pipe.
            if let Ok(signals) = Signals::new(STOPS) {
                let _ = hand_over.send(signals);
            }
        }
        stops
    }

    /// The answer is in hand: a stop from now on ends `ipc` as by default,
    /// but not before the caller drops the guard (hold it while printing).
    pub fn answered(&self) -> MutexGuard<'_, bool> {
        let mut answered = self.answered.lock().unwrap_or_else(PoisonError::into_inner);
        *answered = true;
        answered
    }
}
