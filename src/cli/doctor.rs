//! `carapace doctor`: checks the home, the config and the host; each problem comes with its fix.

use std::os::unix::fs::MetadataExt;
use std::process::ExitCode;

use serde::Serialize;
use serde_json::json;

use crate::config::Config;
use crate::paths::{Home, MAX_SOCKET_PATH};

/// One check's verdict.
#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    status: &'static str,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

fn ok(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        status: "ok",
        detail: detail.into(),
        fix: None,
    }
}

fn problem(
    name: &'static str,
    status: &'static str,
    detail: impl Into<String>,
    fix: impl Into<String>,
) -> Check {
    Check {
        name,
        status,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

/// Runs every check; exits 1 if any failed.
pub fn run(home: &Home, json: bool) -> anyhow::Result<ExitCode> {
    let checks = vec![
        check_private(home.root(), "home"),
        check_private(&home.root().join("keys"), "keys dir"),
        check_key(home),
        check_config(home),
        check_plugins(home),
        check_test_hooks(home),
        check_socket_length(home),
        check_runtime(home),
        check_agent_image(home),
        check_model_key(home),
        check_sign_ins(home),
        check_confinement(),
        check_core(home),
        check_memory_brief(home),
        check_audit_log(home),
    ];
    let failed = checks.iter().any(|c| c.status == "fail");
    if json {
        super::print_json(&json!({"ok": !failed, "checks": checks}));
    } else {
        for c in &checks {
            println!("[{:<4}] {:<12} {}", c.status, c.name, c.detail);
            if let Some(fix) = &c.fix {
                println!("       fix: {fix}");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn check_private(dir: &std::path::Path, name: &'static str) -> Check {
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Err(_) => problem(
            name,
            "warn",
            format!("{shown} does not exist yet"),
            "`carapace start` creates it",
        ),
        Ok(meta) if meta.uid() != nix::unistd::geteuid().as_raw() => problem(
            name,
            "fail",
            format!("{shown} belongs to uid {}", meta.uid()),
            format!("chown -R {} {shown}", nix::unistd::geteuid()),
        ),
        Ok(meta) if meta.mode() & 0o077 != 0 => problem(
            name,
            "fail",
            format!(
                "{shown} has mode {:o}; others can look inside",
                meta.mode() & 0o777
            ),
            format!("chmod 700 {shown}"),
        ),
        Ok(_) => ok(name, format!("{shown} is private")),
    }
}

fn check_key(home: &Home) -> Check {
    let key = home.audit_key();
    let shown = key.display();
    match std::fs::metadata(&key) {
        Err(_) => ok("audit key", format!("{shown} will be made at first start")),
        Ok(meta) if meta.mode() & 0o077 != 0 => problem(
            "audit key",
            "fail",
            format!("{shown} has mode {:o}", meta.mode() & 0o777),
            format!("chmod 600 {shown}"),
        ),
        Ok(_) => ok("audit key", format!("{shown} is 0600")),
    }
}

fn check_config(home: &Home) -> Check {
    let path = home.config_file();
    match Config::load(&path) {
        Ok(config) if config.groups.is_empty() => problem(
            "config",
            "warn",
            format!(
                "{} is valid but defines no group, so no session can open",
                path.display()
            ),
            "carapace config set groups.main.tools '[\"*\"]'",
        ),
        Ok(config) => ok(
            "config",
            format!(
                "{} is valid ({} groups)",
                path.display(),
                config.groups.len()
            ),
        ),
        Err(e) => problem(
            "config",
            "fail",
            e.to_string(),
            format!("edit {} or run `carapace config show`", path.display()),
        ),
    }
}

/// Reads every plugin folder as the core would: a plugin it refuses (its name, its
/// manifest, a skill) is a failure naming the plugin and why.
fn check_plugins(home: &Home) -> Check {
    let configured = Config::load(&home.config_file())
        .map(|c| c.plugins.dirs)
        .unwrap_or_default();
    let dirs = crate::plugins::search_dirs(home, &configured);
    match crate::plugins::discover(&dirs) {
        Err(e) => problem(
            "plugins",
            "fail",
            e.to_string(),
            "fix or remove that plugin folder",
        ),
        Ok(found) => {
            let refused: Vec<String> = found
                .iter()
                .filter_map(|p| Some(format!("plugin {}: {}", p.name, p.refused.as_ref()?)))
                .collect();
            if refused.is_empty() {
                ok(
                    "plugins",
                    format!("{} plugin folders readable", found.len()),
                )
            } else {
                problem(
                    "plugins",
                    "fail",
                    refused.join("; "),
                    "fix each plugin folder named (a link: replace it with the file itself), or remove it",
                )
            }
        }
    }
}

/// Warns about each plugin test hook `config.toml` turns on (`config::test_hooks`).
fn check_test_hooks(home: &Home) -> Check {
    let hooks = Config::load(&home.config_file())
        .map(|config| crate::config::test_hooks::test_hooks(&config))
        .unwrap_or_default();
    if hooks.is_empty() {
        return ok("test hooks", "no plugin test hook is set");
    }
    problem(
        "test hooks",
        "warn",
        format!(
            "test hooks are on: {} (for test suites only: a plugin reads its time from a file or waits on purpose)",
            hooks.join(", ")
        ),
        "remove these keys from [plugins.<name>.config] in config.toml",
    )
}

fn check_socket_length(home: &Home) -> Check {
    let longest = home.session_socket("0123456789abcdef");
    let len = longest.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        problem(
            "socket path",
            "fail",
            format!("session sockets would be {len} bytes long; the limit is {MAX_SOCKET_PATH}"),
            "set CARAPACE_HOME to a shorter directory",
        )
    } else {
        ok("socket path", format!("{len} of {MAX_SOCKET_PATH} bytes"))
    }
}

/// Runs a check's engine conversation on a runtime of its own; a runtime that cannot
/// start is the check's failure.
fn block_on<T>(check: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(check))
}

fn check_runtime(home: &Home) -> Check {
    let config = Config::load(&home.config_file())
        .unwrap_or_default()
        .runtime;
    let answered = block_on(async {
        let runtime = crate::runtime::select(&config)
            .await
            .map_err(|e| e.to_string())?;
        crate::runtime::probe(runtime.as_ref())
            .await
            .map(|()| runtime.engine())
            .map_err(|e| e.to_string())
    });
    match answered {
        Ok(engine) if !engine.hardens_bind_mounts() => problem(
            "runtime",
            "warn",
            format!(
                "{engine:?} answers; it cannot mount the workspace and agent state noexec, \
                 so a file the agent writes there can be run inside its container \
                 (docs/security.md, finding 10)"
            ),
            "prefer podman (carapace config set runtime.engine podman)",
        ),
        Ok(engine) => ok("runtime", format!("{engine:?} answers")),
        Err(why) => problem(
            "runtime",
            "warn",
            format!("{why}; sessions can only be opened by hand"),
            "apt-get install podman runc (or set runtime.engine)",
        ),
    }
}

/// The agent image: pinned and present (verified as before a run), or a test rootfs.
fn check_agent_image(home: &Home) -> Check {
    let runtime = Config::load(&home.config_file())
        .unwrap_or_default()
        .runtime;
    if let Some(dir) = &runtime.rootfs {
        return match dir.is_dir() {
            true => ok("agent image", format!("root filesystem {}", dir.display())),
            false => problem(
                "agent image",
                "fail",
                format!("runtime.rootfs {} is not a directory", dir.display()),
                "carapace config set runtime.rootfs <dir>, or carapace image build",
            ),
        };
    }
    let Some(image) = &runtime.image else {
        return problem(
            "agent image",
            "warn",
            "no agent image: agent sessions cannot start",
            "carapace image build (records runtime.image by digest)",
        );
    };
    let verified = block_on(async {
        let pinned = crate::runtime::ImageRef::parse(image).map_err(|e| e.to_string())?;
        let engine = crate::runtime::select(&runtime)
            .await
            .map_err(|e| e.to_string())?;
        engine
            .verify_image(&pinned, &runtime.image_layers)
            .await
            .map_err(|e| e.to_string())
    });
    match verified {
        Ok(found) => ok("agent image", format!("sha256:{} verified", found.id)),
        Err(why) => problem(
            "agent image",
            "fail",
            format!("runtime.image {image}: {why}"),
            "carapace image build, or load the pinned image into the engine",
        ),
    }
}

/// Whether a model credential is stored (never its value).
fn check_model_key(home: &Home) -> Check {
    use crate::model_proxy::{CredentialSource, StoreCredentials};
    match StoreCredentials::new(home.clone()).model_credential() {
        Ok(auth) => ok("model key", format!("stored ({:?})", auth.kind())),
        Err(e) => problem(
            "model key",
            "warn",
            e.to_string(),
            "carapace auth set --plugin model anthropic_api_key",
        ),
    }
}

/// Every `[auth.<plugin>]`: its settings resolve and a refresh token is stored.
fn check_sign_ins(home: &Home) -> Check {
    let Ok(config) = Config::load(&home.config_file()) else {
        return ok("sign-ins", "(config unreadable: see config)");
    };
    if config.auth.is_empty() {
        return ok("sign-ins", "no OAuth2 sign-ins configured");
    }
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    for (plugin, settings) in &config.auth {
        let shown = crate::display::escape_str(plugin);
        if let Err(e) = settings.resolve(plugin) {
            problems.push(format!("{shown}: {e}"));
            fixes.push(format!("fix [auth.{shown}] in config.toml"));
            continue;
        }
        let token = crate::credentials::plugin_store_dir(home, plugin)
            .join(super::auth_login::REFRESH_TOKEN);
        if !token.is_file() {
            problems.push(format!("{shown}: not signed in (no refresh token stored)"));
            fixes.push(format!("carapace auth login --plugin {shown}"));
        }
    }
    if problems.is_empty() {
        ok("sign-ins", format!("{} signed in", config.auth.len()))
    } else {
        problem(
            "sign-ins",
            "warn",
            problems.join("; "),
            format!(
                "{} (also after the provider revoked access: the plugin then answers AUTH_ERROR)",
                fixes.join("; ")
            ),
        )
    }
}

fn check_confinement() -> Check {
    let exe = std::env::current_exe().unwrap_or_else(|_| "carapace".into());
    let isolation = crate::plugins::confine::Isolation::probe(&exe);
    let gaps = isolation.gaps();
    if !isolation.landlock.is_confined() {
        return problem(
            "confinement",
            "fail",
            format!(
                "Landlock is unavailable: plugins' file access is UNCONFINED (each can read \
                 what its uid can; a non-root core's plugins share one uid); {isolation}"
            ),
            "boot a kernel with CONFIG_SECURITY_LANDLOCK=y and landlock in the lsm= list",
        );
    }
    if let crate::plugins::confine::SocketHiding::Visible(reason) = &isolation.sockets {
        return problem(
            "confinement",
            "fail",
            format!("{isolation}: plugins can reach the core's sockets ({reason})"),
            "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) or run the core as root",
        );
    }
    if gaps.is_empty() {
        ok("confinement", isolation.to_string())
    } else {
        problem(
            "confinement",
            "warn",
            format!("{isolation}; missing: {}", gaps.join("; ")),
            "a newer kernel closes the Landlock gaps (ABI 9 for unix sockets); a seccomp or \
             capability gap needs a kernel with CONFIG_SECCOMP_FILTER and a core that may drop them",
        )
    }
}

/// Free space below which the audit log's file system is worth a warning.
const AUDIT_FREE_MIN: u64 = 64 << 20;

fn check_audit_log(home: &Home) -> Check {
    let dir = home.audit_dir();
    // The field types differ between platforms (u32 on macOS, u64 on Linux).
    #[allow(clippy::useless_conversion)]
    let free = nix::sys::statvfs::statvfs(&dir)
        .ok()
        .map(|s| u64::from(s.blocks_available()).saturating_mul(u64::from(s.fragment_size())));
    let reported = super::ask(home, &crate::control::ControlRequest::Status)
        .ok()
        .and_then(|status| status.get("audit").cloned());
    let line = reported
        .as_ref()
        .map_or_else(|| "ok".to_owned(), super::status::audit_line);
    if line == "ok" {
        return match free {
            Some(free) if free < AUDIT_FREE_MIN => problem(
                "audit log",
                "warn",
                format!(
                    "{} MiB free where it is written; when that is gone, every tool call is refused",
                    free >> 20
                ),
                format!("free space on the file system of {}", dir.display()),
            ),
            _ if reported.is_some() => ok("audit log", "writable"),
            _ => ok("audit log", "checked by the core when it runs"),
        };
    }
    problem(
        "audit log",
        "fail",
        line,
        format!(
            "free space on the file system of {} (or fix its permissions); calls resume on their own",
            home.audit_dir().display()
        ),
    )
}

fn check_core(home: &Home) -> Check {
    match super::ask(home, &crate::control::ControlRequest::Status) {
        Ok(status) => check_running_plugins(&status),
        Err(_) => problem("core", "warn", "not running", "carapace start"),
    }
}

/// Which plugin briefs new sessions, when the running core found it could not tell.
fn check_memory_brief(home: &Home) -> Check {
    let Ok(status) = super::ask(home, &crate::control::ControlRequest::Status) else {
        return ok("memory brief", "core not running");
    };
    let text = |k: &str| {
        status
            .pointer(&format!("/memory_brief/{k}"))
            .and_then(|v| v.as_str())
            .map(crate::display::escape_str)
    };
    match (text("plugin"), text("problem")) {
        (_, Some(why)) => problem(
            "memory brief",
            "warn",
            why,
            "set `memory_brief = \"<plugin>\"` under `[agent]` in config.toml, then `carapace reload`",
        ),
        (Some(plugin), None) => ok("memory brief", format!("from plugin {plugin}")),
        (None, None) => ok("memory brief", "no plugin provides one"),
    }
}

/// The running core's plugins: each that failed to start, with its category and
/// what it said (e.g. the memory database it refused, by file).
fn check_running_plugins(status: &serde_json::Value) -> Check {
    let plugins = status
        .get("plugins")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    let failed: Vec<String> = plugins
        .iter()
        .filter(|p| p.get("state").and_then(|s| s.as_str()) == Some("failed"))
        .map(|p| {
            let field = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("");
            let detail = match field("problem") {
                "" => String::new(),
                problem => format!(": {}", crate::display::escape_str(problem)),
            };
            format!(
                "plugin {} failed ({}){detail}",
                crate::display::escape_str(field("name")),
                crate::display::escape_str(field("category"))
            )
        })
        .collect();
    let unset: Vec<String> = plugins
        .iter()
        .filter(|p| p.get("state").and_then(|s| s.as_str()) == Some("not_configured"))
        .filter_map(|p| p.get("name").and_then(|v| v.as_str()))
        .map(crate::display::escape_str)
        .collect();
    let unset = match unset.len() {
        0 => String::new(),
        _ => format!(
            " ({} not configured: `carapace status` says what each needs)",
            unset.join(", ")
        ),
    };
    if failed.is_empty() {
        ok(
            "core",
            format!("running, {} plugins, none failed{unset}", plugins.len()),
        )
    } else {
        problem(
            "core",
            "fail",
            format!("running; {}", failed.join("; ")),
            "fix what each failed plugin names (a file it refused is left untouched: restore it \
             from a backup or move it aside), then `carapace reload`",
        )
    }
}
