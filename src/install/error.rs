//! `UninstallError`: why `carapace uninstall` refused or stopped, each with a code.

/// Why an uninstall was refused or stopped; [`UninstallError::code`] names the kind.
#[derive(Debug, thiserror::Error)]
pub enum UninstallError {
    /// The program is not at `<prefix>/bin/<program>`, so the prefix is unknown.
    #[error(
        "cannot tell the install prefix from {exe} (not in a `bin` directory); give --prefix DIR"
    )]
    PrefixUnknown {
        /// The running program.
        exe: String,
    },
    /// No install record: not installed by `install.sh`.
    #[error(
        "no install record at {path}: this Carapace was not installed by install.sh, so there is \
         no list of what to remove. From `cargo install`: `cargo uninstall carapace`. From Nix: \
         `nix profile remove carapace`, or take it out of your NixOS or home-manager configuration"
    )]
    NoRecord {
        /// Where the record was looked for.
        path: String,
    },
    /// The record cannot be read or trusted.
    #[error("the install record {path} cannot be used: {reason}")]
    BadRecord {
        /// The record.
        path: String,
        /// What is wrong, with the line when there is one.
        reason: String,
    },
    /// A core answers on the home's control socket.
    #[error(
        "a Carapace core is running (pid {pid}) on {home}; stop it first with `carapace stop`"
    )]
    CoreRunning {
        /// Its pid, as it reports it.
        pid: String,
        /// Its home.
        home: String,
    },
    /// Processes run programs of this install.
    #[error("programs of this install are running: {running}; stop them first (`carapace stop` stops a core and its plugins)")]
    InUse {
        /// `pid program` pairs.
        running: String,
    },
    /// Asked nothing and told nothing: no terminal and no `--yes`.
    #[error("not a terminal, so nobody can confirm: pass --yes to uninstall without being asked")]
    NeedsConfirmation,
    /// The home to remove does not look like a Carapace home, or must not be removed.
    #[error("{path} is not removed: {reason}")]
    HomeRefused {
        /// The home.
        path: String,
        /// Why not.
        reason: String,
    },
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
}

impl UninstallError {
    /// A stable code for scripts (`--json`).
    pub fn code(&self) -> &'static str {
        match self {
            UninstallError::PrefixUnknown { .. } => "PREFIX_UNKNOWN",
            UninstallError::NoRecord { .. } => "NO_INSTALL_RECORD",
            UninstallError::BadRecord { .. } => "BAD_INSTALL_RECORD",
            UninstallError::CoreRunning { .. } => "CORE_RUNNING",
            UninstallError::InUse { .. } => "IN_USE",
            UninstallError::NeedsConfirmation => "NEEDS_CONFIRMATION",
            UninstallError::HomeRefused { .. } => "HOME_REFUSED",
            UninstallError::Io { .. } => "IO_ERROR",
        }
    }
}
