//! The hand-parsed command line and environment of `ipc`.
//!
//! `ipc <topic> [<arguments-json>|-]`, plus `--help`/`-h` and `--version`.
//! Options are only recognised before the topic. The first word is matched
//! against subcommands (`relay`, DESIGN.md §4) before it is taken as a topic.
//! `ipc relay --listen 127.0.0.1:PORT [--socket PATH]` takes its own options.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::time::Duration;

use super::relay::{Relay, DEFAULT_MODEL_SOCKET};

use carapace_ipc::{DEFAULT_SOCKET_PATH, TOOL_TOPIC_PREFIX};

/// Environment variable naming the core's socket.
pub const SOCKET_ENV: &str = "CARAPACE_IPC_SOCKET";
/// Environment variable overriding the call timeout, in (fractional) seconds.
pub const TIMEOUT_ENV: &str = "CARAPACE_IPC_TIMEOUT";
/// How long a call waits for its answer unless [`TIMEOUT_ENV`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(35);
/// Largest accepted [`TIMEOUT_ENV`], one day.
pub const MAX_TIMEOUT_SECS: f64 = carapace_ipc::MAX_IPC_TIMEOUT_SECS as f64;
/// Longest tool name (the part after `tool.invoke.`).
pub const MAX_TOOL_NAME_LEN: usize = 64;

/// The short usage text printed by `--help` and after a usage error.
pub const USAGE: &str = "\
usage: ipc <tool> [<arguments-json> | -]
       ipc relay --listen 127.0.0.1:PORT [--socket PATH] [-- PROGRAM [ARGS...]]
       ipc --help | --version

Calls one Carapace tool through the core and prints its result.

  <tool>            a tool name ([a-z][a-z0-9_]*, at most 64 characters),
                    short for tool.invoke.<tool>; tool.invoke.<tool> also works
  <arguments-json>  a JSON object (default {}); `-` reads it from stdin (at most 1 MiB)

`relay` forwards TCP connections on a loopback address to the model proxy
socket (default /run/carapace/model.sock) until killed; it prints one JSON line
with the bound address when it is ready (port 0 picks a free port). With
`-- PROGRAM ARGS...` it starts PROGRAM once it listens (so the program never
races the relay), passes its stdio through, and exits with its status.

Exit status: 0 result printed to stdout; 1 structured error (JSON) on stderr;
2 usage error.
Environment: CARAPACE_IPC_SOCKET (default /run/carapace/ipc.sock),
CARAPACE_IPC_TIMEOUT (seconds, default 35).
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Print [`USAGE`] to stdout.
    Help,
    /// Print the version to stdout.
    Version,
    /// Call one tool.
    Call(Call),
    /// Relay loopback TCP to the model proxy socket.
    Relay(Relay),
}

/// One tool call as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The full topic, `tool.invoke.<name>`.
    pub topic: String,
    /// Where the arguments come from.
    pub arguments: ArgumentSource,
}

/// Where a call's arguments come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgumentSource {
    /// None given: `{}`.
    Empty,
    /// The JSON text given on the command line.
    Inline(String),
    /// `-`: read the JSON text from stdin.
    Stdin,
}

/// A command line or environment the binary cannot act on (exit status 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl UsageError {
    fn new(message: impl Into<String>) -> UsageError {
        UsageError(message.into())
    }
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses the command line, without the program name.
pub fn parse<I>(args: I) -> Result<Command, UsageError>
where
    I: IntoIterator<Item = OsString>,
{
    let mut args = args.into_iter();
    let Some(first) = args.next() else {
        return Err(UsageError::new("missing <tool>"));
    };
    let first = utf8(first, "<tool>")?;
    match first.as_str() {
        "-h" | "--help" => Ok(Command::Help),
        "--version" => Ok(Command::Version),
        "relay" => parse_relay(args).map(Command::Relay),
        option if option.starts_with('-') => Err(UsageError::new(format!(
            "unknown option `{}`",
            printable(option, 32)
        ))),
        _ => parse_call(&first, args).map(Command::Call),
    }
}

