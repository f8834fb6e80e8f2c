//! The model proxy: the only way an agent reaches its model, and the reason the
//! model's key never enters the container (DESIGN.md §4).
//!
//! The core serves HTTP/1.1 on `run/sessions/<id>/model.sock` (mode 0600);
//! inside the container `ipc relay` forwards loopback TCP to it. Each request
//! must be one of the configured provider's endpoints ([`routes`]); the
//! container's placeholder credential is dropped and the real one from the
//! host's store is injected ([`credentials`]); the answer is streamed back
//! frame by frame while its token usage is read ([`meter`]) into a
//! [`UsageLedger`], which also enforces the daily caps of groups and tasks
//! ([`budget`]) and keeps the day's counts in a file ([`journal`]).
//!
//! Must never log, or put in a response, the credential's value.
//!
//! ```no_run
//! # async fn demo(home: carapace::paths::Home) -> Result<(), carapace::model_proxy::ProxyError> {
//! use std::sync::Arc;
//! use carapace::model_proxy::*;
//! let proxy = ModelProxy::new(
//!     &ModelConfig::default(),
//!     Arc::new(StoreCredentials::new(home.clone())),
//!     Arc::new(DayLedger::in_memory()),
//! )?;
//! let session = SessionIdentity { session_id: "s1".into(), group: "main".into(), task: None };
//! let running = proxy.serve(&session_socket(&home, "s1"), session).await?;
//! // ... the session runs ...
//! running.shutdown().await;
//! # Ok(()) }
//! ```

pub mod budget;
pub mod config;
pub mod credentials;
pub mod error;
mod forward;
pub mod journal;
pub mod meter;
pub mod respond;
pub mod routes;
mod server;
pub mod usage;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub use budget::{Caps, Exhausted, Scope};
pub use config::{ModelConfig, Provider, UpstreamBase};
pub use credentials::{CredentialSource, StoreCredentials, UpstreamAuth};
pub use error::ProxyError;
pub use forward::redacted;
pub use journal::Journal;
pub use server::SessionProxy;
pub use usage::{DayLedger, Reservation, ScopeDay, SessionIdentity, TokenUsage, UsageLedger};

use crate::paths::Home;

/// The socket's file name in the session directory.
pub const MODEL_SOCKET_NAME: &str = "model.sock";

/// `run/sessions/<id>/model.sock`.
pub fn session_socket(home: &Home, session_id: &str) -> PathBuf {
    home.session_dir(session_id).join(MODEL_SOCKET_NAME)
}

type UpstreamClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// What every session's proxy shares: the upstream client (with its
/// connection pool), the credential source and the ledger.
pub(crate) struct Shared {
    provider: Provider,
    upstream: UpstreamBase,
    client: UpstreamClient,
    credentials: Arc<dyn CredentialSource>,
    ledger: Arc<dyn UsageLedger>,
    /// The `[model]` settings the caps are read from.
    config: ModelConfig,
    /// Where a cap reached for the first time is told (the core publishes it).
    alerts: Option<tokio::sync::mpsc::Sender<Exhausted>>,
    max_request_bytes: u64,
    timeout: Duration,
}

/// A configured proxy; [`ModelProxy::serve`] starts it for one session. Cheap to clone.
#[derive(Clone)]
pub struct ModelProxy {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ModelProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelProxy")
            .field("provider", &self.shared.provider)
            .field("upstream", &self.shared.upstream)
            .field("daily_token_budget", &self.shared.config.daily_token_budget)
            .finish_non_exhaustive()
    }
}

impl ModelProxy {
    /// Checks `config` and builds the upstream client (TLS with the system's roots).
    pub fn new(
        config: &ModelConfig,
        credentials: Arc<dyn CredentialSource>,
        ledger: Arc<dyn UsageLedger>,
    ) -> Result<ModelProxy, ProxyError> {
        let upstream = config.upstream_base()?;
        let client = upstream_client(&upstream, &config.upstream)?;
        Ok(ModelProxy {
            shared: Arc::new(Shared {
                provider: config.provider,
                upstream,
                client,
                credentials,
                ledger,
                config: config.clone(),
                alerts: None,
                max_request_bytes: config.max_request_bytes,
                timeout: config.upstream_timeout(),
            }),
        })
    }

    /// Tells `alerts` of each cap reached for the first time today (a full
    /// channel drops the alert: the refusal itself is never held back).
    pub fn with_alerts(mut self, alerts: tokio::sync::mpsc::Sender<Exhausted>) -> ModelProxy {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.alerts = Some(alerts);
        }
        self
    }

    /// Serves `session` on a new Unix socket at `socket_path` (mode 0600; a
    /// stale socket there is replaced) until [`SessionProxy::shutdown`].
    /// Must be called inside a Tokio runtime.
    pub async fn serve(
        &self,
        socket_path: &std::path::Path,
        session: SessionIdentity,
    ) -> Result<SessionProxy, ProxyError> {
        server::start(Arc::clone(&self.shared), socket_path, session)
    }
}

fn upstream_client(base: &UpstreamBase, shown: &str) -> Result<UpstreamClient, ProxyError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = if base.scheme == hyper::http::uri::Scheme::HTTPS {
        builder
            .with_provider_and_native_roots(provider)
            .map_err(|source| ProxyError::RootCertificates {
                upstream: shown.to_owned(),
                source,
            })?
    } else {
        // Plain http to loopback: TLS is never used, so no roots are needed.
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ProxyError::Config(format!("TLS setup failed: {e}")))?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        builder.with_tls_config(tls)
    };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    // Headers and body go out in separate writes: without this, Nagle and a
    // delayed ACK add ~40 ms to every request.
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    let connector = builder.https_or_http().enable_http1().wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector))
}
