//! kyc-mesh: the KYC services behind a real Envoy configured from networking/*.yaml.

pub mod duration;
pub mod model;
pub mod translate;
pub mod mesh;
pub mod split;
pub mod xds;
