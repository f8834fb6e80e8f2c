//! A plugin's config from `config.toml`: checked against its manifest's
//! `config_schema`, with the schema's defaults filled in.
//!
//! Pure functions over values; must never read files or start anything.

use serde_json::Value;

use crate::plugins::Discovered;

/// The plugin's config from `config.toml`, checked against its `config_schema`, defaults applied.
pub(crate) fn plugin_config(plugin: &Discovered, table: &toml::Table) -> Result<Value, String> {
    let mut value = serde_json::to_value(table).map_err(|e| e.to_string())?;
    let Some(schema) = &plugin.manifest.config_schema else {
        return Ok(value);
    };
    apply_defaults(schema, &mut value);
    let validator = crate::tools::schema_rules::compile(schema)?;
    if let Err(error) = validator.validate(&value) {
        return Err(format!(
            "[plugins.{}.config] at `{}`: {error}",
            plugin.name,
            error.instance_path()
        ));
    }
    Ok(value)
}

/// Fills in `default`s of the schema's properties, recursively, where the value has none.
fn apply_defaults(schema: &Value, value: &mut Value) {
    let (Some(Value::Object(properties)), Value::Object(map)) = (schema.get("properties"), value)
    else {
        return;
    };
    for (name, property) in properties {
        if !map.contains_key(name) {
            if let Some(default) = property.get("default") {
                map.insert(name.clone(), default.clone());
            }
        }
        if let Some(child) = map.get_mut(name) {
            apply_defaults(property, child);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_fill_only_what_is_missing() {
        let schema = json!({"type":"object","properties":{
            "port":{"type":"integer","default":993},
            "tls":{"type":"object","properties":{"verify":{"type":"boolean","default":true}}}}});
        let mut value = json!({"tls":{}, "port": 143});
        apply_defaults(&schema, &mut value);
        assert_eq!(value, json!({"port":143,"tls":{"verify":true}}));
    }
}
