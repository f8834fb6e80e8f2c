//! The Carapace core.
