//! End-user tokens for the `jwt-auth` scenario: the demo signing keys (DEMO ONLY, shipped in
//! `kyc-mesh/demo-keys/` as Istio ships `security/tools/jwt/samples/key.pem`), RS256 JWTs
//! signed with one of them or with a key of your own (`kyc-mesh token`), and the public half
//! as a JWK / JWKS (what a RequestAuthentication's `jwks` holds).
//!
//! The same demo key signs on the laptop and for minikube, so a `kyc-mesh token` works against
//! both. Anyone can read these keys: a token they sign proves nothing outside a demo.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;

/// The demo issuer (`iss`), as `networking/scenarios/jwt-auth.yaml` names it.
pub const DEMO_ISSUER: &str = "kyc-demo@banknext.example";
/// The audience the scenario's RequestAuthentication accepts (`aud`).
pub const DEMO_AUDIENCE: &str = "kyc-api";
/// The key that signs unless `--kid` says otherwise.
pub const DEFAULT_KID: &str = "kyc-demo-1";

/// The demo keys by `kid`: DEMO ONLY, public in this repository.
const DEMO_KEYS: [(&str, &str); 2] = [
    ("kyc-demo-1", include_str!("../demo-keys/kyc-demo-1.pem")),
    ("kyc-demo-2", include_str!("../demo-keys/kyc-demo-2.pem")),
];

/// Why a key cannot sign or a token cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("unknown demo key {0:?} (the demo keys are {known}); sign with your own with --key FILE", known = demo_kids().join(", "))]
    UnknownKid(String),
    #[error("{0}: not an RSA private key in PEM (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1 `BEGIN RSA PRIVATE KEY`, 2048 bits or more): {1}")]
    BadKey(String, String),
    #[error("signing: {0}")]
    Sign(String),
    #[error("{0}")]
    Claims(String),
}

/// The `kid`s of the demo keys.
pub fn demo_kids() -> Vec<&'static str> {
    DEMO_KEYS.iter().map(|(k, _)| *k).collect()
}

/// An RSA private key and the `kid` its tokens carry.
pub struct SigningKey {
    kid: String,
    pem: String,
    /// Where it came from, for messages (`demo key kyc-demo-1`, a file name).
    source: String,
}

impl SigningKey {
    /// One of the demo keys.
    pub fn demo(kid: &str) -> Result<Self, TokenError> {
        let (kid, pem) = DEMO_KEYS
            .iter()
            .find(|(k, _)| *k == kid)
            .ok_or_else(|| TokenError::UnknownKid(kid.to_string()))?;
        Ok(SigningKey {
            kid: kid.to_string(),
            pem: pem.to_string(),
            source: format!("demo key {kid}"),
        })
    }

    /// A key of your own (PEM text from `source`), published under `kid`.
    pub fn from_pem(kid: &str, pem: &str, source: &str) -> Result<Self, TokenError> {
        let key = SigningKey {
            kid: kid.to_string(),
            pem: pem.to_string(),
            source: source.to_string(),
        };
        key.key_pair()?;
        Ok(key)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    fn key_pair(&self) -> Result<ring::rsa::KeyPair, TokenError> {
        let bad = |e: String| TokenError::BadKey(self.source.clone(), e);
        let parsed = pem::parse(self.pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
        match parsed.tag() {
            "PRIVATE KEY" => ring::rsa::KeyPair::from_pkcs8(parsed.contents()),
            "RSA PRIVATE KEY" => ring::rsa::KeyPair::from_der(parsed.contents()),
            other => return Err(bad(format!("a `{other}` block"))),
        }
        .map_err(|e| bad(e.to_string()))
    }

    /// The public half as a JWK (`kty` RSA, `alg` RS256, `use` sig, `n`, `e`).
    pub fn jwk(&self) -> Result<Jwk, TokenError> {
        let pair = self.key_pair()?;
        let public: ring::rsa::PublicKeyComponents<Vec<u8>> = pair.public().into();
        Ok(Jwk {
            kty: "RSA",
            alg: "RS256",
            key_use: "sig",
            kid: self.kid.clone(),
            n: URL_SAFE_NO_PAD.encode(public.n),
            e: URL_SAFE_NO_PAD.encode(public.e),
        })
    }

    /// A signed RS256 token for `claims`, with this key's `kid` in its header.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        // Checked by ring first: jsonwebtoken's error would not say what is wrong.
        self.key_pair()?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(self.pem.as_bytes())
            .map_err(|e| TokenError::BadKey(self.source.clone(), e.to_string()))?;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &key).map_err(|e| TokenError::Sign(e.to_string()))
    }
}

