//! `ipc`: the in-container client of the Carapace core (DESIGN.md §2).
//!
//! `ipc <tool> [<arguments-json>|-]` sends one `{topic, correlation, arguments}`
//! message as a ZeroMQ DEALER (ZMTP 3) to `$CARAPACE_IPC_SOCKET` and waits for
//! the matching response envelope. Exit status: 0 and the result JSON on
//! stdout; 1 and the structured error JSON (one line) on stderr; 2 on a usage
//! error. It runs once per tool call, so it stays small: hand-parsed argv,
//! blocking I/O, no runtime, no logging.
//!
//! `ipc relay --listen 127.0.0.1:PORT [--socket PATH] [-- PROGRAM ARGS...]`
//! instead forwards loopback TCP to the model proxy socket until killed, or
//! while PROGRAM runs (see `bin_support::relay`).

mod bin_support;

use std::io::Write;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Instant;

use bin_support::args::{self, ArgumentSource, Call, Command, UsageError};
use bin_support::relay::{self, Relay};
use bin_support::request::{self, Refusal};
use bin_support::stopped::Stops;
use bin_support::transport;
use carapace_ipc::{ErrorBody, ErrorCode};
use serde_json::{Map, Value};

/// Exit status of a structured error.
const EXIT_ERROR: u8 = 1;
/// Exit status of a usage error.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    match args::parse(std::env::args_os().skip(1)) {
        Ok(Command::Help) => print_stdout(args::USAGE),
        Ok(Command::Version) => print_stdout(&format!("ipc {}\n", env!("CARGO_PKG_VERSION"))),
        Ok(Command::Call(call)) => run_call(call),
        Ok(Command::Relay(relay)) => run_relay(relay),
        Err(error) => usage_error(&error),
    }
}

/// Runs one tool call and reports its outcome.
fn run_call(call: Call) -> ExitCode {
    let started = Instant::now();
    let timeout = match args::parse_timeout(std::env::var_os(args::TIMEOUT_ENV)) {
        Ok(timeout) => timeout,
        Err(error) => return usage_error(&error),
    };
    let socket_path = match args::parse_socket_path(std::env::var_os(args::SOCKET_ENV)) {
        Ok(path) => path,
        Err(error) => return usage_error(&error),
    };
    let arguments = match read_arguments(&call.arguments, started + timeout) {
        Ok(arguments) => arguments,
        Err(Refusal::Usage(error)) => return usage_error(&error),
        Err(Refusal::Error(body)) => return fail(&body),
    };
    let correlation = request::new_correlation();
    let request = match request::build_request(&call.topic, &correlation, arguments) {
        Ok(request) => request,
        Err(body) => return fail(&body),
    };
    let mut stops = None;
    let outcome = transport::exchange(
        &socket_path,
        &request,
        &correlation,
        started + timeout,
        || stops = Some(Stops::watch(i32::from(EXIT_ERROR))),
    );
    // Held while the outcome is printed: a stop then waits, and ends ipc as by default.
    let _answered = stops.as_ref().map(Stops::answered);
    match outcome {
        Ok(envelope) => match (envelope.payload.error, envelope.payload.result) {
            (Some(error), _) => fail(&error),
            (None, result) => print_result(&result.unwrap_or(Value::Null)),
        },
        Err(body) => fail(&body),
    }
}

/// Runs the relay until it is killed; returns only on a fatal error.
fn run_relay(options: Relay) -> ExitCode {
    let listener = match relay::bind(&options) {
        Ok(listener) => listener,
        Err(body) => return fail(&body),
    };
    let bound = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| options.listen.to_string());
    let ready = serde_json::json!({
        "relay": "listening",
        "listen": bound,
        "socket": options.socket,
    });
    if options.exec.is_empty() {
        if print_stdout(&format!("{ready}\n")) != ExitCode::SUCCESS {
            return fail(&ErrorBody::new(
                ErrorCode::ConnectionFailed,
                "stdout is closed",
            ));
        }
        return fail(&relay::run(listener, options.socket));
    }
    // The program owns stdout (an agent's stream-json): the ready line goes to stderr.
    write_stderr(&format!("{ready}\n"));
    let socket = options.socket;
    let serving = std::thread::Builder::new()
        .name("relay".into())
        .spawn(move || fail(&relay::run(listener, socket)));
    if let Err(e) = serving {
        return fail(&ErrorBody::new(
            ErrorCode::ConnectionFailed,
            format!("cannot start the relay thread: {e}"),
        ));
    }
    match relay::run_program(&options.exec) {
        Ok(status) => ExitCode::from(status),
        Err(body) => fail(&body),
    }
}

