//! kyc-mesh: the KYC services behind a real Envoy configured from networking/*.yaml.

pub mod duration;
pub mod mesh;
pub mod model;
pub mod split;
pub mod translate;
pub mod xds;
