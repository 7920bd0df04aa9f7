//! TLS as Istio's proxies speak it between workloads: certificates and the root of trust
//! delivered by SDS (here file-based: `identity` writes the files, Envoy watches them),
//! never inline and never on the command line. Secret names are istiod's: `default` (the
//! proxy's own certificate chain and key) and `ROOTCA` (the mesh's trust anchor).

use serde::Serialize;

use super::config_source::ConfigSource;
use super::matcher::StringMatcher;
use super::{Any, Message};

/// The SDS secret of a proxy's own certificate.
pub(crate) const CERT_SECRET: &str = "default";
/// The SDS secret of the mesh's root certificate.
pub(crate) const ROOT_SECRET: &str = "ROOTCA";
/// Istio's ALPN for mTLS between proxies (`istio-peer-exchange` is for its metadata exchange,
/// which the local mesh does not run).
pub(crate) const ISTIO_ALPN: &str = "istio";

/// Where one proxy's two secrets are served from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SdsSources {
    pub(crate) cert: ConfigSource,
    pub(crate) root: ConfigSource,
}

impl SdsSources {
    /// Both secrets from one watched directory: `<dir>/default.json`, `<dir>/ROOTCA.json`.
    pub(crate) fn in_dir(dir: &std::path::Path) -> Self {
        SdsSources {
            cert: ConfigSource::watched_file(dir, &format!("{CERT_SECRET}.json")),
            root: ConfigSource::watched_file(dir, &format!("{ROOT_SECRET}.json")),
        }
    }

    fn common(&self, peers: Vec<StringMatcher>) -> CommonTlsContext {
        CommonTlsContext {
            tls_certificate_sds_secret_configs: vec![SdsSecretConfig {
                name: CERT_SECRET,
                sds_config: self.cert.clone(),
            }],
            combined_validation_context: CombinedValidationContext {
                default_validation_context: DefaultValidationContext {
                    match_typed_subject_alt_names: peers
                        .into_iter()
                        .map(|matcher| SanMatcher {
                            san_type: "URI",
                            matcher,
                        })
                        .collect(),
                },
                validation_context_sds_secret_config: SdsSecretConfig {
                    name: ROOT_SECRET,
                    sds_config: self.root.clone(),
                },
            },
            alpn_protocols: vec![ISTIO_ALPN],
        }
    }

    /// A client side (an outbound cluster) that accepts only a peer presenting one of
    /// `peers` (the destination's SPIFFE IDs, as istiod's auto mTLS checks them).
    pub(crate) fn upstream(
        &self,
        sni: String,
        peers: &[String],
    ) -> TransportSocket<UpstreamTlsContext> {
        let peers = peers.iter().cloned().map(StringMatcher::Exact).collect();
        TransportSocket::new(UpstreamTlsContext {
            common_tls_context: self.common(peers),
            sni,
        })
    }

    /// A server side (a sidecar's inbound) that requires a client certificate of the mesh.
    pub(crate) fn downstream(&self) -> TransportSocket<DownstreamTlsContext> {
        TransportSocket::new(DownstreamTlsContext {
            common_tls_context: self.common(Vec::new()),
            require_client_certificate: true,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct TransportSocket<C> {
    pub(crate) name: &'static str,
    pub(crate) typed_config: Any<C>,
}

impl<C: Message> TransportSocket<C> {
    pub(crate) fn new(config: C) -> Self {
        TransportSocket {
            name: "envoy.transport_sockets.tls",
            typed_config: Any::new(config),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct UpstreamTlsContext {
    pub(crate) common_tls_context: CommonTlsContext,
    pub(crate) sni: String,
}

impl Message for UpstreamTlsContext {
    const TYPE_URL: &'static str =
        "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct DownstreamTlsContext {
    pub(crate) common_tls_context: CommonTlsContext,
    pub(crate) require_client_certificate: bool,
}

impl Message for DownstreamTlsContext {
    const TYPE_URL: &'static str =
        "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct CommonTlsContext {
    pub(crate) tls_certificate_sds_secret_configs: Vec<SdsSecretConfig>,
    pub(crate) combined_validation_context: CombinedValidationContext,
    pub(crate) alpn_protocols: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SdsSecretConfig {
    pub(crate) name: &'static str,
    pub(crate) sds_config: ConfigSource,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct CombinedValidationContext {
    pub(crate) default_validation_context: DefaultValidationContext,
    pub(crate) validation_context_sds_secret_config: SdsSecretConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct DefaultValidationContext {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) match_typed_subject_alt_names: Vec<SanMatcher>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SanMatcher {
    pub(crate) san_type: &'static str,
    pub(crate) matcher: StringMatcher,
}

/// An SDS secret, as the files `identity` writes hold it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Secret {
    pub(crate) name: &'static str,
    #[serde(flatten)]
    pub(crate) value: SecretValue,
}

impl Message for Secret {
    const TYPE_URL: &'static str =
        "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SecretValue {
    TlsCertificate {
        certificate_chain: DataSource,
        private_key: DataSource,
    },
    ValidationContext {
        trusted_ca: DataSource,
    },
}

/// `envoy.config.core.v3.DataSource` from a file (the key never enters a config).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct DataSource {
    pub(crate) filename: String,
}
