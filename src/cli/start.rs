//! `carapace start`.

use std::process::ExitCode;

use crate::config::Config;
use crate::paths::Home;

/// Runs the core in the foreground with logging to stderr.
pub fn run(home: Home) -> anyhow::Result<ExitCode> {
    let level = Config::load(&home.config_file())
        .map(|c| c.core.log_level)
        .unwrap_or_else(|_| "info".into());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(crate::daemon::run(home))?;
    Ok(ExitCode::SUCCESS)
}
