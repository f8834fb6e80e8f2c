//! `carapace plugin new|validate|test`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::plugins::authoring;

/// Plugin authoring subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Scaffold a plugin folder: manifest, skill and a Rust handler using the SDK.
    New {
        /// The plugin name (also the folder name).
        name: String,
        /// Where to create it.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Check a plugin folder against every rule the core applies at load.
    Validate {
        /// The plugin folder, or the name of a bundled plugin (when no such folder is here).
        dir: PathBuf,
    },
    /// Conformance: validate, probe each schema, start the handler and run the examples.
    Test {
        /// The plugin folder, or the name of a bundled plugin (when no such folder is here).
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a plugin subcommand.
pub fn run(command: PluginCommand) -> anyhow::Result<ExitCode> {
    match command {
        PluginCommand::New { name, dir } => {
            let created = authoring::scaffold(&dir, &name).map_err(anyhow::Error::msg)?;
            println!("created {}", created.display());
            println!("build the handler with `cargo build` there, put it on PATH, then `carapace plugin test {}`", created.display());
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Validate { dir } => {
            let plugin =
                authoring::validate(&authoring::resolve(&dir)).map_err(anyhow::Error::msg)?;
            println!(
                "{} is a valid plugin: {} tools",
                plugin.name,
                plugin.manifest.provides.tools.len()
            );
            if !plugin.manifest.capabilities.is_empty() {
                let names: Vec<&str> = plugin
                    .manifest
                    .capabilities
                    .iter()
                    .map(|c| c.as_str())
                    .collect();
                println!("  capabilities: {}", names.join(", "));
            }
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Test { dir, json } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let dir = authoring::resolve(&dir);
            let report = runtime.block_on(authoring::conformance(&dir));
            let checks = &report.checks;
            let failed = checks.iter().filter(|c| !c.ok).count();
            if json {
                let mut out = serde_json::json!({"ok": failed == 0, "checks": checks});
                if let Some(needs) = &report.needs_configuration {
                    out["needs_configuration"] = needs.as_str().into();
                }
                super::print_json(&out);
            } else {
                for c in checks {
                    let mark = if c.ok { "pass" } else { "FAIL" };
                    match &c.detail {
                        Some(detail) => println!("[{mark}] {}: {detail}", c.name),
                        None => println!("[{mark}] {}", c.name),
                    }
                }
                println!("checks: {} passed, {failed} failed", checks.len() - failed);
                if report.needs_configuration.is_some() {
                    println!("needs configuration: its examples run once the core can start it");
                }
            }
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