/// A JSON Web Key: the public half of a signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jwk {
    pub kty: &'static str,
    pub alg: &'static str,
    #[serde(rename = "use")]
    pub key_use: &'static str,
    pub kid: String,
    pub n: String,
    pub e: String,
}

/// `{"keys": [...]}`: what a RequestAuthentication's `jwks` holds, one key a line.
pub fn jwks_text(keys: &[Jwk]) -> String {
    let lines: Vec<String> = keys
        .iter()
        .map(|k| serde_json::to_string(k).unwrap_or_default())
        .collect();
    format!("{{\"keys\": [\n  {}\n]}}\n", lines.join(",\n  "))
}

/// The demo keys' JWKS (both keys).
pub fn demo_jwks() -> Result<Vec<Jwk>, TokenError> {
    demo_kids()
        .into_iter()
        .map(|k| SigningKey::demo(k)?.jwk())
        .collect()
}

/// Whether a JWKS document holds the public half of the default demo key (the one
/// [`demo_token`] signs with).
pub fn has_demo_key(jwks: &str) -> bool {
    let Ok(n) = SigningKey::demo(DEFAULT_KID)
        .and_then(|k| k.jwk())
        .map(|k| k.n)
    else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(jwks)
        .ok()
        .and_then(|v| v.get("keys").and_then(|k| k.as_array()).cloned())
        .is_some_and(|keys| {
            keys.iter()
                .any(|k| k.get("n").and_then(|x| x.as_str()) == Some(&n))
        })
}

/// The claims `kyc-mesh token` puts in a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    /// One audience as a string, several as a list (RFC 7519).
    #[serde(skip_serializing_if = "Audience::is_empty")]
    pub aud: Audience,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    /// Space-delimited (RFC 8693), as Istio reads `scope`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn is_empty(&self) -> bool {
        matches!(self, Audience::Many(v) if v.is_empty())
    }

    pub fn of(list: &[String]) -> Self {
        match list {
            [one] => Audience::One(one.clone()),
            many => Audience::Many(many.to_vec()),
        }
    }
}

/// What a token is asked for: who, with which scopes and groups, for whom, valid when.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    pub issuer: String,
    pub subject: String,
    pub audiences: Vec<String>,
    pub scopes: Vec<String>,
    pub groups: Vec<String>,
    /// From `not_before` after now until `expires_in` after now.
    pub expires_in: Duration,
    /// Negative: valid from that long ago (a token made to be already valid).
    pub not_before: i64,
}

impl TokenSpec {
    /// The demo issuer and audience, `sub` = `subject`, valid for `expires_in` from now.
    pub fn demo(subject: &str, scopes: &[&str], expires_in: Duration) -> Self {
        TokenSpec {
            issuer: DEMO_ISSUER.into(),
            subject: subject.into(),
            audiences: vec![DEMO_AUDIENCE.into()],
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            groups: Vec::new(),
            expires_in,
            not_before: 0,
        }
    }

    /// The claims at `now` (seconds since the epoch).
    pub fn claims_at(&self, now: u64) -> Result<Claims, TokenError> {
        if self.expires_in.is_zero() {
            return Err(TokenError::Claims(
                "--expires-in: must be more than 0s".into(),
            ));
        }
        let scope = (!self.scopes.is_empty()).then(|| self.scopes.join(" "));
        let nbf = now.saturating_add_signed(self.not_before);
        Ok(Claims {
            iss: self.issuer.clone(),
            sub: self.subject.clone(),
            aud: Audience::of(&self.audiences),
            iat: now,
            nbf,
            exp: now.saturating_add(self.expires_in.as_secs().max(1)),
            scope,
            groups: self.groups.clone(),
        })
    }

