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

/// `envoy.type.matcher.v3.MetadataMatcher`: a value of a filter's dynamic metadata (the
/// verified JWT payload: `envoy.filters.http.jwt_authn` → `payload` → a claim).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct MetadataMatcher {
    pub(crate) filter: &'static str,
    pub(crate) path: Vec<PathSegment>,
    pub(crate) value: ValueMatcher,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct PathSegment {
    pub(crate) key: String,
}

/// `envoy.type.matcher.v3.ValueMatcher`: a one-of, serialised as a one-entry map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ValueMatcher {
    String(StringMatcher),
    /// A list with one element that matches.
    ListOneOf(Box<ValueMatcher>),
    Or(Vec<ValueMatcher>),
}

impl Serialize for ValueMatcher {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        #[derive(Serialize)]
        struct OneOf<'a> {
            one_of: &'a ValueMatcher,
        }
        #[derive(Serialize)]
        struct Or<'a> {
            value_matchers: &'a [ValueMatcher],
        }
        let mut m = s.serialize_map(Some(1))?;
        match self {
            ValueMatcher::String(v) => m.serialize_entry("string_match", v)?,
            ValueMatcher::ListOneOf(v) => m.serialize_entry("list_match", &OneOf { one_of: v })?,
            ValueMatcher::Or(v) => m.serialize_entry("or_match", &Or { value_matchers: v })?,
        }
        m.end()
    }
}
