//! rustls client settings for each `sslmode` (aws-lc-rs, the provider reqwest already
//! uses; no process-wide default is installed or needed):
//! - `require`: TLS with the certificate unchecked (handshake signatures still are), as
//!   libpq; with `sslrootcert` it becomes `verify-ca`, as libpq.
//! - `verify-ca`: the chain checked against `sslrootcert`, any host name.
//! - `verify-full`: the chain and the host name checked.
//!
//! Reads the `sslrootcert` file (bounded), nothing else.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::url::{RootCert, SslMode};

/// Why TLS could not be set up, and what to do.
#[derive(Debug)]
pub(super) struct TlsSetupError {
    pub why: String,
    pub help: String,
}

/// The client configuration for `mode` (not for `Disable`, which uses no TLS).
pub(super) fn client_config(mode: SslMode, root: Option<&RootCert>) -> Result<ClientConfig, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder =
        ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().map_err(
            |e| TlsSetupError { why: e.to_string(), help: "this is a bug in tokenform's TLS set-up".into() },
        )?;
    let mode = if mode == SslMode::Require && root.is_some() { SslMode::VerifyCa } else { mode };
    let config = match mode {
        SslMode::Disable | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate { provider }))
            .with_no_client_auth(),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let root = root.ok_or_else(|| TlsSetupError {
                why: "verify-ca and verify-full need the certificate authority to trust".into(),
                help: "add sslrootcert=/path/to/ca.pem to the connection string (or sslrootcert=system \
                       for the operating system's trust store)"
                    .into(),
            })?;
            let roots = Arc::new(load_roots(root)?);
            let webpki =
                WebPkiServerVerifier::builder_with_provider(roots, provider).build().map_err(|e| {
                    TlsSetupError { why: e.to_string(), help: "check the sslrootcert file".into() }
                })?;
            if mode == SslMode::VerifyFull {
                builder.with_webpki_verifier(webpki).with_no_client_auth()
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyName { webpki }))
                    .with_no_client_auth()
            }
        }
    };
    Ok(config)
}

fn load_roots(root: &RootCert) -> Result<RootCertStore, TlsSetupError> {
    let mut store = RootCertStore::empty();
    match root {
        RootCert::System => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
        }
        RootCert::File(path) => {
            let unreadable = |why: String| TlsSetupError {
                why: format!("cannot read sslrootcert {path}: {why}"),
                help: "sslrootcert names a PEM file of CA certificates, relative to the working directory"
                    .into(),
            };
            let bytes = crate::files::read(Path::new(path), crate::files::Kind::Certificates)
                .map_err(|e| unreadable(e.to_string()))?;
            for cert in CertificateDer::pem_slice_iter(&bytes) {
                let cert = cert.map_err(|e| unreadable(format!("not a PEM certificate file ({e})")))?;
                store.add(cert).map_err(|e| unreadable(format!("a certificate is not usable ({e})")))?;
            }
        }
    }
    if store.is_empty() {
        return Err(TlsSetupError {
            why: "no CA certificate was found to trust".into(),
            help: "sslrootcert must hold at least one -----BEGIN CERTIFICATE----- block".into(),
        });
    }
    Ok(store)
}

/// `require`: any certificate, but the handshake must be signed by its key.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the full webpki check, except that the name may be anything.
#[derive(Debug)]
struct AnyName {
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
