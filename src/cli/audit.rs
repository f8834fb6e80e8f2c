//! `carapace audit verify|tail`.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{json, Value};

use crate::audit::{self, AuditEntry};
use crate::paths::Home;

/// Audit subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the HMAC chain of every audit file; names the first broken line.
    Verify {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the last entries.
    Tail {
        /// How many entries.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
        /// Keep printing new entries as they are written.
        #[arg(short, long)]
        follow: bool,
        /// Only entries of this group.
        #[arg(long)]
        group: Option<String>,
        /// Print each entry as one JSON line.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an audit subcommand.
pub fn run(home: &Home, command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify { json } => verify(home, json),
        AuditCommand::Tail {
            lines,
            follow,
            group,
            json,
        } => tail(home, lines, follow, group.as_deref(), json),
    }
}

fn verify(home: &Home, json: bool) -> anyhow::Result<ExitCode> {
    let report = audit::verify(&home.audit_dir(), &home.audit_key())?;
    let broken = report.first_break.as_ref();
    if json {
        super::print_json(&json!({
            "ok": broken.is_none(),
            "files": report.files,
            "lines": report.lines,
            "first_break": broken.map(|b| json!({
                "file": b.file, "line": b.line, "seq": b.seq, "reason": b.reason
            })),
        }));
    } else if let Some(b) = broken {
        println!(
            "audit chain BROKEN at {} line {}: {}",
            b.file.display(),
            b.line,
            b.reason
        );
    } else {
        println!(
            "audit chain intact: {} lines in {} files",
            report.lines, report.files
        );
    }
    Ok(if broken.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn tail(
    home: &Home,
    lines: usize,
    follow: bool,
    group: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let dir = home.audit_dir();
    let wanted = |e: &AuditEntry| {
        group.is_none_or(|g| e.event.get("group").and_then(Value::as_str) == Some(g))
    };
    let entries: Vec<AuditEntry> = if group.is_some() {
        let all = audit::read_entries(&dir)?;
        let matching: Vec<_> = all.into_iter().filter(|e| wanted(e)).collect();
        let skip = matching.len().saturating_sub(lines);
        matching.into_iter().skip(skip).collect()
    } else {
        audit::tail(&dir, lines)?
    };
    for entry in &entries {
        print_entry(entry, json);
    }
    if follow {
        let mut follower = match entries.last() {
            Some(last) if group.is_none() => audit::Follower::after_seq(&dir, last.seq)?,
            _ => audit::Follower::new(&dir)?,
        };
        loop {
            for entry in follower.poll()? {
                if wanted(&entry) {
                    print_entry(&entry, json);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_entry(entry: &AuditEntry, json: bool) {
    if json {
        let line = json!({"seq": entry.seq, "ts": entry.ts, "event": entry.event});
        println!("{line}");
        return;
    }
    let kind = entry
        .event
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let rest: Vec<String> = entry
        .event
        .iter()
        .filter(|(k, _)| k.as_str() != "kind")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!(
        "{:>6} {} {:<22} {}",
        entry.seq,
        entry.ts,
        kind,
        rest.join(" ")
    );
}
