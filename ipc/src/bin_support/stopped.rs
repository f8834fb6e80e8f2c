//! A stop signal once the request went out: reported, not silent.
//!
//! An agent's shell may kill `ipc` while it waits (a Bash timeout shorter than
//! the call, the person pressing Ctrl-C). Before the request is sent that
//! ends `ipc` as usual: nothing reached the core. After it, the core runs the
//! call whatever becomes of `ipc`, so a silent death would leave the agent
//! free to repeat a send that is still on its way. From then on SIGTERM,
//! SIGINT and SIGHUP print the non-retriable error first, then end `ipc`.
//! `signal-hook` delivers them to a thread of their own (no code runs in a
//! signal handler here).

use carapace_ipc::{ErrorBody, ErrorCode};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

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

/// From now on, a stop signal prints [`stopped_body`] on stderr and exits
/// with `status`. If the signals cannot be taken, they end `ipc` as before.
pub fn report_stops(status: i32) {
    let Ok(mut signals) = Signals::new([SIGTERM, SIGINT, SIGHUP]) else {
        return;
    };
    // If the thread cannot start, `signals` is dropped with the closure and
    // the signals are given back their default (they end `ipc`).
    let _watching = std::thread::Builder::new()
        .name("stopped".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                let line = serde_json::to_string(&stopped_body()).unwrap_or_default();
                eprintln!("{line}");
                std::process::exit(status);
            }
        });
}
