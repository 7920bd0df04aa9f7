//! Any web page the user visits can send requests to localhost. The dashboard answers 403
//! unless:
//! - every request names it in `Host` (`127.0.0.1:<port>` or `localhost:<port>`): a DNS
//!   rebinding page (`evil.example` resolving to 127.0.0.1) sends its own name;
//! - a state-changing request also has no `Origin` or its own one, and carries the per-start
//!   token of the page's `<meta name="kyc-token">` in `X-KYC-Token` (a custom header: a
//!   cross-origin page cannot send it without a CORS preflight, which is never granted).

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// The header the page sends its token in.
pub(crate) const TOKEN_HEADER: &str = "x-kyc-token";

#[derive(Debug, Clone)]
pub(super) struct Guard {
    pub(crate) port: u16,
    pub(crate) token: String,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Forbidden(pub String);

impl IntoResponse for Forbidden {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.0 });
        (StatusCode::FORBIDDEN, Json(body)).into_response()
    }
}

/// A new random token (128 bits from the OS-seeded CSPRNG), hex.
pub(super) fn new_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Equal without stopping at the first difference (the token's bytes do not leak by timing).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Guard {
    fn hosts(&self) -> [String; 2] {
        [
            format!("127.0.0.1:{}", self.port),
            format!("localhost:{}", self.port),
        ]
    }

    /// Check one request's headers: `Host` always, `Origin` and the token for writes.
    pub(super) fn check(
        &self,
        method: &Method,
        host: Option<&str>,
        origin: Option<&str>,
        token: Option<&str>,
    ) -> Result<(), Forbidden> {
        let host = host.unwrap_or("");
        if !self.hosts().iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return Err(Forbidden(format!(
                "Host {host:?} is not this dashboard (open http://127.0.0.1:{}/)",
                self.port
            )));
        }
        if matches!(*method, Method::GET | Method::HEAD) {
            return Ok(());
        }
        if let Some(origin) = origin {
            let own = format!("http://{host}");
            if !origin.eq_ignore_ascii_case(&own) {
                return Err(Forbidden(format!(
                    "cross-origin request from {origin:?} refused"
                )));
            }
        }
        match token {
            Some(t) if same(t.as_bytes(), self.token.as_bytes()) => Ok(()),
            Some(_) => Err(Forbidden(format!("wrong {TOKEN_HEADER}"))),
            None => Err(Forbidden(format!(
                "missing {TOKEN_HEADER} (the page sends the token of its <meta name=\"kyc-token\">)"
            ))),
        }
    }
}

/// The middleware in front of every route.
pub(super) async fn guard(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let checked = guard.check(
        request.method(),
        text(header::HOST),
        text(header::ORIGIN),
        text(header::HeaderName::from_static(TOKEN_HEADER)),
    );
    match checked {
        Ok(()) => next.run(request).await,
        Err(f) => f.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g() -> Guard {
        Guard {
            port: 9000,
            token: "secret".into(),
        }
    }

    #[test]
    fn reads_need_the_right_host_only() {
        let g = g();
        assert!(g
            .check(&Method::GET, Some("127.0.0.1:9000"), None, None)
            .is_ok());
        assert!(g
            .check(&Method::GET, Some("LOCALHOST:9000"), None, None)
            .is_ok());
        for bad in [
            None,
            Some("evil.example:9000"),
            Some("127.0.0.1:9001"),
            Some("127.0.0.1"),
        ] {
            assert!(g.check(&Method::GET, bad, None, None).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn writes_need_same_origin_and_the_token() {
        let g = g();
        let host = Some("localhost:9000");
        let put = Method::PUT;
        assert!(g.check(&put, host, None, Some("secret")).is_ok());
        assert!(g
            .check(&put, host, Some("http://localhost:9000"), Some("secret"))
            .is_ok());
        for (origin, token) in [
            (Some("http://evil.example"), Some("secret")),
            (Some("http://127.0.0.1:9000"), Some("secret")),
            (Some("null"), Some("secret")),
            (None, None),
            (None, Some("secreT")),
            (None, Some("")),
        ] {
            assert!(
                g.check(&put, host, origin, token).is_err(),
                "{origin:?} {token:?}"
            );
        }
        assert!(g.check(&Method::DELETE, host, None, None).is_err());
        assert_eq!(new_token().len(), 32);
        assert_ne!(new_token(), new_token());
    }
}
