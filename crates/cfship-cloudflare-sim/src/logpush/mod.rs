//! Cloudflare's side of Logpush, simulated: the jobs API (list, create with the validation upload
//! for HTTP destinations and the ownership challenge for buckets, delete, dataset fields) and a
//! pusher that delivers as Cloudflare does (docs/logpush-delivery.md, "The simulated pusher"):
//!
//! * records are cut into batches by the job's `max_upload_records` / `max_upload_bytes`
//!   (uncompressed; Cloudflare's defaults 100 000 records, 1 GB when unset);
//! * a batch is gzipped NDJSON, POSTed with `Content-Encoding: gzip`,
//!   `User-Agent: Cloudflare-Logpush/1.0` and one header per `header_<Name>=<value>` parameter of
//!   `destination_conf` (URL-decoded; the other query parameters stay in the URL);
//! * a failed POST (transport error or a non-2xx status) is retried after [`PushPolicy::backoff`]
//!   up to [`PushPolicy::attempts`] times ("around five times over five minutes"), then the batch
//!   is **dropped**: counted, the job's `last_error` / `error_message` set, and after
//!   [`PushPolicy::disable_after_drops`] consecutive drops the job is disabled;
//! * a bucket job writes each batch as one gzipped object `<start>_<end>_<n>.log.gz` into its
//!   folder, `{DATE}` replaced by the day (`YYYYMMDD`).
//!
//! It keeps a ledger of what it counts as delivered, so tests compare it with Elasticsearch.

mod api;
pub mod datasets;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

pub use datasets::{
    dataset_fields, dataset_scope, is_bucket_url, BucketTarget, DatasetScope, DATASETS,
    LOGPUSH_ONLY_HTTP_FIELDS,
};

/// Writes one object: `(bucket, key, gzipped body)` (the test's or demo's object store). The key
/// is the whole path inside the bucket.
pub type BucketWriter = Arc<
    dyn Fn(String, String, Vec<u8>) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
        + Send
        + Sync,
>;

/// How the pusher behaves.
#[derive(Clone, Debug)]
pub struct PushPolicy {
    /// Attempts per batch before it is dropped ("around five times over five minutes").
    pub attempts: u32,
    /// Wait between two attempts of a batch.
    pub backoff: Duration,
    /// Consecutive dropped batches after which the job is disabled (Cloudflare: 24 h of failures).
    pub disable_after_drops: u32,
    /// Per POST.
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

/// Cloudflare's batch limits when a job leaves them unset.
pub const DEFAULT_MAX_UPLOAD_RECORDS: usize = 100_000;
pub const DEFAULT_MAX_UPLOAD_BYTES: usize = 1_000_000_000;

#[derive(Debug, Default)]
struct Jobs {
    next_id: u64,
    /// scope path (`zones/Z`) → jobs
    jobs: BTreeMap<String, Vec<Value>>,
    /// destination_conf → issued ownership token
    challenges: HashMap<String, String>,
    consecutive_drops: HashMap<u64, u32>,
}

/// What one delivery attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Status(u16, String),
    Transport(String),
}

/// What [`LogpushSim::push_records`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// Batches delivered / dropped, and the records in each kind.
    pub delivered_batches: usize,
    pub delivered_records: usize,
    pub dropped_batches: usize,
    pub dropped_records: usize,
}

/// The simulated Logpush service.
pub struct LogpushSim {
    token: String,
    jobs: Mutex<Jobs>,
    bucket: Option<BucketWriter>,
    http: reqwest::Client,
    objects: AtomicU64,
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

/// Gzip, as Cloudflare compresses every batch and object.
pub fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(b);
    e.finish().unwrap_or_default()
}

