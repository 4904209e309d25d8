//! Shared helpers of the integration tests (real Elasticsearch / OpenSearch servers).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cfship_elasticsearch::{EsConfig, IndexRequest, RetryConfig};
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

/// URL of a server from `var`; `None` (after a loud SKIPPED line) when unset, panics when unset in CI.
pub fn engine_url(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) if !u.trim().is_empty() => Some(u.trim().trim_end_matches('/').to_string()),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{var} is not set but CI=true: start the engine with scripts/search-engine.sh and export {var}");
            }
            eprintln!("SKIPPED: {test}: {var} is not set (start it with scripts/search-engine.sh and export {var})");
            println!("SKIPPED: {test}: {var} is not set");
            None
        }
    }
}

/// A namespace no other test (or earlier run) uses.
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

pub fn config(url: &str, namespace: &str, dead_letter: PathBuf) -> EsConfig {
    let mut cfg = EsConfig {
        hosts: vec![url.to_string()],
        namespace: namespace.to_string(),
        timeout: Duration::from_secs(30),
        retry: RetryConfig {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(2),
        },
        ..EsConfig::default()
    };
    cfg.dead_letter.path = dead_letter;
    cfg
}

pub fn golden_dir() -> PathBuf {
    {
        let base = std::env::var("CFSHIP_GOLDEN_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden")
            });
        // CFSHIP_GOLDEN_DIR may name `…/golden` or `…/golden/elastic-cloudflare`
        if base.join("elastic-cloudflare").is_dir() {
            base.join("elastic-cloudflare")
        } else {
            base
        }
    }
}

/// The `expected` documents of a golden file (nulls skipped), with the data stream fields cfship adds.
pub fn golden_docs(dataset: &str, namespace: &str) -> Vec<Value> {
    let file = match dataset {
        "audit" => "audit/test-audit.log-expected.json",
        _ => "logpull/test-http-json.log-expected.json",
    };
    let path = golden_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read golden file {}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).expect("golden file is JSON");
    v["expected"]
        .as_array()
        .expect("expected array")
        .iter()
        .filter(|d| !d.is_null())
        .map(|d| {
            let mut d = d.clone();
            d["data_stream"] = json!({"type": "logs", "dataset": format!("cloudflare.{dataset}"), "namespace": namespace});
            d["event"]["dataset"] = json!(format!("cloudflare.{dataset}"));
            d["event"]["module"] = json!("cloudflare");
            d
        })
        .collect()
}

/// `…/golden/elastic-cloudflare-logpush` (Elastic's `cloudflare_logpush` pipeline tests).
pub fn logpush_golden_dir() -> PathBuf {
    let base = std::env::var("CFSHIP_GOLDEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden")
        });
    if base.join("elastic-cloudflare-logpush").is_dir() {
        base.join("elastic-cloudflare-logpush")
    } else {
        // CFSHIP_GOLDEN_DIR named `…/golden/elastic-cloudflare`
        base.join("../elastic-cloudflare-logpush")
    }
}

/// The expected documents of a `cloudflare_logpush` data stream's golden file(s) (`<name>/*-expected.json`,
/// the primary era only), with the data stream fields cfship adds (as `cfship-ecs` does with a namespace).
pub fn logpush_golden_docs(name: &str, namespace: &str) -> Vec<Value> {
    let dir = logpush_golden_dir().join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read golden dir {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with("-expected.json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no expected file in {}", dir.display());
    let dataset = format!("cloudflare_logpush.{name}");
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read golden file {}: {e}", path.display()));
        let v: Value = serde_json::from_str(&text).expect("golden file is JSON");
        for d in v["expected"].as_array().expect("expected array") {
            if d.is_null() {
                continue;
            }
            let mut d = d.clone();
            d["data_stream"] = json!({"type": "logs", "dataset": dataset, "namespace": namespace});
            d["event"]["dataset"] = json!(dataset);
            d["event"]["module"] = json!("cloudflare_logpush");
            out.push(d);
        }
    }
    out
}

