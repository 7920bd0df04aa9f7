//! `kyc-mesh token`: a signed JWT for the `jwt-auth` scenario's issuer (the demo key, or your
//! own with `--key`), or the public keys as a JWKS (`--jwks`). Needs no running mesh: the same
//! token works on the laptop and on minikube.

use std::path::PathBuf;
use std::time::Duration;

use crate::token::{self, SigningKey, TokenSpec};

use super::chaos::duration;
use super::error::{CliError, Exit};

#[derive(clap::Args, Debug)]
pub(crate) struct TokenArgs {
    /// The subject (`sub`): who the token speaks for
    #[arg(long, value_name = "S", default_value = "demo-user")]
    sub: String,
    /// A scope (repeatable), e.g. `kyc.write`; the token's `scope` is them space-separated
    #[arg(long, value_name = "SCOPE", default_value = "kyc.read")]
    scope: Vec<String>,
    /// A group (repeatable), e.g. `kyc-officers`: the token's `groups` list
    #[arg(long, value_name = "GROUP")]
    group: Vec<String>,
    /// The audience (`aud`, repeatable)
    #[arg(long, value_name = "A", default_value = token::DEMO_AUDIENCE)]
    aud: Vec<String>,
    /// The issuer (`iss`)
    #[arg(long, value_name = "ISS", default_value = token::DEMO_ISSUER)]
    iss: String,
    /// How long the token is valid (`exp`), e.g. `1h`, `10m`
    #[arg(long, value_name = "DUR", default_value = "1h", value_parser = duration)]
    expires_in: Duration,
    /// Valid only from DUR from now (`nbf`): a token that is not valid yet
    #[arg(long, value_name = "DUR", value_parser = duration)]
    not_before: Option<Duration>,
    /// Move `iat`, `nbf` and `exp` DUR into the past: `--expires-in 1m --backdate 10m` is a
    /// token that expired 9 minutes ago (Envoy allows 60 s of clock skew)
    #[arg(long, value_name = "DUR", value_parser = duration)]
    backdate: Option<Duration>,
    /// The key that signs, by `kid`: a demo key (kyc-demo-1, kyc-demo-2), or the name your
    /// `--key` is published under (default: its file name without extension)
    #[arg(long, value_name = "K")]
    kid: Option<String>,
    /// Sign with your own RSA private key (PEM) instead of a demo key
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Print the public keys as a JWKS instead of a token (the demo keys, or --key's), one
    /// key a line: what a RequestAuthentication's `jwks` holds
    #[arg(long)]
    jwks: bool,
}

fn seconds(d: Option<Duration>) -> i64 {
    d.map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The key `a` asks for.
fn signing_key(a: &TokenArgs) -> Result<SigningKey, CliError> {
    let usage = |e: token::TokenError| CliError::Usage(e.to_string());
    match &a.key {
        None => SigningKey::demo(a.kid.as_deref().unwrap_or(token::DEFAULT_KID)).map_err(usage),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::Usage(format!("--key {}: {e}", path.display())))?;
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "my-key".into());
            let kid = a.kid.clone().unwrap_or(stem);
            SigningKey::from_pem(&kid, &text, &path.display().to_string()).map_err(usage)
        }
    }
}

pub(super) fn run(a: &TokenArgs) -> Result<Exit, CliError> {
    let usage = |e: token::TokenError| CliError::Usage(e.to_string());
    if a.jwks {
        let keys = match (&a.key, &a.kid) {
            (None, None) => token::demo_jwks().map_err(usage)?,
            _ => vec![signing_key(a)?.jwk().map_err(usage)?],
        };
        print!("{}", token::jwks_text(&keys));
        return Ok(Exit::Success);
    }
    let key = signing_key(a)?;
    let spec = TokenSpec {
        issuer: a.iss.clone(),
        subject: a.sub.clone(),
        audiences: a.aud.clone(),
        scopes: a.scope.iter().filter(|s| !s.is_empty()).cloned().collect(),
        groups: a.group.clone(),
        expires_in: a.expires_in,
        not_before: seconds(a.not_before),
    };
    let now = token::unix_now().saturating_sub(seconds(a.backdate).unsigned_abs());
    let claims = spec.claims_at(now).map_err(usage)?;
    println!("{}", key.sign(&claims).map_err(usage)?);
    Ok(Exit::Success)
}
