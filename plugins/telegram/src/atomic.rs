//! Replacing the plugin's small files atomically, owner-only: the SDK's
//! [`carapace_plugin_sdk::files`].

pub use carapace_plugin_sdk::files::{replace, O_NOFOLLOW};
