//! `plugin test` on a plugin that needs configuration: what the core needs before it
//! starts the plugin (config keys, credentials), and whether its handler at least
//! starts and answers `initialize` when given none.
//!
//! The probe runs the handler exactly as the core does (confined, on the throw-away
//! home of the test), from a copy of its manifest without `config_schema` and
//! `credentials`, so that the core's own checks let it start and the handler itself
//! answers `initialize` with an empty config and no credentials directory. It never
//! runs a tool, and never sees a real home or a real credential.

use super::host::PluginHost;
use super::{Discovered, PluginHealth};
use crate::config::Config;
use crate::paths::Home;

/// What the core needs before it starts `plugin` on `home` with no config: the config
/// problem and the missing credentials with the command that sets them; `None` when nothing.
pub(crate) fn needs(plugin: &Discovered, home: &Home) -> Option<String> {
    let mut needs = Vec::new();
    if let Err(problem) = super::host::check_config(plugin, &toml::Table::new()) {
        needs.push(format!("a config: {problem}"));
    }
    let missing = crate::credentials::missing(home, &plugin.name, &plugin.manifest.credentials);
    for name in missing {
        needs.push(format!(
            "the credential `{name}` (carapace auth set --plugin {} {name})",
            plugin.name
        ));
    }
    (!needs.is_empty()).then(|| needs.join("; "))
}

/// Starts the handler without config or credentials: `Ok` with what it answered to
/// `initialize` (accepted, or its category and message), `Err` when it did not answer.
pub(crate) async fn probe(plugin: &Discovered, home: &Home) -> Result<String, String> {
    let mut bare = plugin.clone();
    bare.manifest.config_schema = None;
    bare.manifest.credentials.clear();
    let (host, _requests) =
        PluginHost::start(home, std::slice::from_ref(&bare), &Config::default()).await;
    let health: Option<PluginHealth> = host.health().into_iter().next();
    let answer = match health {
        Some(h) if h.state == "running" => Ok("it accepted an empty config".to_owned()),
        // A failure with the handler's own words is an answer to `initialize`.
        Some(PluginHealth {
            category: Some(category),
            problem: Some(problem),
            ..
        }) => Ok(format!("it answered {category}: {problem}")),
        Some(h) => Err(format!(
            "the handler did not answer initialize ({})",
            h.category.unwrap_or(h.state)
        )),
        None => Err("the handler was not started".into()),
    };
    host.shutdown().await;
    answer
}
