//! The mesh's identities, as istiod's CA gives them: a local root CA created on the first
//! start in the state directory (and reused after: `<state dir>/ca/`, key 0600), and for
//! each proxy a certificate whose URI SAN is its SPIFFE ID
//! `spiffe://cluster.local/ns/<namespace>/sa/<service account>` (from its Deployment in
//! networking/; the ingress gateway is
//! `spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account`).
//! Certificates and keys are files (keys 0600) that Envoy reads through file-based SDS
//! (`envoy::tls`): nothing secret is on a command line or in an xDS file.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::envoy::bootstrap::DiscoveryResponse;
use crate::envoy::tls::{DataSource, Secret, SecretValue, CERT_SECRET, ROOT_SECRET};
use crate::files;

/// Istio's default trust domain.
pub(crate) const TRUST_DOMAIN: &str = "cluster.local";

/// How long a workload certificate is valid. Istio's are 24 h and rotated by the agent;
/// the local mesh issues new ones at every `up`, so they only need to outlive one run.
const LEAF_DAYS: i64 = 30;
const CA_DAYS: i64 = 3650;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("certificate: {0}")]
    Cert(#[from] rcgen::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IdentityError + '_ {
    move |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A SPIFFE ID; its principal (what AuthorizationPolicy names) is the part after `spiffe://`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SpiffeId(String);

impl SpiffeId {
    pub(crate) fn new(namespace: &str, service_account: &str) -> Self {
        SpiffeId(format!(
            "spiffe://{TRUST_DOMAIN}/ns/{namespace}/sa/{service_account}"
        ))
    }

    /// The ingress gateway's identity in a default Istio install.
    pub(crate) fn ingress_gateway() -> Self {
        SpiffeId::new("istio-system", "istio-ingressgateway-service-account")
    }

    pub(crate) fn uri(&self) -> &str {
        &self.0
    }

    /// `cluster.local/ns/<ns>/sa/<sa>`.
    pub(crate) fn principal(&self) -> &str {
        self.0.trim_start_matches("spiffe://")
    }
}

impl std::fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Write `text` to `path` readable by the owner only (a private key).
fn write_private(path: &Path, text: &str) -> Result<(), IdentityError> {
    files::write_private(path, text).map_err(io(path))
}

/// Write `text` to `path` (a certificate, an SDS file).
fn write(path: &Path, text: impl AsRef<[u8]>) -> Result<(), IdentityError> {
    files::write_atomic(path, text).map_err(io(path))
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
}

/// The CA's fixed subject and constraints: the issuer is rebuilt from them and the stored
/// key, so a reused CA signs with the same name and key identifier as its certificate.
fn ca_params() -> Result<CertificateParams, IdentityError> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, TRUST_DOMAIN);
    dn.push(DnType::CommonName, "kyc-mesh local root CA");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut p, CA_DAYS);
    Ok(p)
}

/// The local mesh CA.
pub(crate) struct MeshCa {
    pub(crate) dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    root_pem: String,
    /// Whether this start created it (the banner says so).
    pub(crate) created: bool,
}

impl MeshCa {
    pub(crate) const CERT: &'static str = "root-cert.pem";
    pub(crate) const KEY: &'static str = "root-key.pem";

    /// The CA of `state_dir/ca/`, created there on the first start.
    pub(crate) fn load_or_create(state_dir: &Path) -> Result<MeshCa, IdentityError> {
        let dir = state_dir.join("ca");
        let (cert_path, key_path) = (dir.join(Self::CERT), dir.join(Self::KEY));
        if let (Ok(root_pem), Ok(key_pem)) = (
            std::fs::read_to_string(&cert_path),
            std::fs::read_to_string(&key_path),
        ) {
            if let Ok(key) = KeyPair::from_pem(&key_pem) {
                let issuer = Issuer::new(ca_params()?, key);
                return Ok(MeshCa {
                    dir,
                    issuer,
                    root_pem,
                    created: false,
                });
            }
        }
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let key = KeyPair::generate()?;
        let params = ca_params()?;
        let root_pem = params.self_signed(&key)?.pem();
        write_private(&key_path, &key.serialize_pem())?;
        write(&cert_path, &root_pem)?;
        Ok(MeshCa {
            dir,
            issuer: Issuer::new(params, key),
            root_pem,
            created: true,
        })
    }

    pub(crate) fn root_cert_path(&self) -> PathBuf {
        self.dir.join(Self::CERT)
    }

    /// Issue `id`'s certificate into `dir` (`cert-chain.pem`, `key.pem` 0600,
    /// `root-cert.pem`) and its two SDS files (`default.json`, `ROOTCA.json`).
    pub(crate) fn issue(&self, dir: &Path, id: &SpiffeId) -> Result<(), IdentityError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        p.distinguished_name = DistinguishedName::new();
        p.subject_alt_names = vec![SanType::URI(id.uri().try_into()?)];
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        validity(&mut p, LEAF_DAYS);
        let cert = p.signed_by(&key, &self.issuer)?;
        let (chain, key_file, root) = (
            dir.join("cert-chain.pem"),
            dir.join("key.pem"),
            dir.join("root-cert.pem"),
        );
        write_private(&key_file, &key.serialize_pem())?;
        write(&chain, cert.pem())?;
        write(&root, &self.root_pem)?;
        let file = |p: &Path| DataSource {
            filename: p.display().to_string(),
        };
        let own = Secret {
            name: CERT_SECRET,
            value: SecretValue::TlsCertificate {
                certificate_chain: file(&chain),
                private_key: file(&key_file),
            },
        };
        let trust = Secret {
            name: ROOT_SECRET,
            value: SecretValue::ValidationContext {
                trusted_ca: file(&root),
            },
        };
        for (name, secret) in [(CERT_SECRET, own), (ROOT_SECRET, trust)] {
            let path = dir.join(format!("{name}.json"));
            files::write_json(&path, &DiscoveryResponse::new(1, [secret])).map_err(io(&path))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_ca_is_created_once_and_reused_and_keys_are_private() {
        let state = tempfile::tempdir().expect("tmp");
        let ca = MeshCa::load_or_create(state.path()).expect("created");
        assert!(ca.created);
        let root = std::fs::read_to_string(ca.root_cert_path()).expect("root");
        let again = MeshCa::load_or_create(state.path()).expect("reused");
        assert!(!again.created);
        assert_eq!(
            std::fs::read_to_string(again.root_cert_path()).expect("root"),
            root
        );
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&ca.dir.join(MeshCa::KEY)), 0o600);
        let leaf = state.path().join("leaf");
        let id = SpiffeId::new("default", "kyc-credit-check-basic");
        again.issue(&leaf, &id).expect("issued");
        assert_eq!(mode(&leaf.join("key.pem")), 0o600);
        let sds = std::fs::read_to_string(leaf.join("default.json")).expect("sds");
        assert!(
            sds.contains("key.pem") && !sds.contains("PRIVATE KEY"),
            "{sds}"
        );
        assert_eq!(
            id.principal(),
            "cluster.local/ns/default/sa/kyc-credit-check-basic"
        );
    }
}
