//! The test hooks a plugin's config turns on: a key of
//! `[plugins.<name>.config]` named `test_*` whose value is not `false`, `0`
//! or empty. They exist for test suites (the scheduler's `test_clock` reads
//! "now" from a file, `test_hold_*` make it wait on purpose); in production
//! they make a plugin lie about time or stall. `carapace doctor` warns about
//! each. Only the person's `config.toml` can set them.

use super::Config;

/// `<plugin>.<key>` of every test hook turned on by an enabled plugin's config, sorted.
pub fn test_hooks(config: &Config) -> Vec<String> {
    let mut hooks: Vec<String> = config
        .plugins
        .settings
        .iter()
        .filter(|(_, settings)| settings.enabled)
        .flat_map(|(plugin, settings)| {
            settings
                .config
                .iter()
                .filter(|(key, value)| key.starts_with("test_") && is_on(value))
                .map(move |(key, _)| format!("{plugin}.{key}"))
        })
        .collect();
    hooks.sort();
    hooks
}

/// Whether a hook's value turns it on.
fn is_on(value: &toml::Value) -> bool {
    match value {
        toml::Value::Boolean(on) => *on,
        toml::Value::Integer(n) => *n != 0,
        toml::Value::Float(n) => *n != 0.0,
        toml::Value::String(text) => !text.is_empty(),
        toml::Value::Array(items) => !items.is_empty(),
        toml::Value::Table(table) => !table.is_empty(),
        toml::Value::Datetime(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hooks_that_are_on_in_enabled_plugins_count() {
        let config = Config::parse(
            "[groups.main]\ntools=[\"*\"]\n\
             [plugins.scheduler]\nconfig={test_clock=true, test_hold_after_record_ms=0, max_catch_up=3}\n\
             [plugins.other]\nconfig={test_hold_after_ack_ms=500, test_off=false}\n\
             [plugins.off]\nenabled=false\nconfig={test_clock=true}\n",
            std::path::Path::new("config.toml"),
        )
        .expect("valid");
        assert_eq!(
            test_hooks(&config),
            ["other.test_hold_after_ack_ms", "scheduler.test_clock"]
        );
    }
}
