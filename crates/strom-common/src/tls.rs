//! TLS settings of a process, read from Flink's `security.ssl.*` keys, as rustls configurations
//! (the `ring` provider): [`internal`] for the connections between the cluster's processes
//! (mutual TLS), [`rest_server`] and [`RestClientFiles`] for the REST endpoint.
//!
//! Keystores and truststores are PEM files here (Flink reads JKS/PKCS12): a keystore holds the
//! certificate chain and the unencrypted private key, a truststore the certificates peers must
//! chain to.

use crate::config::options::{self as o, ConfigOption, Optional, Text};
use crate::Configuration;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig};
use std::sync::Arc;

pub use rustls;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{enabled} is true but {missing} is not set")]
    Missing {
        enabled: &'static str,
        missing: &'static str,
    },
    #[error("cannot read {key} '{path}': {message}")]
    File {
        key: &'static str,
        path: String,
        message: String,
    },
    #[error("{key} '{path}' holds no {what} (a PEM file is expected)")]
    Empty {
        key: &'static str,
        path: String,
        what: &'static str,
    },
    #[error("bad TLS setup: {0}")]
    Rustls(String),
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    #[error("'{0}' is not HOST:PORT, so it names no TLS server")]
    ServerName(String),
}

fn rustls_err(e: impl std::fmt::Display) -> TlsError {
    TlsError::Rustls(e.to_string())
}

/// The crypto provider every configuration uses (ring). rustls deprecates ring's provider for
/// lacking post-quantum key exchange; its alternative, aws-lc-rs, needs cmake and a long C
/// build on every machine that builds Strom, so ring stays until rustls' own provider is ready.
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A keystore: the certificate chain and its private key.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

fn path_of(
    config: &Configuration,
    enabled: &ConfigOption<o::Boolean>,
    option: &ConfigOption<Optional<Text>>,
) -> Result<String, TlsError> {
    option.get(config)?.ok_or(TlsError::Missing {
        enabled: enabled.key,
        missing: option.key,
    })
}

fn file_err(key: &'static str, path: &str, e: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        key,
        path: path.to_string(),
        message: e.to_string(),
    }
}

/// Reads a keystore (PEM: certificates, then or before the private key).
pub fn read_identity(key: &'static str, path: &str) -> Result<Identity, TlsError> {
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(key, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(key, path, e))?;
    if chain.is_empty() {
        return Err(TlsError::Empty {
            key,
            path: path.into(),
            what: "certificate",
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::Empty {
            key,
            path: path.into(),
            what: "unencrypted private key",
        },
        e => file_err(key, path, e),
    })?;
    Ok(Identity {
        chain,
        key: key_der,
    })
}

/// Reads a truststore (PEM certificates).
pub fn read_roots(key: &'static str, path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(key, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(key, path, e))?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            key,
            path: path.into(),
            what: "certificate",
        });
    }
    Ok(certs)
}

fn root_store(certs: &[CertificateDer<'static>]) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots.add(c.clone()).map_err(rustls_err)?;
    }
    Ok(Arc::new(roots))
}

