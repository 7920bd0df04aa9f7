//! `envoy.config.metrics.v3.StatsConfig`: the tag that names the cluster in `/stats/prometheus`.
//!
//! Envoy's default `envoy.cluster_name` tag stops at the first dot, so a cluster named like istiod's
//! (`outbound|8080|v1|kyc-credit-check-basic.default.svc.cluster.local`) would leave
//! `default_svc_cluster_local` in every metric name. Istio's own bootstrap overrides the tag with the
//! regex below; so does the local mesh: `envoy_cluster_upstream_rq_total{envoy_cluster_name="outbound|…"}`.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct StatsConfig {
    pub(crate) use_all_default_tags: bool,
    pub(crate) stats_tags: Vec<TagSpecifier>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct TagSpecifier {
    pub(crate) tag_name: &'static str,
    pub(crate) regex: &'static str,
}

impl StatsConfig {
    /// The cluster name extracted as Istio's bootstrap does, and the response code class (what the
    /// queries of docs/observability.md use). Envoy's default tags are off: their cluster-name rule would win.
    pub(crate) fn istio_cluster_names() -> Self {
        StatsConfig {
            use_all_default_tags: false,
            stats_tags: vec![
                TagSpecifier {
                    tag_name: "envoy.cluster_name",
                    regex: r"^cluster\.((.+?(\..+?\.svc\.cluster\.local)?)\.)",
                },
                TagSpecifier {
                    tag_name: "envoy.response_code_class",
                    regex: r"_rq_(\d)xx$",
                },
                TagSpecifier {
                    tag_name: "envoy.response_code",
                    regex: r"_rq(_(\d{3}))$",
                },
            ],
        }
    }
}
