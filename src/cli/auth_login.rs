//! `carapace auth login --plugin P [--device]`: the OAuth2 sign-in of a plugin
//! (`oauth_login`), its refresh token and client id stored in the plugin's
//! credentials. Prints where to go and the outcome, never a token.

use std::process::ExitCode;
use std::time::Duration;

use crate::config::Config;
use crate::credentials;
use crate::oauth_login::flow::{code_flow, device_flow};
use crate::paths::Home;

/// The credential the refresh token is stored as.
pub const REFRESH_TOKEN: &str = "oauth2_refresh_token";
/// The credential the client id is stored as (the plugin reads both).
pub const CLIENT_ID: &str = "oauth2_client_id";
/// The credential a client secret is read from, if the provider needs one.
pub const CLIENT_SECRET: &str = "oauth2_client_secret";

/// Runs the sign-in for `plugin`.
pub fn run(home: &Home, plugin: &str, device: bool, timeout: u64) -> anyhow::Result<ExitCode> {
    crate::credentials::check_store(home)?;
    let config = Config::load(&home.config_file())?;
    let Some(settings) = config.auth.get(plugin) else {
        anyhow::bail!(
            "no [auth.{plugin}] in {}: add preset = \"google\" or \"microsoft\" (or the endpoints) and client_id",
            home.config_file().display()
        );
    };
    let login = settings.resolve(plugin).map_err(anyhow::Error::msg)?;
    let secret_path = credentials::plugin_store_dir(home, plugin).join(CLIENT_SECRET);
    let client_secret =
        match credentials::read_no_follow(&secret_path) {
            Ok(bytes) => Some(String::from_utf8(bytes).map_err(|_| {
                anyhow::anyhow!("the credential {plugin}/{CLIENT_SECRET} is not text")
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => anyhow::bail!("cannot read the credential {plugin}/{CLIENT_SECRET}: {e}"),
        };
    let timeout = Duration::from_secs(timeout.max(1));
    let tokens = if device {
        device_flow(&login, client_secret, timeout, |uri, code| {
            println!("On any device, open {uri} and enter the code {code}");
            println!("Waiting for the sign-in (up to {} s)...", timeout.as_secs());
        })?
    } else {
        code_flow(&login, client_secret, timeout, |url| {
            println!("Open this address in a browser on this machine and sign in:\n\n{url}\n");
            println!(
                "Waiting for the browser to come back to 127.0.0.1 (up to {} s)...",
                timeout.as_secs()
            );
        })?
    };
    credentials::set(home, plugin, CLIENT_ID, login.client_id.as_bytes())?;
    let stored = credentials::set(home, plugin, REFRESH_TOKEN, tokens.refresh_token.as_bytes())?;
    drop(tokens);
    println!(
        "signed in: the refresh token is stored as {plugin}/{REFRESH_TOKEN} ({}); restart the plugin (`carapace reload --plugin {plugin}`) to use it",
        stored.display()
    );
    super::auth::tell_running_core(home);
    Ok(ExitCode::SUCCESS)
}
