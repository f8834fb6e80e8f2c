//! `carapace auth`: set, list and remove plugin credentials. Never prints a value.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;
use crate::credentials::{self, MAX_SECRET_BYTES};
use crate::paths::Home;
use crate::plugins;

/// `carapace auth ...`.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Store a credential, read from stdin (or a no-echo prompt on a terminal).
    Set {
        /// The plugin it belongs to.
        #[arg(long)]
        plugin: String,
        /// The credential name, as the plugin's manifest declares it.
        name: String,
    },
    /// Sign a plugin in to its OAuth2 provider (`[auth.<plugin>]` in config.toml) and
    /// store the refresh token in its credentials; the token is never shown.
    Login {
        /// The plugin (e.g. `email`).
        #[arg(long)]
        plugin: String,
        /// Use the device flow (a code typed on another device) instead of a browser here.
        #[arg(long)]
        device: bool,
        /// How long to wait for the sign-in, in seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// List credentials: plugin, name, present, mode (never values).
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a stored credential.
    Rm {
        /// The plugin it belongs to.
        #[arg(long)]
        plugin: String,
        /// The credential name.
        name: String,
    },
}

/// Runs an `auth` subcommand.
pub fn run(home: &Home, command: AuthCommand) -> anyhow::Result<ExitCode> {
    // An old home's model key moves to keys/model/ before auth reads or writes it.
    crate::migrate::migrate_home(home)?;
    match command {
        AuthCommand::Set { plugin, name } => {
            let mut value = read_secret(&format!("{plugin}/{name}: "))?;
            let stored = credentials::set(home, &plugin, &name, &value);
            value.fill(0);
            let path = stored?;
            println!("stored {} (restart the core to use it)", path.display());
            tell_running_core(home);
            Ok(ExitCode::SUCCESS)
        }
        AuthCommand::Rm { plugin, name } => {
            if credentials::remove(home, &plugin, &name)? {
                println!("removed {plugin}/{name}");
                tell_running_core(home);
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("carapace: no credential {plugin}/{name}");
                Ok(ExitCode::FAILURE)
            }
        }
        AuthCommand::Status { json } => status(home, json),
        AuthCommand::Login {
            plugin,
            device,
            timeout,
        } => super::auth_login::run(home, &plugin, device, timeout),
    }
}

/// Has a running core reload the values it redacts, so a new secret is never
/// answered in the clear; nothing to do when no core runs.
pub(super) fn tell_running_core(home: &Home) {
    if !home.control_socket().exists() {
        return;
    }
    if let Err(e) = super::ask(home, &crate::control::ControlRequest::SecretsChanged) {
        eprintln!(
            "carapace: the running core was not told of the change ({e}); run `carapace reload` so that it redacts the new value"
        );
    }
}

fn status(home: &Home, json: bool) -> anyhow::Result<ExitCode> {
    let (required, optional) = declared(home);
    let listed = credentials::status(home, &required, &optional);
    let problem = credentials::check_store(home).err().map(|e| e.to_string());
    if json {
        super::print_json(&serde_json::json!({
            "credentials": listed,
            "problem": problem,
        }));
    } else {
        if listed.is_empty() {
            println!("no credentials");
        }
        for entry in &listed {
            let state = match (&entry.mode, entry.declared && !entry.optional) {
                (Some(mode), _) => format!("present ({mode})"),
                (None, true) => "MISSING".to_owned(),
                (None, false) if entry.optional => "absent (optional)".to_owned(),
                (None, false) => "absent".to_owned(),
            };
            println!("{}/{}: {state}", entry.plugin, entry.name);
        }
        if let Some(problem) = &problem {
            println!("problem: {problem}");
        }
    }
    Ok(if problem.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// (plugin, names) of every plugin found: its required credentials, and its
/// optional ones; nothing if discovery fails.
type Declared = Vec<(String, Vec<String>)>;

fn declared(home: &Home) -> (Declared, Declared) {
    let configured = Config::load(&home.config_file())
        .map(|c| c.plugins.dirs)
        .unwrap_or_default();
    plugins::discover(&plugins::search_dirs(home, &configured))
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            (
                (p.name.clone(), p.manifest.credentials),
                (p.name, p.manifest.optional_credentials),
            )
        })
        .unzip()
}

/// Reads the value: all of stdin when it is not a terminal, else one line without echo.
/// One trailing newline is dropped.
fn read_secret(prompt: &str) -> anyhow::Result<Vec<u8>> {
    let stdin = std::io::stdin();
    let mut value = Vec::new();
    if stdin.is_terminal() {
        let mut stderr = std::io::stderr();
        write!(stderr, "{prompt}")?;
        stderr.flush()?;
        let line = read_line_without_echo(&stdin);
        writeln!(stderr)?;
        value = line?.into_bytes();
    } else {
        stdin
            .lock()
            .take(MAX_SECRET_BYTES as u64 + 2)
            .read_to_end(&mut value)?;
    }
    if value.ends_with(b"\n") {
        value.pop();
        if value.ends_with(b"\r") {
            value.pop();
        }
    }
    Ok(value)
}

fn read_line_without_echo(stdin: &std::io::Stdin) -> anyhow::Result<String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let saved = tcgetattr(stdin)?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    tcsetattr(stdin, SetArg::TCSAFLUSH, &quiet)?;
    let mut line = String::new();
    let read = stdin.read_line(&mut line);
    tcsetattr(stdin, SetArg::TCSAFLUSH, &saved)?;
    read?;
    Ok(line)
}
