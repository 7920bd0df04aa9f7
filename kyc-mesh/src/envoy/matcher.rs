//! Envoy's matchers (`envoy.type.matcher.v3`, `config.route.v3.HeaderMatcher`): what a route,
//! an RBAC policy and a certificate's SAN are matched with.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct RegexMatcher {
    pub(crate) regex: String,
}

/// `envoy.type.matcher.v3.StringMatcher`: exactly one of its fields. Serialised by hand
/// as a one-entry map: serde's enum form would become a YAML tag in `render`'s output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StringMatcher {
    Exact(String),
    Prefix(String),
    Suffix(String),
    SafeRegex(RegexMatcher),
}

impl Serialize for StringMatcher {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        match self {
            StringMatcher::Exact(v) => m.serialize_entry("exact", v)?,
            StringMatcher::Prefix(v) => m.serialize_entry("prefix", v)?,
            StringMatcher::Suffix(v) => m.serialize_entry("suffix", v)?,
            StringMatcher::SafeRegex(v) => m.serialize_entry("safe_regex", v)?,
        }
        m.end()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct HeaderMatcher {
    pub(crate) name: String,
    pub(crate) string_match: StringMatcher,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) invert_match: bool,
}