    /// The claims now.
    pub fn claims(&self) -> Result<Claims, TokenError> {
        self.claims_at(unix_now())
    }
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A short-lived demo token (`sub` = `subject`, scopes `kyc.read kyc.write`) for the mesh's own
/// traffic generators, when the configuration in force asks for the demo issuer.
pub fn demo_token(subject: &str, lifetime: Duration) -> Result<String, TokenError> {
    let spec = TokenSpec::demo(subject, &["kyc.read", "kyc.write"], lifetime);
    SigningKey::demo(DEFAULT_KID)?.sign(&spec.claims()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(token: &str, key: &Jwk, aud: &str) -> serde_json::Value {
        let dk = jsonwebtoken::DecodingKey::from_rsa_components(&key.n, &key.e).expect("key");
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&[aud]);
        v.set_issuer(&[DEMO_ISSUER]);
        jsonwebtoken::decode::<serde_json::Value>(token, &dk, &v)
            .expect("valid")
            .claims
    }

    #[test]
    fn a_demo_token_verifies_with_its_jwk_and_carries_the_claims() {
        let key = SigningKey::demo("kyc-demo-2").expect("demo");
        let mut spec = TokenSpec::demo(
            "alice",
            &["kyc.read", "kyc.write"],
            Duration::from_secs(600),
        );
        spec.groups = vec!["kyc-officers".into()];
        let token = key.sign(&spec.claims().expect("claims")).expect("sign");
        let header = jsonwebtoken::decode_header(&token).expect("header");
        assert_eq!(header.kid.as_deref(), Some("kyc-demo-2"));
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        let claims = decode(&token, &key.jwk().expect("jwk"), DEMO_AUDIENCE);
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["aud"], DEMO_AUDIENCE);
        assert_eq!(claims["scope"], "kyc.read kyc.write");
        assert_eq!(claims["groups"][0], "kyc-officers");
        // Not with the other demo key.
        let other = SigningKey::demo("kyc-demo-1")
            .expect("demo")
            .jwk()
            .expect("jwk");
        let dk = jsonwebtoken::DecodingKey::from_rsa_components(&other.n, &other.e).expect("key");
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&[DEMO_AUDIENCE]);
        assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &dk, &v).is_err());
    }

    #[test]
    fn times_are_relative_to_now_and_an_empty_lifetime_is_refused() {
        let mut spec = TokenSpec::demo("bob", &[], Duration::from_secs(60));
        spec.not_before = 300;
        let c = spec.claims_at(1_000).expect("claims");
        assert_eq!((c.iat, c.nbf, c.exp), (1_000, 1_300, 1_060));
        assert_eq!(c.scope, None);
        spec.expires_in = Duration::ZERO;
        assert!(spec.claims_at(1_000).is_err());
    }

    #[test]
    fn bad_keys_and_kids_are_named() {
        let e = SigningKey::demo("nope").err().expect("unknown");
        assert!(e.to_string().contains("kyc-demo-1, kyc-demo-2"), "{e}");
        let e = SigningKey::from_pem("k", "not a key", "my.pem")
            .err()
            .expect("bad");
        assert!(
            e.to_string().starts_with("my.pem: not an RSA private key"),
            "{e}"
        );
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let e = SigningKey::from_pem("k", cert, "c.pem").err().expect("bad");
        assert!(e.to_string().contains("CERTIFICATE"), "{e}");
    }

    #[test]
    fn the_scenarios_jwks_is_the_demo_keys_public_half() {
        let scenario = include_str!("../../networking/scenarios/jwt-auth.yaml");
        for jwk in demo_jwks().expect("jwks") {
            let line = serde_json::to_string(&jwk).expect("json");
            assert!(
                scenario.contains(&line),
                "networking/scenarios/jwt-auth.yaml lacks {} (print it with `kyc-mesh token --jwks`)",
                jwk.kid
            );
        }
        assert!(scenario.contains(DEMO_ISSUER) && scenario.contains(DEMO_AUDIENCE));
    }
}