pub fn sha1_hex(b: &[u8]) -> String {
    Sha1::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

/// Index requests for `docs` into `index`, `_id` = sha1 of the compact document.
pub fn requests(index: &str, docs: &[Value]) -> Vec<IndexRequest> {
    docs.iter()
        .map(|d| {
            let src = serde_json::to_vec(d).expect("serialise");
            IndexRequest {
                index: index.to_string(),
                id: sha1_hex(&src),
                source: Bytes::from(src),
            }
        })
        .collect()
}

/// Minimal HTTP client for assertions.
pub struct Es {
    pub url: String,
    client: reqwest::Client,
}

impl Es {
    pub fn new(url: &str) -> Self {
        Es {
            url: url.to_string(),
            client: reqwest::Client::new(),
        }
    }

    pub async fn req(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut rb = self.client.request(method, format!("{}{path}", self.url));
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&b).expect("json"));
        }
        let r = rb.send().await.expect("request to test server");
        let status = r.status().as_u16();
        let bytes = r.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn refresh(&self, index: &str) {
        let (s, b) = self
            .req(reqwest::Method::POST, &format!("/{index}/_refresh"), None)
            .await;
        assert!(s < 300, "refresh {index}: {s} {b}");
    }

    pub async fn count(&self, index: &str, query: Option<Value>) -> u64 {
        self.refresh(index).await;
        let body = query.map(|q| json!({ "query": q }));
        let (s, b) = self
            .req(reqwest::Method::POST, &format!("/{index}/_count"), body)
            .await;
        assert_eq!(s, 200, "count {index}: {b}");
        b["count"].as_u64().expect("count")
    }

    /// Dotted field → type of the (single) backing index of `index`, plus backing index names.
    pub async fn mapping_types(&self, index: &str) -> (BTreeMap<String, String>, Vec<String>) {
        let (s, b) = self
            .req(reqwest::Method::GET, &format!("/{index}/_mapping"), None)
            .await;
        assert_eq!(s, 200, "mapping {index}: {b}");
        let obj = b.as_object().expect("mapping object");
        let mut out = BTreeMap::new();
        for m in obj.values() {
            walk_mapping("", &m["mappings"]["properties"], &mut out);
        }
        (out, obj.keys().cloned().collect())
    }
}

fn walk_mapping(prefix: &str, props: &Value, out: &mut BTreeMap<String, String>) {
    let Some(map) = props.as_object() else { return };
    for (k, v) in map {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if let Some(t) = v.get("type").and_then(Value::as_str) {
            out.insert(path.clone(), t.to_string());
        } else if v.get("properties").is_some() {
            // plain object
        } else if v.get("enabled") == Some(&Value::Bool(false)) {
            out.insert(path.clone(), "object".to_string());
        }
        if let Some(p) = v.get("properties") {
            walk_mapping(&path, p, out);
        }
    }
}

/// Fields a document emits, stopping at fields whose expected type is a whole-object type
/// (geo_point, flattened, flat_object, disabled object); a `nested` field is returned and its
/// sub-fields too. Leaves without an expectation are returned too.
pub fn emitted_fields(doc: &Value, expected: &BTreeMap<String, String>) -> Vec<String> {
    fn walk(prefix: &str, v: &Value, expected: &BTreeMap<String, String>, out: &mut Vec<String>) {
        if !prefix.is_empty() && expected.contains_key(prefix) {
            out.push(prefix.to_string());
            if expected[prefix] != "nested" {
                return;
            }
        }
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&p, x, expected, out);
                }
            }
            Value::Array(a) => {
                for x in a {
                    walk(prefix, x, expected, out);
                }
                if a.is_empty() {
                    out.push(prefix.to_string());
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }
    let mut out = Vec::new();
    walk("", doc, expected, &mut out);
    out.sort();
    out.dedup();
    out
}

/// Value at a dotted path (first element of arrays).
pub fn get_path<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = doc;
    for p in path.split('.') {
        cur = cur.get(p)?;
    }
    match cur {
        Value::Array(a) => a.first(),
        v => Some(v),
    }
}

/// Whether the doc has `value` at `path` (directly or inside an array).
pub fn has_value(doc: &Value, path: &str, value: &Value) -> bool {
    let mut cur = doc;
    for p in path.split('.') {
        match cur.get(p) {
            Some(v) => cur = v,
            None => return false,
        }
    }
    match cur {
        Value::Array(a) => a.contains(value),
        v => v == value,
    }
}

pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/search-engine.sh")
}

/// Run `scripts/search-engine.sh <args>`; returns stdout (trimmed).
pub async fn run_script(args: &[&str], extra_env: &[(&str, &str)]) -> String {
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg(script()).args(args);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("run search-engine.sh");
    assert!(
        out.status.success(),
        "search-engine.sh {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("cfship_elasticsearch=info")
            }),
        )
        .try_init();
}
