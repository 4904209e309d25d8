//! HTTP transport: several hosts (round robin, dead ones skipped for a while), auth, TLS options.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE,
};
use reqwest::{Method, Url};

use crate::config::{decode_cloud_id, EsAuth, EsConfig, Secret};
use crate::EsError;

#[derive(Debug)]
struct Host {
    /// Base URL without user info, ending in `/`.
    url: Url,
    dead_until: Mutex<Option<Instant>>,
    failures: AtomicU32,
}

/// Failure to get any HTTP answer.
#[derive(Debug, Clone)]
pub(crate) struct TransportError {
    pub url: String,
    pub message: String,
}

impl From<TransportError> for EsError {
    fn from(e: TransportError) -> Self {
        EsError::Unreachable {
            url: e.url,
            message: e.message,
        }
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub body: Bytes,
    pub url: String,
}

impl Response {
    pub(crate) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
    pub(crate) fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
    /// The body, shortened for error messages.
    pub(crate) fn excerpt(&self) -> String {
        let s = String::from_utf8_lossy(&self.body);
        let mut out: String = s.chars().take(500).collect();
        if s.chars().count() > 500 {
            out.push('…');
        }
        out
    }
    pub(crate) fn into_error(self) -> EsError {
        let body = self.excerpt();
        EsError::Http {
            status: self.status,
            url: self.url,
            body,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Transport {
    client: reqwest::Client,
    hosts: Vec<Host>,
    next: AtomicUsize,
}

/// Parse the configured hosts; user info moves to basic auth (returned) and out of the URL.
pub(crate) fn parse_hosts(cfg: &EsConfig) -> Result<(Vec<Url>, Option<EsAuth>), EsError> {
    let raw: Vec<String> = match &cfg.cloud_id {
        Some(id) if !id.trim().is_empty() => vec![decode_cloud_id(id)?],
        _ => cfg.hosts.clone(),
    };
    if raw.is_empty() {
        return Err(EsError::Config("no hosts configured".into()));
    }
    let mut urls = Vec::new();
    let mut auth = None;
    for h in raw {
        let h = h.trim();
        let with_scheme = if h.contains("://") {
            h.to_string()
        } else {
            format!("http://{h}")
        };
        let mut url = Url::parse(&with_scheme).map_err(|e| {
            // never echo the raw string: it may contain a password
            EsError::Config(format!("invalid host URL ({e})"))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(EsError::Config(format!(
                "unsupported scheme {:?} in host URL",
                url.scheme()
            )));
        }
        if !url.username().is_empty() {
            let user = percent_decode(url.username());
            let pass = url.password().map(percent_decode).unwrap_or_default();
            auth = Some(EsAuth::Basic {
                username: user,
                password: Secret::new(pass),
            });
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
        if !url.path().ends_with('/') {
            let p = format!("{}/", url.path());
            url.set_path(&p);
        }
        url.set_query(None);
        url.set_fragment(None);
        urls.push(url);
    }
    Ok((urls, auth))
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Transport {
    pub(crate) fn new(cfg: &EsConfig) -> Result<Transport, EsError> {
        let (urls, url_auth) = parse_hosts(cfg)?;
        let auth = if cfg.auth == EsAuth::None {
            url_auth.unwrap_or(EsAuth::None)
        } else {
            cfg.auth.clone()
        };
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| EsError::Config(format!("invalid header name {k:?}")))?;
            let mut value = HeaderValue::from_str(v.expose())
                .map_err(|_| EsError::Config(format!("invalid value for header {k:?}")))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        if let Some(h) = auth.header_value() {
            let mut value = HeaderValue::from_str(h.expose())
                .map_err(|_| EsError::Config("credentials contain invalid characters".into()))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(cfg.max_in_flight.max(1) * 2)
            .user_agent(concat!("cfship/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &cfg.ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                EsError::Config(format!("cannot read ca_file {}: {e}", ca.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                EsError::Config(format!("invalid PEM in ca_file {}: {e}", ca.display()))
            })?;
            if certs.is_empty() {
                return Err(EsError::Config(format!(
                    "no certificate in ca_file {}",
                    ca.display()
                )));
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        if let Some(cert) = &cfg.client_cert {
            let mut pem = std::fs::read(cert).map_err(|e| {
                EsError::Config(format!("cannot read client_cert {}: {e}", cert.display()))
            })?;
            if let Some(key) = &cfg.client_key {
                let k = std::fs::read(key).map_err(|e| {
                    EsError::Config(format!("cannot read client_key {}: {e}", key.display()))
                })?;
                pem.push(b'\n');
                pem.extend_from_slice(&k);
            }
            let id = reqwest::Identity::from_pem(&pem)
                .map_err(|_| EsError::Config("invalid client certificate or key PEM".into()))?;
            builder = builder.identity(id);
        }
        if cfg.insecure {
            tracing::warn!("TLS certificate verification is DISABLED (insecure: true)");
            builder = builder.danger_accept_invalid_certs(true);
        }
        let client = builder
            .build()
            .map_err(|e| EsError::Config(format!("cannot build HTTP client: {e}")))?;
        Ok(Transport {
            client,
            hosts: urls
                .into_iter()
                .map(|url| Host {
                    url,
                    dead_until: Mutex::new(None),
                    failures: AtomicU32::new(0),
                })
                .collect(),
            next: AtomicUsize::new(0),
        })
    }

    /// Base URLs (without credentials), for messages.
    pub(crate) fn host_urls(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.url.to_string()).collect()
    }

    fn pick(&self) -> &Host {
        let n = self.hosts.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut best: Option<(&Host, Instant)> = None;
        for i in 0..n {
            let h = &self.hosts[(start + i) % n];
            let until = h.dead_until.lock().map(|g| *g).unwrap_or(None);
            match until {
                None => return h,
                Some(t) if t <= now => return h,
                Some(t) => {
                    if best.is_none_or(|(_, bt)| t < bt) {
                        best = Some((h, t));
                    }
                }
            }
        }
        // every host is marked dead: try the one that comes back first
        best.map(|(h, _)| h).unwrap_or(&self.hosts[start % n])
    }

    fn mark(&self, host: &Host, alive: bool) {
        if alive {
            host.failures.store(0, Ordering::Relaxed);
            if let Ok(mut g) = host.dead_until.lock() {
                *g = None;
            }
        } else {
            let f = host.failures.fetch_add(1, Ordering::Relaxed).min(6);
            let pause = Duration::from_secs(1u64 << f).min(Duration::from_secs(60));
            if let Ok(mut g) = host.dead_until.lock() {
                *g = Some(Instant::now() + pause);
            }
        }
    }

    /// Send one request to the next live host.
    pub(crate) async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<(Bytes, &'static str, bool)>,
    ) -> Result<Response, TransportError> {
        let host = self.pick();
        let url = host
            .url
            .join(path_and_query.trim_start_matches('/'))
            .map_err(|e| TransportError {
                url: host.url.to_string(),
                message: format!("bad path {path_and_query:?}: {e}"),
            })?;
        let shown = url.to_string();
        let mut rb = self.client.request(method, url);
        if let Some((bytes, content_type, gzip)) = body {
            rb = rb.header(CONTENT_TYPE, content_type).body(bytes);
            if gzip {
                rb = rb.header(CONTENT_ENCODING, "gzip");
            }
        }
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => {
                self.mark(host, false);
                return Err(TransportError {
                    url: shown,
                    message: error_chain(&e),
                });
            }
        };
        let status = resp.status().as_u16();
        match resp.bytes().await {
            Ok(body) => {
                // a 502/503/504 from a proxy in front of a dead node: try other hosts first
                self.mark(host, !matches!(status, 502..=504));
                Ok(Response {
                    status,
                    body,
                    url: shown,
                })
            }
            Err(e) => {
                self.mark(host, false);
                Err(TransportError {
                    url: shown,
                    message: error_chain(&e),
                })
            }
        }
    }

    /// Convenience: JSON request (idempotent use only): on a connection failure each other host is
    /// tried once before the error is returned.
    pub(crate) async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, TransportError> {
        let b = body.map(|v| Bytes::from(serde_json::to_vec(v).unwrap_or_default()));
        let mut last = None;
        for _ in 0..self.hosts.len() {
            let payload = b.clone().map(|x| (x, "application/json", false));
            match self.send(method.clone(), path, payload).await {
                Ok(r) => return Ok(r),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| TransportError {
            url: path.to_string(),
            message: "no hosts".into(),
        }))
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let m = inner.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_moves_to_basic_auth_and_out_of_urls() {
        let cfg = EsConfig {
            hosts: vec![
                "https://elastic:s3cr%40t@es1.example:9200".into(),
                "es2.example:9200/prefix".into(),
            ],
            ..EsConfig::default()
        };
        let (urls, auth) = parse_hosts(&cfg).unwrap();
        assert_eq!(urls[0].as_str(), "https://es1.example:9200/");
        assert_eq!(urls[1].as_str(), "http://es2.example:9200/prefix/");
        match auth {
            Some(EsAuth::Basic { username, password }) => {
                assert_eq!(username, "elastic");
                assert_eq!(password.expose(), "s3cr@t");
            }
            other => panic!("unexpected {other:?}"),
        }
        let t = Transport::new(&cfg).unwrap();
        assert!(!format!("{t:?}").contains("s3cr"));
        assert!(!t.host_urls().join(" ").contains("s3cr"));
    }

    #[test]
    fn bad_hosts_are_config_errors_without_secrets() {
        let cfg = EsConfig {
            hosts: vec!["ftp://user:pw-secret@x".into()],
            ..EsConfig::default()
        };
        let err = parse_hosts(&cfg).unwrap_err().to_string();
        assert!(!err.contains("pw-secret"), "{err}");
        let cfg = EsConfig {
            hosts: vec![],
            ..EsConfig::default()
        };
        assert!(parse_hosts(&cfg).is_err());
    }

    #[test]
    fn round_robin_skips_dead_hosts() {
        let cfg = EsConfig {
            hosts: vec![
                "http://a:1".into(),
                "http://b:2".into(),
                "http://c:3".into(),
            ],
            ..EsConfig::default()
        };
        let t = Transport::new(&cfg).unwrap();
        let picks: Vec<String> = (0..3).map(|_| t.pick().url.to_string()).collect();
        assert_eq!(picks.len(), 3);
        let mut sorted = picks.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 3, "round robin visits every host");
        t.mark(&t.hosts[1], false);
        for _ in 0..6 {
            assert_ne!(t.pick().url.as_str(), "http://b:2/");
        }
        t.mark(&t.hosts[0], false);
        t.mark(&t.hosts[2], false);
        // all dead: still returns a host (the one back soonest) instead of failing
        let _ = t.pick();
        t.mark(&t.hosts[1], true);
        assert_eq!(t.pick().url.as_str(), "http://b:2/");
    }
}
