//! Plugin authoring: `carapace plugin new|validate|test`.
//!
//! `validate` applies every load-time rule to one folder; `test` also starts
//! the real handler over the real protocol and calls each tool with the
//! manifest's examples. Neither touches the user's home.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use super::host::CallScope;
use super::{discover, tool_specs, Discovered, PluginHost};
use crate::config::Config;
use crate::paths::Home;
use crate::tools::Catalog;

/// One conformance check and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it held.
    pub ok: bool,
    /// Why not, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

fn check(name: impl Into<String>, result: Result<(), String>) -> Check {
    Check {
        name: name.into(),
        ok: result.is_ok(),
        detail: result.err(),
    }
}

/// Loads `dir` as a plugin folder with every rule the core applies at startup.
pub fn validate(dir: &Path) -> Result<Discovered, String> {
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    if !super::valid_plugin_name(&name) {
        return Err(format!(
            "{}: the folder name is the plugin name and must match [a-z][a-z0-9_-]{{0,63}}",
            dir.display()
        ));
    }
    if let Some(refusal) = super::reserved::refusal(&name, &dir) {
        return Err(refusal);
    }
    let plugin = Discovered::load(name, dir).map_err(|e| e.to_string())?;
    if let Some(problem) = &plugin.refused {
        return Err(problem.clone());
    }
    plugin.manifest.check_compat(env!("CARGO_PKG_VERSION"))?;
    let specs = tool_specs(std::slice::from_ref(&plugin)).map_err(|e| e.to_string())?;
    Catalog::build(specs).map_err(|e| e.to_string())?;
    Ok(plugin)
}

/// The outcome of `plugin test`: every check, and what the plugin needs before its
/// examples can run, when it needs configuration (then its handler was only probed).
#[derive(Debug, Clone, Serialize)]
pub struct Conformance {
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// What the core needs before it starts the plugin (config, credentials), if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needs_configuration: Option<String>,
}

/// Runs the conformance checks; the handler runs on a throw-away home.
pub async fn conformance(dir: &Path) -> Conformance {
    let mut needs_configuration = None;
    let checks = run_checks(dir, &mut needs_configuration).await;
    Conformance {
        checks,
        needs_configuration,
    }
}

async fn run_checks(dir: &Path, needs_configuration: &mut Option<String>) -> Vec<Check> {
    let plugin = match validate(dir) {
        Ok(plugin) => plugin,
        Err(problem) => return vec![check("manifest is valid", Err(problem))],
    };
    let mut checks = vec![check("manifest is valid", Ok(()))];
    let specs = tool_specs(std::slice::from_ref(&plugin)).unwrap_or_default();
    let catalog = match Catalog::build(specs) {
        Ok(catalog) => catalog,
        Err(e) => return vec![check("tool schemas compile", Err(e.to_string()))],
    };
    for tool in catalog.all() {
        let name = &tool.spec.name;
        let mut extra = json!({"__carapace_probe__": true});
        let mut proto = json!({"__proto__": {"polluted": true}});
        for probe in [&mut extra, &mut proto] {
            if let (Some(example), Value::Object(map)) = (first_example(&plugin, name), &mut *probe)
            {
                map.extend(example);
            }
        }
        checks.push(check(
            format!("{name}: schema refuses an extra property"),
            refuses(&tool.validator, &extra),
        ));
        checks.push(check(
            format!("{name}: schema refuses a __proto__ key"),
            refuses(&tool.validator, &proto),
        ));
    }
    let Ok(home_dir) = tempfile::Builder::new().prefix("cpl-").tempdir_in("/tmp") else {
        checks.push(check(
            "handler starts",
            Err("cannot make a temp home".into()),
        ));
        return checks;
    };
    let home = Home::at(home_dir.path().to_owned());
    let _ = home.ensure_layout();
    if let Some(needs) = super::unconfigured::needs(&plugin, &home) {
        // Not startable as it is: its handler is probed bare, its examples cannot run.
        let probed = super::unconfigured::probe(&plugin, &home).await;
        let answered = probed
            .as_ref()
            .map(|a| format!("; {a}"))
            .unwrap_or_default();
        checks.push(check(
            "handler starts and answers initialize",
            probed.map(|_| ()),
        ));
        checks.push(check(
            "configured, so its examples can run",
            Err(format!("needs configuration: {needs}{answered}")),
        ));
        *needs_configuration = Some(needs);
        return checks;
    }
    let (host, _requests) =
        PluginHost::start(&home, std::slice::from_ref(&plugin), &Config::default()).await;
    let started = host.running().contains(&plugin.name);
    checks.push(check(
        "handler starts and answers initialize",
        if started {
            Ok(())
        } else {
            Err(format!(
                "state: {:?}",
                host.health().first().map(|h| h.category.clone())
            ))
        },
    ));
    if started {
        for tool in &plugin.manifest.provides.tools {
            for (i, example) in tool.examples.iter().enumerate() {
                let label = format!("{}: example {} answers", tool.name, i + 1);
                let result = call_example(&host, &plugin.name, &tool.name, example).await;
                checks.push(check(label, result));
            }
        }
        host.shutdown().await;
    }
    checks
}

fn first_example(plugin: &Discovered, tool: &str) -> Option<serde_json::Map<String, Value>> {
    let spec = plugin
        .manifest
        .provides
        .tools
        .iter()
        .find(|t| t.name == tool)?;
    spec.examples.first()?.as_object().cloned()
}

