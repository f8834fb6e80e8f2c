//! `carapace uninstall`: removes what `install.sh` put down (its install record), and the
//! Carapace home only on a second, explicit yes (`--remove-home`, or the second question).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use crate::control::{client, ControlRequest};
use crate::install::{self, InstallRecord, Removal, UninstallError};
use crate::paths::Home;

/// `carapace uninstall` options.
#[derive(Debug, clap::Args)]
pub struct UninstallArgs {
    /// The install prefix (default: the one this program runs from, `<prefix>/bin/carapace`).
    #[arg(long, value_name = "DIR")]
    pub prefix: Option<PathBuf>,
    /// Remove the installed files without asking (the home stays unless --remove-home).
    #[arg(long)]
    pub yes: bool,
    /// Also remove the Carapace home (config, credentials, audit log, memory) without asking.
    #[arg(long)]
    pub remove_home: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// What happened to the home.
enum HomeOutcome {
    Removed,
    Kept,
    Absent,
}

/// Runs `carapace uninstall`; a refusal is `carapace: uninstall refused (CODE): ...`,
/// or with `--json` a `{"ok": false, "error": {code, message}}` on stdout.
pub fn run(home: &Home, args: &UninstallArgs) -> anyhow::Result<ExitCode> {
    match uninstall(home, args) {
        Ok(Some((prefix, record, removal, home_outcome))) => {
            report(home, &prefix, &record, &removal, &home_outcome, args.json);
            Ok(ExitCode::SUCCESS)
        }
        Ok(None) => {
            if args.json {
                super::print_json(&json!({"ok": false, "cancelled": true}));
            } else {
                println!("cancelled: nothing removed");
            }
            Ok(ExitCode::FAILURE)
        }
        Err(error) if args.json => {
            super::print_json(&json!({
                "ok": false,
                "error": {"code": error.code(), "message": error.to_string()},
            }));
            Ok(ExitCode::FAILURE)
        }
        Err(error) => Err(anyhow::anyhow!(
            "uninstall refused ({}): {error}",
            error.code()
        )),
    }
}

type Done = (PathBuf, InstallRecord, Removal, HomeOutcome);

fn uninstall(home: &Home, args: &UninstallArgs) -> Result<Option<Done>, UninstallError> {
    let prefix = match &args.prefix {
        Some(dir) => std::path::absolute(dir).map_err(|source| UninstallError::Io {
            path: dir.display().to_string(),
            source,
        })?,
        None => {
            let exe = std::env::current_exe().map_err(|source| UninstallError::Io {
                path: "/proc/self/exe".into(),
                source,
            })?;
            install::prefix_of(&exe)?
        }
    };
    let record = InstallRecord::read(&prefix)?;
    refuse_if_running(home, &prefix, &record)?;
    let dirs = record.dirs.len();
    eprintln!(
        "Carapace {} ({}) in {}: {} files and {dirs} directories, as its install record {} lists them",
        record.version,
        record.target,
        prefix.display(),
        record.files.len() + 1,
        prefix.join(install::RECORD_PATH).display()
    );
    if let Some(at) = record
        .installed_prefix
        .as_deref()
        .filter(|p| PathBuf::from(p) != prefix)
    {
        eprintln!(
            "(it was installed as {at}; the paths are relative to the prefix, so this is fine)"
        );
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(UninstallError::NeedsConfirmation);
        }
        if !ask("Remove them?")? {
            return Ok(None);
        }
    }
    let home_exists = std::fs::symlink_metadata(home.root()).is_ok();
    let remove_home = home_exists
        && (args.remove_home
            || (std::io::stdin().is_terminal()
                && ask(&format!(
                    "Also remove your Carapace home {}: config, credentials, audit log, memory, \
                     agent state? This cannot be undone.",
                    home.root().display()
                ))?));
    if remove_home {
        // Checked before any file goes, so a refused home leaves the install as it was.
        install::check_home_removable(home.root(), &prefix)?;
    }
    let removal = install::remove(&prefix, &record)?;
    let home_outcome = if remove_home {
        install::remove_home(home.root(), &prefix)?;
        HomeOutcome::Removed
    } else if home_exists {
        HomeOutcome::Kept
    } else {
        HomeOutcome::Absent
    };
    Ok(Some((prefix, record, removal, home_outcome)))
}

/// Refuses while a core answers on this home, or any program of the install runs.
fn refuse_if_running(
    home: &Home,
    prefix: &std::path::Path,
    record: &InstallRecord,
) -> Result<(), UninstallError> {
    // As `carapace status` finds it: the core answers on its control socket.
    if let Ok(status) = client::request(
        &home.control_socket(),
        &ControlRequest::Status,
        Duration::from_secs(2),
    ) {
        return Err(UninstallError::CoreRunning {
            pid: status.get("pid").map(|p| p.to_string()).unwrap_or_default(),
            home: home.root().display().to_string(),
        });
    }
    // A core on another home, or a plugin handler left running.
    let running = install::running_programs(prefix, record);
    if !running.is_empty() {
        let list: Vec<String> = running
            .iter()
            .map(|(pid, program)| format!("{program} (pid {pid})"))
            .collect();
        return Err(UninstallError::InUse {
            running: list.join(", "),
        });
    }
    Ok(())
}

/// Asks `question` on the terminal (stderr, so that stdout stays for `--json`).
fn ask(question: &str) -> Result<bool, UninstallError> {
    let io = |source| UninstallError::Io {
        path: "the terminal".into(),
        source,
    };
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().map_err(io)?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(io)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn report(
    home: &Home,
    prefix: &std::path::Path,
    record: &InstallRecord,
    removal: &Removal,
    home_outcome: &HomeOutcome,
    as_json: bool,
) {
    let home_state = match home_outcome {
        HomeOutcome::Removed => "removed",
        HomeOutcome::Kept => "kept",
        HomeOutcome::Absent => "absent",
    };
    if as_json {
        let left: Vec<_> = removal
            .left
            .iter()
            .map(|(path, why)| json!({"path": path, "why": why}))
            .collect();
        super::print_json(&json!({
            "ok": true,
            "prefix": prefix,
            "version": record.version,
            "removed": removal.removed,
            "absent": removal.absent,
            "left": left,
            "removed_dirs": removal.removed_dirs,
            "kept_dirs": removal.kept_dirs,
            "home": {"path": home.root(), "state": home_state},
        }));
        return;
    }
    println!(
        "removed {} files and {} directories of Carapace {} from {}",
        removal.removed.len(),
        removal.removed_dirs.len(),
        record.version,
        prefix.display()
    );
    for path in &removal.absent {
        println!("  already gone: {path}");
    }
    for (path, why) in &removal.left {
        println!("  left in place: {path}: {why}");
    }
    for dir in &removal.kept_dirs {
        println!("  kept {dir}/: something else is in it");
    }
    match home_outcome {
        HomeOutcome::Removed => println!("removed the Carapace home {}", home.root().display()),
        HomeOutcome::Kept => println!(
            "kept the Carapace home {} (config, credentials, audit log, memory); \
             remove it yourself with `rm -r {}` once you no longer need it",
            home.root().display(),
            home.root().display()
        ),
        HomeOutcome::Absent => {}
    }
}
