//! Cloudflare's side of Logpush, simulated: the jobs API (list, create with the validation upload
//! for HTTP destinations and the ownership challenge for buckets, delete, dataset fields) and a
//! pusher that delivers batches as Cloudflare does — gzipped NDJSON POSTed with the `header_*`
//! headers of `destination_conf` and `User-Agent: Cloudflare-Logpush/1.0`, retried a few times
//! and then dropped, the job's `last_complete` / `last_error` / `error_message` kept up to date and
//! the job disabled after too many failures — or objects written into a bucket. It keeps a ledger
//! of what it counts as delivered, so tests can compare it with Elasticsearch.
//!
//! Used by the tests and `cfship demo`. (It belongs with the Cloudflare API simulator; it lives
//! here until that crate takes it.)

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use futures::future::BoxFuture;
use serde_json::{json, Value};

use crate::datasets;

/// Writes one object into the bucket a destination names (the test's or demo's object store).
pub type BucketWriter =
    Arc<dyn Fn(String, String, Vec<u8>) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// How the pusher behaves.
#[derive(Clone, Debug)]
pub struct PushPolicy {
    /// Attempts per batch before it is dropped ("around five times over five minutes").
    pub attempts: u32,
    pub backoff: Duration,
    /// Consecutive dropped batches after which the job is disabled (Cloudflare: 24 h of failures).
    pub disable_after_drops: u32,
    pub timeout: Duration,
}

impl Default for PushPolicy {
    fn default() -> Self {
        PushPolicy {
            attempts: 5,
            backoff: Duration::from_secs(60),
            disable_after_drops: 288,
            timeout: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Default)]
struct Jobs {
    next_id: u64,
    /// scope path (`zones/Z`) → jobs
    jobs: BTreeMap<String, Vec<Value>>,
    /// destination_conf → issued ownership token
    challenges: HashMap<String, String>,
    consecutive_drops: HashMap<u64, u32>,
}

/// The simulated Logpush service.
pub struct LogpushSim {
    token: String,
    jobs: Mutex<Jobs>,
    bucket: Option<BucketWriter>,
    http: reqwest13::Client,
    pub policy: PushPolicy,
    /// Records of batches answered 2xx (the ledger), batches dropped, POST attempts.
    pub delivered_records: AtomicU64,
    pub dropped_batches: AtomicU64,
    pub dropped_records: AtomicU64,
    pub attempts: AtomicU64,
    delivered: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn env_ok(result: Value) -> Response {
    Json(json!({"success": true, "errors": [], "messages": [], "result": result})).into_response()
}

fn env_err(status: StatusCode, code: i64, message: &str) -> Response {
    (
        status,
        Json(json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null})),
    )
        .into_response()
}

/// The fields the simulator knows per dataset (a few real names each; http_requests has more).
fn dataset_fields(ds: &str) -> Vec<&'static str> {
    match ds {
        "http_requests" => vec![
            "CacheCacheStatus",
            "ClientCountry",
            "ClientIP",
            "ClientRequestHost",
            "ClientRequestMethod",
            "ClientRequestURI",
            "ClientRequestUserAgent",
            "EdgeEndTimestamp",
            "EdgeResponseBytes",
            "EdgeResponseStatus",
            "EdgeStartTimestamp",
            "RayID",
            "ZoneName",
        ],
        "firewall_events" => vec![
            "Action",
            "ClientIP",
            "ClientRequestHost",
            "Datetime",
            "RayID",
            "Source",
        ],
        _ => vec!["Datetime", "Timestamp", "ClientIP", "RayID"],
    }
}

/// `header_<Name>=<value>` parameters of a destination → headers; the URL without them.
pub fn destination_headers(conf: &str) -> (String, Vec<(String, String)>) {
    let Ok(mut url) = url::Url::parse(conf) else {
        return (conf.to_string(), Vec::new());
    };
    let mut headers = Vec::new();
    let mut keep = Vec::new();
    for (k, v) in url.query_pairs() {
        match k.strip_prefix("header_") {
            Some(h) => headers.push((h.to_string(), v.into_owned())),
            None => keep.push((k.into_owned(), v.into_owned())),
        }
    }
    if keep.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(keep);
    }
    (url.to_string(), headers)
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(b);
    e.finish().unwrap_or_default()
}

/// What one delivery attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Status(u16, String),
    Transport(String),
}