fn parse_call(topic: &str, mut rest: impl Iterator<Item = OsString>) -> Result<Call, UsageError> {
    let topic = normalize_topic(topic)?;
    let arguments = match rest.next() {
        None => ArgumentSource::Empty,
        Some(raw) => {
            let text = utf8(raw, "<arguments-json>")?;
            if text == "-" {
                ArgumentSource::Stdin
            } else {
                ArgumentSource::Inline(text)
            }
        }
    };
    let extra = rest.count();
    if extra > 0 {
        return Err(UsageError::new(format!(
            "too many arguments: expected <tool> and at most one <arguments-json>, got {} more",
            extra
        )));
    }
    Ok(Call { topic, arguments })
}

fn parse_relay(mut rest: impl Iterator<Item = OsString>) -> Result<Relay, UsageError> {
    let mut listen = None;
    let mut socket = None;
    let mut exec = Vec::new();
    while let Some(raw) = rest.next() {
        if raw == "--" {
            exec.extend(rest.by_ref());
            if exec.is_empty() {
                return Err(UsageError::new("`--` must be followed by a program to run"));
            }
            break;
        }
        let arg = utf8(raw, "a relay option")?;
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let slot = match name.as_str() {
            "--listen" => &mut listen,
            "--socket" => &mut socket,
            other => {
                return Err(UsageError::new(format!(
                    "unknown relay option `{}`; expected --listen, --socket or --",
                    printable(other, 32)
                )))
            }
        };
        let value = match inline {
            Some(value) => value,
            None => match rest.next() {
                Some(value) => utf8(value, &name)?,
                None => return Err(UsageError::new(format!("{name} needs a value"))),
            },
        };
        if slot.replace(value).is_some() {
            return Err(UsageError::new(format!("{name} given twice")));
        }
    }
    let listen = listen.ok_or_else(|| UsageError::new("relay needs --listen 127.0.0.1:PORT"))?;
    let listen = parse_listen(&listen)?;
    let socket = match socket {
        None => DEFAULT_MODEL_SOCKET.to_owned(),
        Some(path) if path.is_empty() || path.chars().any(char::is_control) => {
            return Err(UsageError::new(
                "--socket must be a non-empty path without control characters",
            ))
        }
        Some(path) => path,
    };
    Ok(Relay {
        listen,
        socket,
        exec,
    })
}

/// A listen address: an IP literal and port on a loopback interface only.
pub fn parse_listen(text: &str) -> Result<SocketAddr, UsageError> {
    let addr: SocketAddr = text.parse().map_err(|_| {
        UsageError::new(format!(
            "--listen `{}` is not an address:port such as 127.0.0.1:8080",
            printable(text, 64)
        ))
    })?;
    if !addr.ip().is_loopback() {
        return Err(UsageError::new(format!(
            "--listen `{addr}` is not a loopback address; the relay listens on 127.0.0.0/8 or [::1] only"
        )));
    }
    Ok(addr)
}

/// Expands a bare tool name to `tool.invoke.<name>`; checks the name either way.
pub fn normalize_topic(topic: &str) -> Result<String, UsageError> {
    let (name, full) = match topic.strip_prefix(TOOL_TOPIC_PREFIX) {
        Some(name) => (name, true),
        None => (topic, false),
    };
    if !is_tool_name(name) {
        return Err(UsageError::new(format!(
            "invalid tool name `{}`: expected [a-z][a-z0-9_]* of at most {MAX_TOOL_NAME_LEN} characters, \
             optionally prefixed with {TOOL_TOPIC_PREFIX}",
            printable(topic, 80)
        )));
    }
    Ok(if full {
        topic.to_owned()
    } else {
        format!("{TOOL_TOPIC_PREFIX}{name}")
    })
}

/// Whether `name` matches `[a-z][a-z0-9_]{0,63}`.
pub fn is_tool_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match bytes.split_first() {
        Some((first, rest)) => {
            bytes.len() <= MAX_TOOL_NAME_LEN
                && first.is_ascii_lowercase()
                && rest
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
        }
        None => false,
    }
}

/// The call timeout from the value of [`TIMEOUT_ENV`]; unset or empty means the default.
pub fn parse_timeout(value: Option<OsString>) -> Result<Duration, UsageError> {
    let Some(value) = value else {
        return Ok(DEFAULT_TIMEOUT);
    };
    let invalid = || {
        UsageError::new(format!(
            "{TIMEOUT_ENV} must be a number of seconds greater than 0 and at most {MAX_TIMEOUT_SECS}"
        ))
    };
    let text = value.into_string().map_err(|_| invalid())?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(DEFAULT_TIMEOUT);
    }
    let seconds: f64 = text.parse().map_err(|_| invalid())?;
    if !seconds.is_finite() || seconds <= 0.0 || seconds > MAX_TIMEOUT_SECS {
        return Err(invalid());
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| invalid())
}