/// Reads the arguments; stdin is read on its own thread so that a stdin that
/// never ends is bounded by the call's deadline too.
fn read_arguments(
    source: &ArgumentSource,
    deadline: Instant,
) -> Result<Map<String, Value>, Refusal> {
    if *source != ArgumentSource::Stdin {
        return request::read_arguments(source, std::io::empty());
    }
    let (sender, receiver) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let result = request::read_arguments(&ArgumentSource::Stdin, std::io::stdin());
            // The receiver is gone only when the call already timed out.
            let _ = sender.send(result);
        });
    if let Err(e) = spawned {
        return Err(Refusal::Usage(UsageError(format!(
            "could not read the arguments from stdin: {e}"
        ))));
    }
    let wait = deadline.saturating_duration_since(Instant::now());
    match receiver.recv_timeout(wait) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Refusal::Error(ErrorBody::new(
            ErrorCode::Timeout,
            "stdin was not closed before the timeout (CARAPACE_IPC_TIMEOUT)",
        ))),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(Refusal::Usage(UsageError(
            "could not read the arguments from stdin".into(),
        ))),
    }
}

/// Prints the result as one line of JSON on stdout.
fn print_result(result: &Value) -> ExitCode {
    match serde_json::to_string(result) {
        Ok(mut text) => {
            text.push('\n');
            print_stdout(&text)
        }
        Err(e) => fail(&ErrorBody::new(
            ErrorCode::MalformedMessage,
            format!("could not print the result: {e}"),
        )),
    }
}

fn print_stdout(text: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(EXIT_ERROR),
    }
}

/// Prints a structured error as one line of JSON on stderr; exit status 1.
fn fail(body: &ErrorBody) -> ExitCode {
    let line = serde_json::to_string(body).unwrap_or_else(|_| {
        format!(
            r#"{{"code":"{}","message":"unprintable error","retriable":{}}}"#,
            body.code, body.retriable
        )
    });
    write_stderr(&format!("{line}\n"));
    ExitCode::from(EXIT_ERROR)
}

/// Prints a usage error (a JSON line, then the synopsis) on stderr; exit status 2.
fn usage_error(error: &UsageError) -> ExitCode {
    let line = serde_json::json!({
        "code": "USAGE",
        "message": error.0,
        "retriable": false,
    });
    write_stderr(&format!(
        "{line}\n{}Run `ipc --help` for details.\n",
        synopsis()
    ));
    ExitCode::from(EXIT_USAGE)
}

/// The first lines of the usage text, up to the first blank line.
fn synopsis() -> &'static str {
    match args::USAGE.find("\n\n") {
        Some(end) => args::USAGE.get(..=end).unwrap_or(args::USAGE),
        None => args::USAGE,
    }
}

fn write_stderr(text: &str) {
    let mut stderr = std::io::stderr().lock();
    // Nothing is left to report a failing stderr to.
    let _ = stderr
        .write_all(text.as_bytes())
        .and_then(|()| stderr.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_synopsis_is_the_first_paragraph() {
        assert!(synopsis().starts_with("usage: ipc"));
        assert!(synopsis().ends_with("--version\n"));
    }

    #[test]
    fn deadline_arithmetic_does_not_overflow() {
        let far = std::time::Duration::from_secs_f64(args::MAX_TIMEOUT_SECS);
        assert!(Instant::now().checked_add(far).is_some());
    }
}