impl LogpushSim {
    /// `token`: the API token the jobs API accepts (`Authorization: Bearer`).
    pub fn new(token: &str, bucket: Option<BucketWriter>, policy: PushPolicy) -> Arc<Self> {
        crate::bucket::ensure_crypto_provider();
        Arc::new(LogpushSim {
            token: token.to_string(),
            jobs: Mutex::new(Jobs {
                next_id: 100,
                ..Default::default()
            }),
            bucket,
            http: reqwest13::Client::builder()
                .timeout(policy.timeout)
                .build()
                .unwrap_or_default(),
            policy,
            delivered_records: AtomicU64::new(0),
            dropped_batches: AtomicU64::new(0),
            dropped_records: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            delivered: Mutex::new(Vec::new()),
        })
    }

    /// Uses this client for pushes (e.g. one that trusts a test CA).
    pub fn with_http(self: Arc<Self>, http: reqwest13::Client) -> Arc<Self> {
        match Arc::try_unwrap(self) {
            Ok(mut s) => {
                s.http = http;
                Arc::new(s)
            }
            Err(a) => a,
        }
    }

    /// The records (text) of every batch answered 2xx, in order.
    pub fn delivered(&self) -> Vec<String> {
        lock(&self.delivered).clone()
    }

    /// The jobs of a scope (`zones/Z` / `accounts/A`) as the API shows them.
    pub fn jobs(&self, scope: &str) -> Vec<Value> {
        lock(&self.jobs)
            .jobs
            .get(scope)
            .cloned()
            .unwrap_or_default()
    }

    /// Edits a job (tests: disable it, set an error).
    pub fn update_job(&self, id: u64, f: impl FnOnce(&mut Value)) {
        let mut j = lock(&self.jobs);
        if let Some(job) = j
            .jobs
            .values_mut()
            .flat_map(|l| l.iter_mut())
            .find(|x| x["id"] == json!(id))
        {
            f(job);
        }
    }

    fn authorized(&self, h: &HeaderMap) -> bool {
        h.get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == format!("Bearer {}", self.token))
    }

    /// The jobs API under `/client/v4` (merge into the simulator's router).
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route(
                "/client/v4/{kind}/{id}/logpush/jobs",
                get(list_jobs).post(create_job),
            )
            .route(
                "/client/v4/{kind}/{id}/logpush/jobs/{job}",
                delete(delete_job),
            )
            .route(
                "/client/v4/{kind}/{id}/logpush/datasets/{ds}/fields",
                get(fields),
            )
            .route("/client/v4/{kind}/{id}/logpush/ownership", post(ownership))
            .with_state(self.clone())
    }

    /// Serves [`router`](Self::router) alone on `addr` (tests); returns the API base URL.
    pub async fn serve(
        self: &Arc<Self>,
        addr: SocketAddr,
    ) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
        let l = tokio::net::TcpListener::bind(addr).await?;
        let a = l.local_addr()?;
        let r = self.router();
        let t = tokio::spawn(async move {
            let _ = axum::serve(l, r).await;
        });
        Ok((format!("http://{a}/client/v4"), t))
    }

    fn find_job(&self, id: u64) -> Option<Value> {
        lock(&self.jobs)
            .jobs
            .values()
            .flat_map(|v| v.iter())
            .find(|x| x["id"] == json!(id))
            .cloned()
    }

    /// POSTs one batch body once to an HTTP destination.
    pub async fn post_once(&self, destination_conf: &str, body: Vec<u8>) -> Attempt {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let (url, headers) = destination_headers(destination_conf);
        let mut rb = self
            .http
            .post(url)
            .header("User-Agent", "Cloudflare-Logpush/1.0")
            .header("Content-Encoding", "gzip")
            .body(body);
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        match rb.send().await {
            Ok(r) => {
                let s = r.status().as_u16();
                Attempt::Status(s, r.text().await.unwrap_or_default())
            }
            Err(e) => Attempt::Transport(e.to_string()),
        }
    }

    /// Delivers one batch of a job as Cloudflare does: up to `attempts` tries with backoff, then
    /// the batch is dropped. Updates the job's health. `Ok(true)` when delivered.
    pub async fn push_batch(&self, job_id: u64, records: &[String]) -> Result<bool, String> {
        let job = self
            .find_job(job_id)
            .ok_or_else(|| format!("no job {job_id}"))?;
        if job["enabled"] != json!(true) {
            return Err(format!("job {job_id} is disabled"));
        }
        let dest = job["destination_conf"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut text = Vec::new();
        for r in records {
            text.extend_from_slice(r.as_bytes());
            text.push(b'\n');
        }
        let body = gzip(&text);
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        if crate::bucket::is_bucket_url(&dest) {
            let Some(w) = &self.bucket else {
                return Err("no bucket writer configured".into());
            };
            let key = format!(
                "{}_{}_{:08x}.log.gz",
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
                self.attempts.fetch_add(1, Ordering::Relaxed)
            );
            w(dest, key, body).await?;
            self.delivered_ok(job_id, records, &now);
            return Ok(true);
        }
        let mut last = String::new();
        for attempt in 0..self.policy.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(self.policy.backoff).await;
            }
            match self.post_once(&dest, body.clone()).await {
                Attempt::Status(s, _) if (200..300).contains(&s) => {
                    self.delivered_ok(job_id, records, &now);
                    return Ok(true);
                }
                Attempt::Status(s, t) => last = format!("error uploading: HTTP {s}: {t}"),
                Attempt::Transport(e) => last = format!("error uploading: {e}"),
            }
        }
        self.dropped_batches.fetch_add(1, Ordering::Relaxed);
        self.dropped_records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        let disable = {
            let mut j = lock(&self.jobs);
            let n = j.consecutive_drops.entry(job_id).or_insert(0);
            *n += 1;
            *n >= self.policy.disable_after_drops
        };
        self.update_job(job_id, |v| {
            v["last_error"] = json!(now);
            v["error_message"] = json!(last);
            if disable {
                v["enabled"] = json!(false);
            }
        });
        Ok(false)
    }

    fn delivered_ok(&self, job_id: u64, records: &[String], now: &str) {
        self.delivered_records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        lock(&self.delivered).extend(records.iter().cloned());
        lock(&self.jobs).consecutive_drops.insert(job_id, 0);
        self.update_job(job_id, |v| v["last_complete"] = json!(now));
    }
}

