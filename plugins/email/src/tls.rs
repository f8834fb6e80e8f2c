//! TLS client settings for one server: the built-in web roots, or the CAs of
//! `ca_file` alone; certificate checks are skipped only with `insecure`, which
//! the config accepts for a loopback host only.
//!
//! Must never: fall back to no verification when `ca_file` cannot be read.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::Server;
use crate::error::EmailError;

/// The rustls settings for `server`.
pub fn client_config(server: &Server) -> Result<Arc<ClientConfig>, EmailError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| EmailError::Setup(format!("TLS versions: {e}")))?;
    let config = if server.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoCheck(provider)))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(roots(server)?)
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// The trusted roots: `ca_file`'s certificates, else the compiled-in web roots.
fn roots(server: &Server) -> Result<RootCertStore, EmailError> {
    let mut store = RootCertStore::empty();
    let Some(path) = &server.ca_file else {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(store);
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| EmailError::Setup(format!("ca_file {}: {e}", path.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| EmailError::Setup(format!("ca_file {}: {e}", path.display())))?;
    let (added, _) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(EmailError::Setup(format!(
            "ca_file {} holds no usable certificate",
            path.display()
        )));
    }
    Ok(store)
}

/// The name the certificate must carry.
pub fn server_name(host: &str) -> Result<ServerName<'static>, EmailError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_owned())
        .map_err(|_| EmailError::Setup(format!("`{host}` is not a host name")))
}

/// `insecure`: accepts any certificate (loopback hosts only, see config).
#[derive(Debug)]
struct NoCheck(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoCheck {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
