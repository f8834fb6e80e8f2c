//! INBOX polling (not yet).

use carapace_plugin_sdk::CoreLink;

use crate::state::Shared;

/// Polls until the core goes away.
pub fn run(_shared: &Shared, _link: &CoreLink) {}