type S = State<Arc<LogpushSim>>;

fn scope_of(kind: &str, id: &str) -> Option<String> {
    matches!(kind, "zones" | "accounts").then(|| format!("{kind}/{id}"))
}

async fn list_jobs(
    State(sim): S,
    Path((kind, id)): Path<(String, String)>,
    h: HeaderMap,
) -> Response {
    if !sim.authorized(&h) {
        return env_err(StatusCode::FORBIDDEN, 10000, "Authentication error");
    }
    let Some(scope) = scope_of(&kind, &id) else {
        return env_err(StatusCode::NOT_FOUND, 7003, "Could not route to the path");
    };
    env_ok(Value::Array(sim.jobs(&scope)))
}

async fn fields(
    State(sim): S,
    Path((kind, id, ds)): Path<(String, String, String)>,
    h: HeaderMap,
) -> Response {
    if !sim.authorized(&h) {
        return env_err(StatusCode::FORBIDDEN, 10000, "Authentication error");
    }
    if scope_of(&kind, &id).is_none() || datasets::DATA_STREAMS.iter().all(|d| d.cloudflare != ds) {
        return env_err(
            StatusCode::BAD_REQUEST,
            1002,
            &format!("invalid dataset: {ds}"),
        );
    }
    let m: serde_json::Map<String, Value> = dataset_fields(&ds)
        .into_iter()
        .map(|f| (f.to_string(), json!(format!("{f} (simulated)"))))
        .collect();
    env_ok(Value::Object(m))
}

