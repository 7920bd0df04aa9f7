//! mTLS with SPIFFE identities, as ztunnel does it: both sides present the certificate of
//! their workload, chains must end at the mesh's root, and the identity is the certificate's
//! URI SAN (never a DNS name). A client names the identity it expects of the server and the
//! handshake fails when the server presents another; a server learns the client's identity
//! from its certificate (what L4 AuthorizationPolicy is evaluated against).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};
use x509_parser::extensions::GeneralName;

use crate::spiffe::SpiffeId;

/// HBONE is HTTP/2 only.
const ALPN_H2: &[u8] = b"h2";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("the mesh root: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// The mesh's trust anchor, loaded once per node.
#[derive(Clone)]
pub struct Trust {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

fn pem_error(path: &Path) -> impl Fn(rustls::pki_types::pem::Error) -> TlsError + '_ {
    move |e| TlsError::Pem {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem_error(path))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error(path))?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_path_buf(),
            message: "no certificate".into(),
        });
    }
    Ok(certs)
}

impl Trust {
    pub fn load(root: &Path) -> Result<Trust, TlsError> {
        let mut store = RootCertStore::empty();
        for cert in certs(root)? {
            store.add(cert)?;
        }
        Ok(Trust {
            roots: Arc::new(store),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        })
    }
}

/// A workload's certificate and key.
#[derive(Clone)]
pub struct Credentials {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl Credentials {
    pub fn load(chain: &Path, key: &Path) -> Result<Credentials, TlsError> {
        Ok(Credentials {
            chain: certs(chain)?,
            key: Arc::new(PrivateKeyDer::from_pem_file(key).map_err(pem_error(key))?),
        })
    }
}

/// The server side of a workload's HBONE listener: its certificate, a client certificate
/// from the mesh required.
pub fn server_config(trust: &Trust, own: &Credentials) -> Result<Arc<ServerConfig>, TlsError> {
    let verifier =
        WebPkiClientVerifier::builder_with_provider(trust.roots.clone(), trust.provider.clone())
            .build()?;
    let mut config = ServerConfig::builder_with_provider(trust.provider.clone())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(own.chain.clone(), own.key.clone_key())?;
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

/// The client side of one HBONE connection: the workload's certificate, and the server must
/// be `expected`.
pub fn client_config(
    trust: &Trust,
    own: &Credentials,
    expected: &SpiffeId,
) -> Result<Arc<ClientConfig>, TlsError> {
    let inner =
        WebPkiServerVerifier::builder_with_provider(trust.roots.clone(), trust.provider.clone())
            .build()?;
    let verifier = Arc::new(SpiffeVerifier {
        inner,
        expected: expected.clone(),
    });
    let mut config = ClientConfig::builder_with_provider(trust.provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(own.chain.clone(), own.key.clone_key())?;
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

/// The name given to rustls: certificates carry no DNS name, the check is the SPIFFE ID.
pub fn server_name(addr: std::net::SocketAddr) -> ServerName<'static> {
    ServerName::IpAddress(addr.ip().into())
}

/// The SPIFFE ID in a certificate's URI SANs.
pub fn spiffe_id(cert: &CertificateDer<'_>) -> Result<SpiffeId, String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert)
        .map_err(|e| format!("unreadable certificate: {e}"))?;
    let san = parsed
        .subject_alternative_name()
        .map_err(|e| format!("unreadable SAN: {e}"))?
        .ok_or("the certificate has no subject alternative name")?;
    let uris: Vec<&str> = san
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::URI(u) => Some(*u),
            _ => None,
        })
        .collect();
    uris.iter()
        .find_map(|u| SpiffeId::parse(u).ok())
        .ok_or_else(|| format!("no SPIFFE ID among the URI SANs {uris:?}"))
}

/// The identity of the peer of an established connection.
pub fn peer_identity(conn: &rustls::CommonState) -> Result<SpiffeId, String> {
    let cert = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("the peer presented no certificate")?;
    spiffe_id(cert)
}

/// The chain as WebPKI checks it, the name as SPIFFE does: the server's URI SAN must be
/// the expected ID (a DNS-name mismatch is expected and ignored, nothing else is).
#[derive(Debug)]
struct SpiffeVerifier {
    inner: Arc<WebPkiServerVerifier>,
    expected: SpiffeId,
}

impl ServerCertVerifier for SpiffeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // WebPKI checks the chain first, then the name: a name error means a good chain.
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(_)
            | Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => {}
            Err(e) => return Err(e),
        }
        let presented = spiffe_id(end_entity).map_err(|e| {
            rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
                Arc::new(SanMismatch(e)),
            )))
        })?;
        if presented != self.expected {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(SanMismatch(format!(
                    "the server is {presented}, expected {}",
                    self.expected
                )))),
            )));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("SPIFFE identity: {0}")]
struct SanMismatch(String);
