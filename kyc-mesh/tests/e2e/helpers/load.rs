//! A load generator for "zero failed requests" tests: workers GET their URL one request
//! after another until stopped; every answer is logged as (status, served by), 0 for a
//! transport error.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// (status, served by) of every request the load generator sent.
pub type LoadLog = Arc<Mutex<Vec<(u16, Option<String>)>>>;

pub struct Load {
    pub log: LoadLog,
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// One worker per URL (repeat a URL for more workers on it).
    pub fn start(urls: &[String]) -> Load {
        Self::start_with_headers(urls, &[])
    }

    /// The same, every request with `headers` (e.g. an `authorization` bearer token).
    pub fn start_with_headers(urls: &[String], headers: &[(&str, &str)]) -> Load {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let log: LoadLog = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let workers = urls
            .iter()
            .map(|url| {
                let (log, stop, url) = (log.clone(), stop.clone(), url.clone());
                let headers = headers.clone();
                tokio::spawn(async move {
                    let c = super::http::client();
                    while !stop.load(Ordering::SeqCst) {
                        let mut request = c.get(&url);
                        for (k, v) in &headers {
                            request = request.header(k, v);
                        }
                        let answer = match request.send().await {
                            Ok(r) => {
                                let status = r.status().as_u16();
                                let by = r
                                    .headers()
                                    .get("x-kyc-served-by")
                                    .and_then(|v| v.to_str().ok())
                                    .map(|s| s.split('/').next().unwrap_or("").to_string());
                                let _ = r.bytes().await;
                                (status, by)
                            }
                            Err(_) => (0, None),
                        };
                        log.lock().expect("lock").push(answer);
                    }
                })
            })
            .collect();
        Load { log, stop, workers }
    }

    pub fn len(&self) -> usize {
        self.log.lock().expect("lock").len()
    }

    /// Wait (with a deadline) until `n` more answers have arrived: traffic still flows after
    /// whatever the test just did.
    pub async fn flows_on(&self, what: &str, n: usize) {
        let mark = self.len();
        super::poll_async(what, std::time::Duration::from_secs(20), || async {
            (self.len() >= mark + n).then_some(())
        })
        .await;
    }

    /// Stop, print the count under `what`, and fail the test if any request failed (the
    /// first ten shown, then `context`: e.g. the mesh's output). Returns the requests sent.
    pub async fn stop_without_failures(self, what: &str, context: &str) -> usize {
        let (sent, failed) = self.stop().await;
        println!("{what}: {sent} requests, {} failed", failed.len());
        assert!(
            failed.is_empty(),
            "{what}: {} of {sent} failed: {:?}\n{context}",
            failed.len(),
            &failed[..failed.len().min(10)]
        );
        sent
    }

    /// Stop the workers; (requests sent, the failed ones).
    pub async fn stop(self) -> (usize, Vec<(u16, Option<String>)>) {
        self.stop.store(true, Ordering::SeqCst);
        for w in self.workers {
            w.await.expect("join");
        }
        let l = self.log.lock().expect("lock");
        let failed = l.iter().filter(|(s, _)| *s != 200).cloned().collect();
        (l.len(), failed)
    }
}