/// Both ends of this process's TLS connections of one kind.
pub struct Tls {
    pub server: Arc<ServerConfig>,
    pub client: Arc<ClientConfig>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

/// The internal TLS of this process (`security.ssl.internal.enabled`), None when off: servers
/// require a client certificate the truststore trusts, and clients present theirs.
pub fn internal(config: &Configuration) -> Result<Option<Arc<Tls>>, TlsError> {
    if !o::SSL_INTERNAL_ENABLED.get(config)? {
        return Ok(None);
    }
    let enabled = &o::SSL_INTERNAL_ENABLED;
    let keystore = path_of(config, enabled, &o::SSL_INTERNAL_KEYSTORE)?;
    let truststore = path_of(config, enabled, &o::SSL_INTERNAL_TRUSTSTORE)?;
    let identity = read_identity(o::SSL_INTERNAL_KEYSTORE.key, &keystore)?;
    let roots = read_roots(o::SSL_INTERNAL_TRUSTSTORE.key, &truststore)?;
    let verify_hostname = o::SSL_VERIFY_HOSTNAME.get(config)?;
    let server = server_config(&identity, Some(&roots))?;
    let client = client_config(Some(&identity), &roots, verify_hostname)?;
    Ok(Some(Arc::new(Tls { server, client })))
}

/// The REST endpoint's server configuration (`security.ssl.rest.enabled`), None when off.
pub fn rest_server(config: &Configuration) -> Result<Option<Arc<ServerConfig>>, TlsError> {
    if !o::SSL_REST_ENABLED.get(config)? {
        return Ok(None);
    }
    let enabled = &o::SSL_REST_ENABLED;
    let keystore = path_of(config, enabled, &o::SSL_REST_KEYSTORE)?;
    let identity = read_identity(o::SSL_REST_KEYSTORE.key, &keystore)?;
    let roots = if o::SSL_REST_AUTHENTICATION.get(config)? {
        let truststore = path_of(config, enabled, &o::SSL_REST_TRUSTSTORE)?;
        Some(read_roots(o::SSL_REST_TRUSTSTORE.key, &truststore)?)
    } else {
        None
    };
    Ok(Some(server_config(&identity, roots.as_deref())?))
}

/// What a REST client needs (`security.ssl.rest.enabled`), None when off: the truststore, and
/// its own keystore when the endpoint authenticates clients.
pub struct RestClientFiles {
    pub roots: Vec<CertificateDer<'static>>,
    pub identity: Option<Identity>,
}

impl RestClientFiles {
    pub fn read(config: &Configuration) -> Result<Option<Self>, TlsError> {
        if !o::SSL_REST_ENABLED.get(config)? {
            return Ok(None);
        }
        let enabled = &o::SSL_REST_ENABLED;
        let truststore = path_of(config, enabled, &o::SSL_REST_TRUSTSTORE)?;
        let roots = read_roots(o::SSL_REST_TRUSTSTORE.key, &truststore)?;
        let identity = if o::SSL_REST_AUTHENTICATION.get(config)? {
            let keystore = path_of(config, enabled, &o::SSL_REST_KEYSTORE)?;
            Some(read_identity(o::SSL_REST_KEYSTORE.key, &keystore)?)
        } else {
            None
        };
        Ok(Some(Self { roots, identity }))
    }
}

fn server_config(
    identity: &Identity,
    client_roots: Option<&[CertificateDer<'static>]>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(rustls_err)?;
    let builder = match client_roots {
        Some(roots) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(root_store(roots)?, provider())
                .build()
                .map_err(rustls_err)?,
        ),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(rustls_err)?;
    // gRPC speaks HTTP/2; the data plane and REST take what the client offers
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn client_config(
    identity: Option<&Identity>,
    roots: &[CertificateDer<'static>],
    verify_hostname: bool,
) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = root_store(roots)?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(rustls_err)?;
    let builder = if verify_hostname {
        builder.with_root_certificates(roots)
    } else {
        let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider())
            .build()
            .map_err(rustls_err)?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyHostname(inner)))
    };
    let config = match identity {
        Some(id) => builder
            .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
            .map_err(rustls_err)?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The name a client checks the server's certificate against: the host of `addr` (HOST:PORT,
/// `[IPv6]:PORT`, or a URL's authority).
pub fn server_name(addr: &str) -> Result<ServerName<'static>, TlsError> {
    let authority = addr
        .split_once("://")
        .map_or(addr, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    };
    ServerName::try_from(host.to_string()).map_err(|_| TlsError::ServerName(addr.to_string()))
}

/// `security.ssl.verify-hostname: false`: the chain is checked against the truststore, the
/// name is not (a cluster sharing one certificate across hosts).
#[derive(Debug)]
struct AnyHostname(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostname {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
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
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_host() {
        let n = |a: &str| server_name(a).map(|n| n.to_str().into_owned());
        assert_eq!(n("10.0.0.1:6123").unwrap(), "10.0.0.1");
        assert_eq!(n("tm-1.example:6121").unwrap(), "tm-1.example");
        assert_eq!(n("https://jm:8081/jobs").unwrap(), "jm");
        assert_eq!(n("[::1]:80").unwrap(), "::1");
        assert!(n(":80").is_err());
    }

    #[test]
    fn enabled_without_files_names_the_missing_key() {
        let mut c = Configuration::default();
        c.set("security.ssl.internal.enabled", "true");
        let e = internal(&c).unwrap_err().to_string();
        assert!(e.contains("security.ssl.internal.keystore"), "{e}");
        c.set("security.ssl.internal.keystore", "/nonexistent/k.pem");
        c.set("security.ssl.internal.truststore", "/nonexistent/t.pem");
        let e = internal(&c).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/k.pem"), "{e}");
        assert!(internal(&Configuration::default()).unwrap().is_none());
    }
}
