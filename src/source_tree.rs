//! The source checkout this binary was built from, for development only.
//!
//! `cargo run` finds the bundled plugins and builds missing workspace binaries
//! from it. A release archive (`scripts/dist.sh`, which builds with
//! `CARAPACE_DIST=1`) has none, so no build path is compiled into it: an
//! installed core finds everything beside its own binary.

use std::path::Path;

/// The checkout's root (`Cargo.toml` of the workspace), when this build has one.
pub fn root() -> Option<&'static Path> {
    option_env!("CARAPACE_SOURCE_TREE").map(Path::new)
}
