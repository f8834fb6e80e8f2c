//! Config, plugins, catalog and skills as one unit: built at start, rebuilt by `carapace reload`.
//!
//! A reload that would fail (an invalid config, a tool clash) changes nothing;
//! plugins whose manifest, folder and settings are unchanged keep running.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::core::{Core, Loaded};
use crate::paths::Home;
use crate::plugins::process::FromPlugin;
use crate::plugins::{self, PluginHost};
use crate::skills::SkillSource;
use crate::tools::{intrinsic, Catalog, ToolOwner};

/// A freshly built configuration with its plugins started.
pub struct Assembled {
    /// The configuration.
    pub config: Config,
    /// Intrinsic tools plus those of the plugins that run.
    pub catalog: Catalog,
    /// The plugins.
    pub host: PluginHost,
    /// The plugins' own requests and notifications.
    pub from_plugins: mpsc::UnboundedReceiver<FromPlugin>,
}

/// Discovers plugins, checks the whole catalog, starts the plugins (keeping
/// unchanged ones of `previous`, restarting `force`), and assembles skills.
pub async fn assemble(
    home: &Home,
    config: Config,
    previous: Option<&PluginHost>,
    force: Option<&str>,
) -> Result<Assembled, String> {
    // Before anything a plugin supplies is read or answered: the values to redact.
    crate::secret_values::refresh(home);
    let dirs = plugins::search_dirs(home, &config.plugins.dirs);
    let discovered = plugins::discover(&dirs).map_err(|e| e.to_string())?;
    if let Some(name) = force {
        if !discovered.iter().any(|p| p.name == name) {
            return Err(format!(
                "no plugin `{}`",
                name.chars().take(64).collect::<String>()
            ));
        }
    }
    let mut specs = intrinsic::specs();
    specs.extend(plugins::tool_specs(&discovered).map_err(|e| e.to_string())?);
    // The whole catalog is checked before any process starts, so a clash changes nothing.
    Catalog::build(specs.clone()).map_err(|e| e.to_string())?;
    let (host, from_plugins) =
        PluginHost::start_after(home, &discovered, &config, previous, force).await;
    let running = host.running();
    specs.retain(|s| match &s.owner {
        ToolOwner::Plugin(p) => running.contains(p),
        ToolOwner::Intrinsic => true,
    });
    let catalog = Catalog::build(specs).map_err(|e| e.to_string())?;
    let sources: Vec<SkillSource<'_>> = discovered
        .iter()
        .filter(|p| running.contains(&p.name))
        .map(|p| SkillSource {
            plugin: &p.name,
            skills: &p.skills,
            description: &p.manifest.description,
        })
        .collect();
    match crate::skills::assemble(&home.skills_dir(), &sources, &intrinsic::specs()) {
        Ok(count) => tracing::info!(count, "skills assembled"),
        Err(e) => tracing::error!(error = %e, "cannot assemble skills"),
    }
    Ok(Assembled {
        config,
        catalog,
        host,
        from_plugins,
    })
}

/// `carapace reload [PLUGIN]`: re-reads config and plugins without stopping sessions.
pub async fn reload(core: &Arc<Core>, plugin: Option<&str>) -> Result<Value, String> {
    let config = Config::load(&core.home.config_file()).map_err(|e| e.to_string())?;
    let old = core.loaded();
    let assembled = assemble(&core.home, config, Some(&old.plugins), plugin).await?;
    let host = Arc::new(assembled.host);
    let tools = assembled.catalog.all().len();
    core.sockets
        .set_message_deadline(std::time::Duration::from_secs(
            assembled.config.core.message_deadline_secs,
        ));
    core.replace_loaded(Loaded::new(
        assembled.config,
        assembled.catalog,
        Arc::clone(&host),
    ));
    tokio::spawn(crate::serve::plugin_services::serve(
        Arc::clone(core),
        assembled.from_plugins,
    ));
    old.plugins.retire_replaced(&host).await;
    let health = host.health();
    core.audit_core("core.reloaded", json!({"plugin": plugin, "tools": tools}));
    publish_health(core);
    Ok(json!({"tools": tools, "plugins": health}))
}

/// Announces each plugin's state on the event bus.
pub fn publish_health(core: &Core) {
    for plugin in core
        .plugins()
        .health()
        .into_iter()
        .map(|h| h.without_problem())
    {
        let topic = if plugin.state == "running" {
            "plugin.ready"
        } else {
            "plugin.failed"
        };
        core.publish(topic, json!(plugin));
    }
}
