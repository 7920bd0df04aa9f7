//! `<service> healthcheck [URL...]`: the container health probe. The images have no shell and no
//! curl, so Docker's `HEALTHCHECK` (docker/Dockerfile) and docker/compose.yaml run the service
//! binary itself: it GETs each URL (default: this service's own `/readyz` on `KYC_PORT`, on
//! 127.0.0.1 when it listens on every address) and exits 0 when every one answers 2xx within 2 s,
//! else 1 with the reason on stderr.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::Url;

use crate::configuration::CommonSettings;

/// Each URL's time limit (connect and answer).
const TIMEOUT: Duration = Duration::from_secs(2);

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// No argument: serve.
    Serve,
    /// `healthcheck [URL...]`.
    Healthcheck(Vec<String>),
}

/// Reads the arguments after the program name; anything else is an error naming it.
pub fn invocation(mut args: impl Iterator<Item = String>) -> Result<Invocation, String> {
    match args.next() {
        None => Ok(Invocation::Serve),
        Some(first) if first == "healthcheck" => Ok(Invocation::Healthcheck(args.collect())),
        Some(other) => Err(format!(
            "unknown argument '{other}': run without arguments to serve (settings come from KYC_* \
             variables), or 'healthcheck [URL...]' to probe /readyz"
        )),
    }
}

/// The URL probed when none is given: `/readyz` where this service listens.
pub fn default_url(common: &CommonSettings) -> Result<Url, String> {
    if common.port == 0 {
        return Err("healthcheck: KYC_PORT is 0 (a free port): give the URL to probe".into());
    }
    let host = match common.host {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    Url::parse(&format!(
        "http://{}/readyz",
        SocketAddr::new(host, common.port)
    ))
    .map_err(|e| format!("healthcheck: {e}"))
}

/// Parses the URLs (an empty list means [`default_url`]).
pub fn targets(common: &CommonSettings, urls: &[String]) -> Result<Vec<Url>, String> {
    if urls.is_empty() {
        return Ok(vec![default_url(common)?]);
    }
    urls.iter()
        .map(|u| {
            Url::parse(u)
                .ok()
                .filter(|p| matches!(p.scheme(), "http" | "https"))
                .ok_or_else(|| format!("healthcheck: '{u}' is not an http(s) URL"))
        })
        .collect()
}

/// GETs every URL in turn; the first that fails or answers other than 2xx is the error.
pub async fn probe(urls: &[Url]) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| format!("healthcheck: {e}"))?;
    for url in urls {
        match http.get(url.clone()).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => return Err(format!("healthcheck: {url} answered {}", r.status())),
            Err(e) => return Err(format!("healthcheck: {url}: {e}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::{EnvSource, Layers};

    fn common(vars: &[(&str, &str)]) -> CommonSettings {
        let map = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let layers = Layers::read(EnvSource::Map(map)).expect("layers");
        CommonSettings::read(&layers, "v1").expect("settings")
    }

    fn args(a: &[&str]) -> impl Iterator<Item = String> {
        a.iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn arguments_select_serving_or_the_probe_and_anything_else_is_named() {
        assert_eq!(invocation(args(&[])), Ok(Invocation::Serve));
        assert_eq!(
            invocation(args(&["healthcheck"])),
            Ok(Invocation::Healthcheck(vec![]))
        );
        assert_eq!(
            invocation(args(&["healthcheck", "http://a/b"])),
            Ok(Invocation::Healthcheck(vec!["http://a/b".into()]))
        );
        let err = invocation(args(&["--port", "80"])).expect_err("unknown");
        assert!(err.contains("unknown argument '--port'"), "{err}");
    }

    #[test]
    fn the_default_url_is_readyz_on_loopback_when_listening_everywhere() {
        let c = common(&[("KYC_PORT", "8081")]);
        assert_eq!(
            default_url(&c).expect("url").as_str(),
            "http://127.0.0.1:8081/readyz"
        );
        let c = common(&[("KYC_HOST", "::"), ("KYC_PORT", "80")]);
        assert_eq!(
            default_url(&c).expect("url").as_str(),
            "http://[::1]/readyz"
        );
        let c = common(&[("KYC_HOST", "10.1.2.3"), ("KYC_PORT", "9000")]);
        assert_eq!(
            default_url(&c).expect("url").as_str(),
            "http://10.1.2.3:9000/readyz"
        );
        let c = common(&[("KYC_PORT", "0")]);
        assert!(default_url(&c).expect_err("port 0").contains("KYC_PORT"));
    }

    #[test]
    fn given_urls_must_be_http() {
        let c = common(&[]);
        let t = targets(&c, &["http://gateway:9901/ready".into()]).expect("url");
        assert_eq!(t[0].as_str(), "http://gateway:9901/ready");
        for bad in ["gateway:9901", "ftp://x/", "not a url"] {
            let err = targets(&c, &[bad.into()]).expect_err(bad);
            assert!(err.contains(bad), "{err}");
        }
    }

    #[tokio::test]
    async fn the_probe_passes_on_2xx_and_fails_on_anything_else() {
        use axum::{http::StatusCode, routing::get, Router};
        let app = Router::new()
            .route("/ok", get(|| async { StatusCode::OK }))
            .route("/down", get(|| async { StatusCode::SERVICE_UNAVAILABLE }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let url = |p: &str| Url::parse(&format!("http://{addr}{p}")).expect("url");

        assert_eq!(probe(&[url("/ok")]).await, Ok(()));
        let err = probe(&[url("/ok"), url("/down")]).await.expect_err("503");
        assert!(err.contains("/down answered 503"), "{err}");
        // nothing listens there any more
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr")
        };
        let err = probe(&[Url::parse(&format!("http://{closed}/readyz")).expect("url")])
            .await
            .expect_err("refused");
        assert!(err.contains(&closed.to_string()), "{err}");
    }
}
