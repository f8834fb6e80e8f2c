//! What `status` shows of each plugin: its state, why it failed, its restart
//! attempt, and the confinement actually enforced while it runs.
//!
//! Read-only over the slots; must never change a slot's state.

use super::slot::State;
use super::PluginHost;
use crate::plugins::{confine, PluginHealth};

impl PluginHost {
    /// Names of plugins whose tools belong in the catalog (running or restarting).
    pub fn running(&self) -> Vec<String> {
        self.slots
            .iter()
            .filter(|(_, s)| {
                matches!(
                    s.state.read().as_deref(),
                    Ok(State::Running(_) | State::Restarting { .. })
                )
            })
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Every plugin's state.
    pub fn health(&self) -> Vec<PluginHealth> {
        self.slots
            .iter()
            .map(|(name, slot)| {
                let (state, category, restart_attempt) = match slot.state.read().as_deref() {
                    Ok(State::Running(p)) if p.is_alive() => ("running", None, None),
                    Ok(State::Running(_)) => ("restarting", None, None),
                    Ok(State::Restarting { attempt }) => ("restarting", None, Some(*attempt)),
                    Ok(State::Failed(category, _)) => ("failed", Some(category.clone()), None),
                    Ok(State::Disabled) => ("disabled", None, None),
                    Ok(State::NotConfigured) => ("not_configured", None, None),
                    Ok(State::Stopped) | Err(_) => ("stopped", None, None),
                };
                let enforcement = (state == "running").then(|| {
                    let ids = self.shared.identities.get(name).map_or_else(
                        || {
                            let own = nix::unistd::getuid().as_raw();
                            (own, nix::unistd::getgid().as_raw())
                        },
                        |run_as| (run_as.uid, run_as.gid),
                    );
                    confine::enforced(
                        self.shared.confinement,
                        &self.shared.launcher,
                        slot.plugin.manifest.network,
                        ids,
                    )
                });
                PluginHealth {
                    name: name.clone(),
                    problem: match slot.state.read().as_deref() {
                        Ok(State::Failed(_, Some(detail))) => {
                            slot.problem.clone().or_else(|| Some(detail.clone()))
                        }
                        Ok(State::Failed(_, None) | State::NotConfigured) => slot.problem.clone(),
                        _ => None,
                    },
                    state: state.into(),
                    capabilities: slot.plugin.manifest.capabilities.clone(),
                    category,
                    restart_attempt,
                    confinement: enforcement.as_ref().map(confine::Enforced::summary),
                    enforcement,
                }
            })
            .collect()
    }
}