/// The gzipped body of Cloudflare's validation upload (`test.txt.gz`).
pub fn validation_body() -> Vec<u8> {
    gzip(br#"{"content":"tests"}"#)
}

/// Cuts `records` into batches of at most `max_records` records and `max_bytes` bytes of NDJSON
/// (a single record larger than `max_bytes` is a batch alone).
pub fn batches(records: &[String], max_records: usize, max_bytes: usize) -> Vec<&[String]> {
    let (max_records, max_bytes) = (max_records.max(1), max_bytes.max(1));
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, r) in records.iter().enumerate() {
        let len = r.len() + 1;
        if i > start && (i - start >= max_records || bytes + len > max_bytes) {
            out.push(&records[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += len;
    }
    if start < records.len() {
        out.push(&records[start..]);
    }
    out
}

impl LogpushSim {
    /// `token`: the API token the jobs API accepts (`Authorization: Bearer`); `bucket`: where bucket
    /// jobs write (and the ownership challenge goes).
    pub fn new(token: &str, bucket: Option<BucketWriter>, policy: PushPolicy) -> Arc<Self> {
        Arc::new(LogpushSim {
            token: token.to_string(),
            jobs: Mutex::new(Jobs {
                next_id: 100,
                ..Default::default()
            }),
            bucket,
            http: reqwest::Client::builder()
                .timeout(policy.timeout)
                .build()
                .unwrap_or_default(),
            objects: AtomicU64::new(0),
            policy,
            delivered_records: AtomicU64::new(0),
            dropped_batches: AtomicU64::new(0),
            dropped_records: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            delivered: Mutex::new(Vec::new()),
        })
    }

    /// The records (text) of every batch delivered, in order.
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

    /// The jobs API under `/client/v4` (merge into another router, or [`serve`](Self::serve)).
    pub fn router(self: &Arc<Self>) -> axum::Router {
        api::router(self.clone())
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

    /// POSTs one (gzipped) body once to an HTTP destination, with Cloudflare's headers.
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

    /// Writes one object through the bucket writer.
    async fn put_object(
        &self,
        dest: &str,
        key_of: impl FnOnce(&BucketTarget) -> String,
        body: Vec<u8>,
    ) -> Result<String, String> {
        let Some(w) = &self.bucket else {
            return Err("no bucket writer configured".into());
        };
        let t =
            BucketTarget::parse(dest).ok_or_else(|| format!("not a bucket destination: {dest}"))?;
        let key = key_of(&t);
        w(t.bucket.clone(), key.clone(), body).await?;
        Ok(key)
    }

    /// Delivers `records` of a job as Cloudflare does: cut into batches by the job's
    /// `max_upload_records` / `max_upload_bytes`, each pushed with [`push_batch`](Self::push_batch).
    /// Stops at the first error (unknown or disabled job).
    pub async fn push_records(
        &self,
        job_id: u64,
        records: &[String],
    ) -> Result<PushReport, String> {
        let job = self
            .find_job(job_id)
            .ok_or_else(|| format!("no job {job_id}"))?;
        let limit =
            |k: &str, d: usize| job[k].as_u64().filter(|n| *n > 0).map_or(d, |n| n as usize);
        let max_records = limit("max_upload_records", DEFAULT_MAX_UPLOAD_RECORDS);
        let max_bytes = limit("max_upload_bytes", DEFAULT_MAX_UPLOAD_BYTES);
        let mut rep = PushReport::default();
        for b in batches(records, max_records, max_bytes) {
            if self.push_batch(job_id, b).await? {
                rep.delivered_batches += 1;
                rep.delivered_records += b.len();
            } else {
                rep.dropped_batches += 1;
                rep.dropped_records += b.len();
            }
        }
        Ok(rep)
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
        let now = chrono::Utc::now();
        let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut last = String::new();
        for attempt in 0..self.policy.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(self.policy.backoff).await;
            }
            let outcome = if is_bucket_url(&dest) {
                let n = self.objects.fetch_add(1, Ordering::Relaxed);
                let t = now.format("%Y%m%dT%H%M%SZ");
                let day = now.format("%Y%m%d").to_string();
                let name = format!("{t}_{t}_{n:08x}.log.gz");
                self.attempts.fetch_add(1, Ordering::Relaxed);
                self.put_object(&dest, |b| b.key(&day, &name), body.clone())
                    .await
                    .map(|_| ())
            } else {
                match self.post_once(&dest, body.clone()).await {
                    Attempt::Status(s, _) if (200..300).contains(&s) => Ok(()),
                    Attempt::Status(s, t) => Err(format!("HTTP {s}: {t}")),
                    Attempt::Transport(e) => Err(e),
                }
            };
            match outcome {
                Ok(()) => {
                    self.delivered_ok(job_id, records, &stamp);
                    return Ok(true);
                }
                Err(e) => last = format!("error uploading: {e}"),
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
            v["last_error"] = json!(stamp);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_parameters_become_headers() {
        let (url, h) = destination_headers(
            "https://logs.example.com:9560/cloudflare_logpush/http_request?header_X-Logpush-Secret=a%20b%26c&keep=1&header_Content-Type=application%2Fjson",
        );
        assert_eq!(
            url,
            "https://logs.example.com:9560/cloudflare_logpush/http_request?keep=1"
        );
        assert_eq!(
            h,
            vec![
                ("X-Logpush-Secret".to_string(), "a b&c".to_string()),
                ("Content-Type".to_string(), "application/json".to_string())
            ]
        );
    }

    #[test]
    fn batches_by_records_and_bytes() {
        let recs: Vec<String> = (0..10).map(|i| format!("{{\"i\":{i}}}")).collect();
        let b = batches(&recs, 4, usize::MAX);
        assert_eq!(b.iter().map(|x| x.len()).collect::<Vec<_>>(), vec![4, 4, 2]);
        // each record is 8 bytes with its newline: 3 fit in 24
        let b = batches(&recs, 100, 24);
        assert_eq!(
            b.iter().map(|x| x.len()).collect::<Vec<_>>(),
            vec![3, 3, 3, 1]
        );
        let b = batches(&recs, 100, 1);
        assert_eq!(b.len(), 10, "a record over the byte limit is a batch alone");
        assert!(batches(&[], 4, 4).is_empty());
    }

    #[test]
    fn validation_body_is_gzipped_tests() {
        use std::io::Read;
        let mut s = String::new();
        flate2::read::GzDecoder::new(&validation_body()[..])
            .read_to_string(&mut s)
            .expect("gunzip");
        assert_eq!(s, r#"{"content":"tests"}"#);
    }
}
