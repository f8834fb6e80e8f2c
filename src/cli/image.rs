//! `carapace image build`: an agent image from local files, recorded by digest.
//!
//! Assembles the root filesystem ([`crate::runtime::rootfs`]: the agent program,
//! the `ipc` client, bash, busybox, their libraries, a non-root user), imports
//! it with the container engine, verifies the image the engine reports, and
//! sets `runtime.image` to its ID in `config.toml` (comments kept), so every
//! run is checked against it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use crate::config::Config;
use crate::paths::Home;
use crate::runtime::rootfs::{self, RootfsPlan};
use crate::runtime::ImageRef;

/// Image subcommands.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build the agent image from local files and record its ID as runtime.image.
    Build {
        /// The agent program (default: `claude` on PATH).
        #[arg(long)]
        agent: Option<PathBuf>,
        /// The `ipc` client to put in (default: the one beside this program).
        #[arg(long)]
        ipc: Option<PathBuf>,
        /// The image's name.
        #[arg(long, default_value = "localhost/carapace-agent:local")]
        tag: String,
        /// Build and print the ID, but leave config.toml as it is.
        #[arg(long)]
        no_record: bool,
    },
}

/// Runs an image subcommand.
pub fn run(home: &Home, command: ImageCommand) -> anyhow::Result<ExitCode> {
    let ImageCommand::Build {
        agent,
        ipc,
        tag,
        no_record,
    } = command;
    let config = Config::load(&home.config_file())?;
    let agent = match agent {
        Some(path) => path,
        None => rootfs::find_on_path("claude").context(
            "no `claude` on PATH: install Claude Code (npm install -g @anthropic-ai/claude-code) \
             or pass --agent PROGRAM",
        )?,
    };
    let ipc = match ipc {
        Some(path) => path,
        None => beside_this_program("ipc").context("no `ipc` beside carapace: pass --ipc PATH")?,
    };
    let runtime_config = &config.runtime;
    let plan = RootfsPlan::from_host(
        agent,
        ipc,
        (runtime_config.agent_uid, runtime_config.agent_gid),
    );
    let staging = tempfile::Builder::new()
        .prefix("carapace-image-")
        .tempdir()
        .context("cannot make a staging directory")?;
    rootfs::assemble(staging.path(), &plan)?;
    let io = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let id = io.block_on(async {
        let runtime = crate::runtime::select(runtime_config).await?;
        let id = rootfs::import(runtime.as_ref(), staging.path(), &tag, plan.user)?;
        let pinned = ImageRef::parse(&id)?;
        let verified = runtime.verify_image(&pinned, &[]).await?;
        anyhow::Ok((id, verified))
    })?;
    let (id, verified) = id;
    println!("built {tag}: sha256:{} (verified)", verified.id);
    if no_record {
        return Ok(ExitCode::SUCCESS);
    }
    crate::config::edit::set(
        &home.config_file(),
        "runtime.image",
        &format!("\"sha256:{id}\""),
    )?;
    println!(
        "runtime.image = \"sha256:{id}\" recorded in {}",
        home.config_file().display()
    );
    Ok(ExitCode::SUCCESS)
}

fn beside_this_program(name: &str) -> Option<PathBuf> {
    let path = std::env::current_exe().ok()?.parent()?.join(name);
    path.is_file().then_some(path)
}
