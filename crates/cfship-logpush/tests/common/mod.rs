//! Shared helpers: a real Elasticsearch, a Logpush-like pusher, gzip.
#![allow(dead_code)]

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cfship_elasticsearch::{ElasticsearchSink, EsConfig, RetryConfig};

/// URL of a server from `var`; `None` (after a loud SKIPPED line) when unset, panics when unset in CI.
pub fn engine_url(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) if !u.trim().is_empty() => Some(u.trim().trim_end_matches('/').to_string()),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{var} is not set but CI=true: start the engine with scripts/search-engine.sh and export {var}");
            }
            eprintln!("SKIPPED: {test}: {var} is not set");
            println!("SKIPPED: {test}: {var} is not set");
            None
        }
    }
}

pub fn unique_namespace(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    format!(
        "{tag}{}x{}x{}",
        t % 100_000_000,
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn sink(url: &str, ns: &str, dir: &std::path::Path) -> ElasticsearchSink {
    let mut cfg = EsConfig {
        hosts: vec![url.to_string()],
        namespace: ns.to_string(),
        timeout: Duration::from_secs(30),
        retry: RetryConfig {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(2),
        },
        ..EsConfig::default()
    };
    cfg.dead_letter.path = dir.join("dead.ndjson");
    ElasticsearchSink::connect(cfg).await.expect("connect")
}

pub fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).expect("gzip");
    e.finish().expect("gzip")
}

/// `n` distinct http_requests-like records, tagged so that tests do not collide.
pub fn records(tag: &str, from: usize, n: usize) -> Vec<String> {
    (from..from + n)
        .map(|i| {
            format!(
                r#"{{"ClientIP":"192.0.2.{}","ClientRequestHost":"example.com","ClientRequestURI":"/{tag}/{i}","EdgeResponseStatus":200,"EdgeStartTimestamp":"2026-12-01T00:00:{:02}Z","RayID":"{tag}{i:012x}"}}"#,
                i % 250,
                i % 60
            )
        })
        .collect()
}

pub fn ndjson(recs: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in recs {
        out.extend_from_slice(r.as_bytes());
        out.push(b'\n');
    }
    out
}

/// Documents in `index` (after a refresh); 0 when the index does not exist.
pub async fn count(url: &str, index: &str, query: Option<serde_json::Value>) -> u64 {
    let c = reqwest::Client::new();
    let _ = c.post(format!("{url}/{index}/_refresh")).send().await;
    let mut req = c.post(format!("{url}/{index}/_count"));
    if let Some(q) = query {
        req = req.json(&serde_json::json!({ "query": q }));
    }
    let Ok(r) = req.send().await else { return 0 };
    if r.status() == 404 {
        return 0;
    }
    let v: serde_json::Value = r.json().await.expect("count json");
    v["count"].as_u64().unwrap_or_else(|| panic!("count: {v}"))
}

pub async fn wait_until<F: Fn() -> bool>(what: &str, secs: u64, f: F) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
