//! `carapace auth login --plugin P`: the person signs a plugin in to an OAuth2
//! provider on the host (DESIGN §6: the token never leaves the host). The
//! refresh token lands in the plugin's credentials (`oauth2_refresh_token`,
//! with `oauth2_client_id`), where the plugin reads it and refreshes its own
//! access tokens.
//!
//! Two flows: the authorization code with PKCE (S256) on a loopback redirect
//! (`http://127.0.0.1:<port>/callback`, one request accepted, `state`
//! checked), and the device flow for a machine without a browser. Endpoints,
//! scopes and the client id come from `[auth.<plugin>]` in `config.toml`, with
//! presets for Google and Microsoft. Must never print, log or put in argv a
//! token, and never follow a redirect from the provider's endpoints.

pub mod config;
pub mod flow;
mod http;
mod loopback;

pub use config::{LoginConfig, Preset, ResolvedLogin};
pub use flow::{LoginError, Tokens};