fn refuses(validator: &jsonschema::Validator, instance: &Value) -> Result<(), String> {
    if validator.is_valid(instance) {
        Err(format!("accepted {instance}"))
    } else {
        Ok(())
    }
}

async fn call_example(
    host: &PluginHost,
    plugin: &str,
    tool: &str,
    example: &Value,
) -> Result<(), String> {
    let envelope = json!({
        "id": "conformance", "version": 1, "type": "request",
        "topic": format!("tool.invoke.{tool}"), "source": "carapace plugin test",
        "correlation": "conformance", "timestamp": crate::time::now_rfc3339(), "group": "conformance",
        // As the core sends it: the session, and its origin (the owner at the CLI).
        "session": {"id": "conformance", "started_at": crate::time::now_rfc3339()},
        "origin": crate::session::Origin::prompt(),
        "payload": {"arguments": example},
    });
    let scope = CallScope {
        session: "conformance".into(),
        group: "conformance".into(),
    };
    host.call(plugin, tool, envelope, Duration::from_secs(30), scope)
        .await
        .map(|_| ())
        .map_err(|e| carapace_ipc::ErrorBody::from(e).to_string())
}

/// Writes a new plugin folder `parent/name` with a manifest, a skill and a Rust handler.
pub fn scaffold(parent: &Path, name: &str) -> Result<PathBuf, String> {
    if !super::valid_plugin_name(name) {
        return Err(format!("`{name}` must match [a-z][a-z0-9_-]{{0,63}}"));
    }
    let dir = parent.join(name);
    if let Some(refusal) = super::reserved::refusal(name, &dir) {
        return Err(refusal);
    }
    if dir.exists() {
        return Err(format!("{} already exists", dir.display()));
    }
    let tool = format!("{}_hello", name.replace('-', "_"));
    let crate_name = format!("carapace-plugin-{name}");
    let manifest = json!({
        "description": format!("The {name} plugin."),
        "version": "0.1.0",
        "app_compat": format!(">={}", env!("CARGO_PKG_VERSION")),
        "handler": crate_name,
        "provides": {"tools": [{
            "name": tool,
            "description": "Greet someone by name.",
            "risk_level": "low",
            "arguments_schema": {"type": "object", "additionalProperties": false, "required": ["name"],
                                  "properties": {"name": {"type": "string", "maxLength": 200}}},
            "examples": [{"name": "Ada"}]
        }]}
    });
    // An installed core has no checkout; the author points this at theirs.
    let sdk = crate::source_tree::root().map_or_else(
        || "/path/to/carapace/plugins/sdk".to_owned(),
        |root| root.join("plugins/sdk").display().to_string(),
    );
    let files = [
        ("manifest.json", serde_json::to_string_pretty(&manifest).unwrap_or_default() + "\n"),
        ("skills/hello.md", format!("---\ndescription: Greet someone with the {name} plugin\n---\n# Greeting\n\nRun `ipc {tool} '{{\"name\":\"Ada\"}}'`; the answer is `{{\"greeting\": ...}}`.\n")),
        ("Cargo.toml", format!("[package]\nname = \"{crate_name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n# The Carapace plugin SDK (path to your Carapace checkout's plugins/sdk).\ncarapace-plugin-sdk = {{ path = \"{sdk}\" }}\nserde = {{ version = \"1\", features = [\"derive\"] }}\nserde_json = \"1\"\n")),
        ("src/main.rs", format!("//! The {name} plugin's handler.\n\nuse carapace_plugin_sdk::{{run, CallContext, Plugin, ToolError}};\nuse serde::Deserialize;\nuse serde_json::{{json, Value}};\n\n#[derive(Deserialize)]\n#[serde(deny_unknown_fields)]\nstruct Hello {{\n    name: String,\n}}\n\nstruct Handler;\n\nimpl Plugin for Handler {{\n    fn call(&self, ctx: &CallContext, tool: &str, arguments: Value) -> Result<Value, ToolError> {{\n        match tool {{\n            \"{tool}\" => {{\n                let args: Hello = ctx.args(arguments)?;\n                Ok(json!({{ \"greeting\": format!(\"Hello, {{}}!\", args.name) }}))\n            }}\n            other => Err(ToolError::new(format!(\"unknown tool `{{other}}`\"))),\n        }}\n    }}\n}}\n\nfn main() -> std::process::ExitCode {{\n    run(Handler)\n}}\n")),
    ];
    for (path, text) in files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&target, text).map_err(|e| format!("{}: {e}", target.display()))?;
    }
    Ok(dir)
}

/// `dir` when it exists; else, when it is a plugin name, the bundled plugin of that
/// name (`carapace plugin test echo`); else `dir` as given (its error names it).
pub fn resolve(dir: &Path) -> PathBuf {
    if dir.exists() {
        return dir.to_owned();
    }
    let bundled = dir
        .to_str()
        .filter(|name| super::valid_plugin_name(name))
        .zip(super::discover::bundled_dir())
        .map(|(name, bundled)| bundled.join(name))
        .filter(|folder| folder.is_dir());
    bundled.unwrap_or_else(|| dir.to_owned())
}

/// All plugin folders under `dir` (for `plugin validate` on a directory of plugins).
pub fn folders(dir: &Path) -> Vec<PathBuf> {
    discover(&[dir.to_owned()])
        .map(|found| found.into_iter().map(|p| p.folder).collect())
        .unwrap_or_default()
}