/// The socket path from the value of [`SOCKET_ENV`]; unset or empty means the default.
pub fn parse_socket_path(value: Option<OsString>) -> Result<String, UsageError> {
    match value {
        None => Ok(DEFAULT_SOCKET_PATH.to_owned()),
        Some(value) if value.is_empty() => Ok(DEFAULT_SOCKET_PATH.to_owned()),
        Some(value) => {
            let path = value
                .into_string()
                .map_err(|_| UsageError::new(format!("{SOCKET_ENV} is not valid UTF-8")))?;
            if path.chars().any(char::is_control) {
                return Err(UsageError::new(format!(
                    "{SOCKET_ENV} must not contain control characters"
                )));
            }
            Ok(path)
        }
    }
}

fn utf8(arg: OsString, what: &str) -> Result<String, UsageError> {
    arg.into_string()
        .map_err(|_| UsageError::new(format!("{what} is not valid UTF-8")))
}

/// At most `max_chars` characters of `s` with control characters dropped, for messages.
pub fn printable(s: &str, max_chars: usize) -> String {
    let mut out: String = s
        .chars()
        .filter(|c| !c.is_control())
        .take(max_chars)
        .collect();
    if s.chars()
        .filter(|c| !c.is_control())
        .nth(max_chars)
        .is_some()
    {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Command, UsageError> {
        parse(args.iter().map(OsString::from))
    }

    fn call(topic: &str, arguments: ArgumentSource) -> Command {
        Command::Call(Call {
            topic: topic.to_owned(),
            arguments,
        })
    }

    #[test]
    fn a_bare_name_is_short_for_tool_invoke() {
        assert_eq!(
            parse_strs(&["web_fetch"]),
            Ok(call("tool.invoke.web_fetch", ArgumentSource::Empty))
        );
        assert_eq!(
            parse_strs(&["tool.invoke.web_fetch", r#"{"url":"x"}"#]),
            Ok(call(
                "tool.invoke.web_fetch",
                ArgumentSource::Inline(r#"{"url":"x"}"#.to_owned())
            ))
        );
        assert_eq!(
            parse_strs(&["a1_", "-"]),
            Ok(call("tool.invoke.a1_", ArgumentSource::Stdin))
        );
    }

    #[test]
    fn help_and_version_are_recognised_first() {
        assert_eq!(parse_strs(&["--help"]), Ok(Command::Help));
        assert_eq!(parse_strs(&["-h"]), Ok(Command::Help));
        assert_eq!(parse_strs(&["--version"]), Ok(Command::Version));
        assert!(parse_strs(&["--verbose"]).is_err());
        assert!(parse_strs(&["-"]).is_err());
        // After the topic, `--help` is an (invalid) arguments text, not an option;
        // it is refused when it is parsed as JSON.
        assert_eq!(
            parse_strs(&["echo", "--help"]),
            Ok(call(
                "tool.invoke.echo",
                ArgumentSource::Inline("--help".to_owned())
            ))
        );
    }

    #[test]
    fn usage_errors() {
        assert!(parse_strs(&[]).is_err());
        assert!(parse_strs(&["echo", "{}", "extra"]).is_err());
        assert!(parse_strs(&["relay"]).is_err(), "relay needs --listen");
        assert!(parse_strs(&["tool.invoke.relay"]).is_ok());
        for bad in [
            "",
            "Echo",
            "1echo",
            "_echo",
            "echo-x",
            "echo.x",
            "tool.invoke.",
            "tool.invoke.Bad",
            "tool.invoke.tool.invoke.x",
            "tool.other.x",
            "éche",
            "echo\n",
        ] {
            assert!(parse_strs(&[bad]).is_err(), "{bad:?} must be refused");
        }
        let longest = "a".repeat(MAX_TOOL_NAME_LEN);
        assert!(parse_strs(&[longest.as_str()]).is_ok());
        let too_long = "a".repeat(MAX_TOOL_NAME_LEN + 1);
        assert!(parse_strs(&[too_long.as_str()]).is_err());
        let full_too_long = format!("{TOOL_TOPIC_PREFIX}{too_long}");
        assert!(parse_strs(&[full_too_long.as_str()]).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_arguments_are_usage_errors() {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(vec![0x66, 0xff]);
        assert!(parse(vec![bad.clone()]).is_err());
        assert!(parse(vec![OsString::from("echo"), bad]).is_err());
    }

    #[test]
    fn error_messages_do_not_echo_control_characters_or_long_input() {
        let long = format!("X{}\u{1b}[2J", "y".repeat(500));
        let err = parse_strs(&[long.as_str()]).expect_err("invalid");
        assert!(!err.0.contains('\u{1b}'));
        assert!(err.0.len() < 400, "{}", err.0);
    }

    #[test]
    fn relay_options() {
        let relay = |listen: &str, socket: &str| {
            Ok(Command::Relay(Relay {
                exec: Vec::new(),
                listen: listen.parse().expect("addr"),
                socket: socket.to_owned(),
            }))
        };
        assert_eq!(
            parse_strs(&["relay", "--listen", "127.0.0.1:8080"]),
            relay("127.0.0.1:8080", DEFAULT_MODEL_SOCKET)
        );
        assert_eq!(
            parse_strs(&["relay", "--socket=/s/m.sock", "--listen=[::1]:0"]),
            relay("[::1]:0", "/s/m.sock")
        );
        assert_eq!(
            parse_strs(&["relay", "--listen", "127.9.0.1:1", "--socket", "x.sock"]),
            relay("127.9.0.1:1", "x.sock")
        );
        for bad in [
            &["relay"][..],
            &["relay", "--listen"],
            &["relay", "--listen", "0.0.0.0:8080"],
            &["relay", "--listen", "10.0.0.1:80"],
            &["relay", "--listen", "[::]:80"],
            &["relay", "--listen", "localhost:80"],
            &["relay", "--listen", "127.0.0.1"],
            &[
                "relay",
                "--listen",
                "127.0.0.1:1",
                "--listen",
                "127.0.0.1:2",
            ],
            &["relay", "--listen", "127.0.0.1:1", "--socket", ""],
            &["relay", "--listen", "127.0.0.1:1", "--verbose"],
            &["relay", "--listen", "127.0.0.1:1", "extra"],
            &["relay", "--listen", "127.0.0.1:1", "--"],
            &["relay", "--", "claude"],
        ] {
            assert!(parse_strs(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn relay_runs_what_follows_the_double_dash_verbatim() {
        let parsed = parse_strs(&[
            "relay",
            "--listen",
            "127.0.0.1:1",
            "--",
            "claude",
            "-p",
            "--",
            "x y",
        ]);
        let Ok(Command::Relay(relay)) = parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(
            relay.exec,
            ["claude", "-p", "--", "x y"].map(OsString::from)
        );
        assert_eq!(relay.socket, DEFAULT_MODEL_SOCKET);
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout(None), Ok(DEFAULT_TIMEOUT));
        assert_eq!(parse_timeout(Some("".into())), Ok(DEFAULT_TIMEOUT));
        assert_eq!(
            parse_timeout(Some("0.3".into())),
            Ok(Duration::from_millis(300))
        );
        assert_eq!(
            parse_timeout(Some(" 2 ".into())),
            Ok(Duration::from_secs(2))
        );
        assert_eq!(
            parse_timeout(Some("86400".into())),
            Ok(Duration::from_secs(86_400))
        );
        for bad in ["0", "-1", "abc", "NaN", "inf", "1e300", "86400.5", "1s"] {
            assert!(parse_timeout(Some(bad.into())).is_err(), "{bad}");
        }
    }

    #[test]
    fn socket_paths() {
        assert_eq!(parse_socket_path(None).as_deref(), Ok(DEFAULT_SOCKET_PATH));
        assert_eq!(
            parse_socket_path(Some("".into())).as_deref(),
            Ok(DEFAULT_SOCKET_PATH)
        );
        assert_eq!(
            parse_socket_path(Some("/tmp/x.sock".into())).as_deref(),
            Ok("/tmp/x.sock")
        );
        assert!(parse_socket_path(Some("/tmp/x\n.sock".into())).is_err());
    }

    #[test]
    fn printable_truncates_and_marks() {
        assert_eq!(printable("abc", 3), "abc");
        assert_eq!(printable("abcd", 3), "abc…");
        assert_eq!(printable("a\u{7}b", 3), "ab");
    }
}