async fn ownership(
    State(sim): S,
    Path((kind, id)): Path<(String, String)>,
    h: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !sim.authorized(&h) {
        return env_err(StatusCode::FORBIDDEN, 10000, "Authentication error");
    }
    let Some(scope) = scope_of(&kind, &id) else {
        return env_err(StatusCode::NOT_FOUND, 7003, "Could not route to the path");
    };
    let Some(dest) = body["destination_conf"].as_str().map(str::to_string) else {
        return env_err(
            StatusCode::BAD_REQUEST,
            1002,
            "destination_conf is required",
        );
    };
    if !crate::bucket::is_bucket_url(&dest) {
        return env_err(
            StatusCode::BAD_REQUEST,
            1002,
            "ownership challenge is only for bucket destinations",
        );
    }
    let Some(w) = sim.bucket.clone() else {
        return env_err(
            StatusCode::BAD_REQUEST,
            1002,
            "error writing object: bucket not reachable",
        );
    };
    let n = sim.attempts.fetch_add(1, Ordering::Relaxed);
    let token = format!(
        "{:x}",
        (n + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ scope.len() as u64
    );
    let file = format!("ownership-challenge-{:08x}.txt", n as u32);
    if let Err(e) = w(dest.clone(), file.clone(), token.clone().into_bytes()).await {
        return env_err(
            StatusCode::BAD_REQUEST,
            1002,
            &format!("error writing object: {e}"),
        );
    }
    lock(&sim.jobs).challenges.insert(dest, token);
    env_ok(json!({"filename": file, "message": "", "valid": true}))
}

async fn create_job(
    State(sim): S,
    Path((kind, id)): Path<(String, String)>,
    h: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !sim.authorized(&h) {
        return env_err(StatusCode::FORBIDDEN, 10000, "Authentication error");
    }
    let Some(scope) = scope_of(&kind, &id) else {
        return env_err(StatusCode::NOT_FOUND, 7003, "Could not route to the path");
    };
    let ds = body["dataset"].as_str().unwrap_or_default().to_string();
    let Some(known) = datasets::DATA_STREAMS.iter().find(|d| d.cloudflare == ds) else {
        return env_err(
            StatusCode::BAD_REQUEST,
            1002,
            &format!("invalid dataset: {ds:?}"),
        );
    };
    if known.scope.path() != kind {
        return env_err(
            StatusCode::BAD_REQUEST,
            1002,
            &format!("dataset {ds} is not available for {kind}"),
        );
    }
    let dest = body["destination_conf"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let allowed = dataset_fields(&ds);
    if let Some(f) = body["output_options"]["field_names"].as_array() {
        if let Some(bad) = f
            .iter()
            .filter_map(|x| x.as_str())
            .find(|x| !allowed.contains(x))
        {
            return env_err(
                StatusCode::BAD_REQUEST,
                1002,
                &format!("invalid field name: {bad}"),
            );
        }
    }
    if sim.jobs(&scope).len() >= 4 {
        return env_err(
            StatusCode::BAD_REQUEST,
            1004,
            "creating a new job is not allowed: exceeded max jobs allowed",
        );
    }
    if crate::bucket::is_bucket_url(&dest) {
        let want = lock(&sim.jobs).challenges.get(&dest).cloned();
        if want.is_none() || body["ownership_challenge"].as_str() != want.as_deref() {
            return env_err(StatusCode::BAD_REQUEST, 1002, "invalid ownership challenge");
        }
    } else if dest.starts_with("https://") || dest.starts_with("http://") {
        // the validation upload
        match sim.post_once(&dest, gzip(b"{\"content\":\"tests\"}")).await {
            Attempt::Status(s, _) if (200..300).contains(&s) => {}
            other => {
                tracing::info!(?other, "simulated Logpush: validation upload refused");
                return env_err(
                    StatusCode::BAD_REQUEST,
                    1002,
                    "error validating destination: error writing object: error uploading",
                );
            }
        }
    } else {
        return env_err(
            StatusCode::BAD_REQUEST,
            1002,
            "destination_conf: unsupported scheme",
        );
    }
    let job = {
        let mut j = lock(&sim.jobs);
        j.next_id += 1;
        let job = json!({
            "id": j.next_id, "dataset": ds, "name": body["name"], "enabled": body["enabled"].as_bool().unwrap_or(false),
            "destination_conf": dest, "output_options": body["output_options"],
            "last_complete": null, "last_error": null, "error_message": null,
            "max_upload_bytes": body["max_upload_bytes"], "max_upload_records": body["max_upload_records"],
        });
        j.jobs.entry(scope).or_default().push(job.clone());
        job
    };
    env_ok(job)
}

async fn delete_job(
    State(sim): S,
    Path((kind, id, job)): Path<(String, String, u64)>,
    h: HeaderMap,
) -> Response {
    if !sim.authorized(&h) {
        return env_err(StatusCode::FORBIDDEN, 10000, "Authentication error");
    }
    let Some(scope) = scope_of(&kind, &id) else {
        return env_err(StatusCode::NOT_FOUND, 7003, "Could not route to the path");
    };
    let mut j = lock(&sim.jobs);
    let list = j.jobs.entry(scope).or_default();
    let before = list.len();
    list.retain(|x| x["id"] != json!(job));
    if list.len() == before {
        return env_err(StatusCode::NOT_FOUND, 1003, &format!("job {job} not found"));
    }
    env_ok(json!({"id": job}))
}
