//! Why a model proxy could not be set up or started (also a bad `[model]` setting).

/// Why a proxy could not be set up or started.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A bad `[model]` setting.
    #[error("{0}")]
    Config(String),
    /// The system's root certificates could not be loaded.
    #[error("cannot load the system's root certificates for {upstream}: {source}")]
    RootCertificates {
        /// The upstream they were for.
        upstream: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The socket could not be created.
    #[error("{path}: {source}")]
    Socket {
        /// The socket path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}
