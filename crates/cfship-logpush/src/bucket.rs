//! The bucket reader: Logpush objects written by Cloudflare into S3, R2 (S3 API with its endpoint),
//! GCS or Azure Blob, read through the `object_store` crate.
//!
//! * Listing: the configured prefix, then its daily `YYYYMMDD/` folders (Cloudflare's `{DATE}`
//!   placeholder) in order, then the objects of each folder sorted by key (Cloudflare's names start
//!   with the batch's start time). Folders before `start_date` are not read.
//! * Each object is read as a stream (gunzip, split, transform) and indexed chunk by chunk; only
//!   when every document of it is acknowledged is it recorded as done in the state store (and
//!   deleted when `delete_after` is set). A crash mid-object replays that object; the
//!   deterministic `_id`s make the replay harmless.
//! * An object that is not gzip (or is corrupt) is reported with its name, counted and recorded as
//!   skipped: it is not read again.
//! * Cloudflare's ownership-challenge file (`ownership-challenge-*.txt`) is skipped.
//! * State: per source, the done objects of the folders not yet settled, and a watermark folder
//!   before which everything is done (a folder is settled `settle_days` after a newer folder
//!   appeared), so the state stays small.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cfship_elasticsearch::{BulkDocs, BulkDocsBuilder};
use cfship_secret::Secret;
use cfship_state::CursorStore;
use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use tokio_util::io::{StreamReader, SyncIoBridge};
use tokio_util::sync::CancellationToken;

use crate::datasets::DataStream;
use crate::decode::{decode_batch, BatchError, Encoding, Limits};
use crate::sink::DocSink;
use crate::transform::RecordTransform;

/// One `logpush_bucket:` source.
#[derive(Clone, Debug)]
pub struct BucketConfig {
    /// `s3://bucket/prefix/`, `gs://bucket/prefix/`, `az://container/prefix/` (R2: `s3://` with
    /// `endpoint`).
    pub url: String,
    pub data_stream: &'static DataStream,
    /// Any S3-compatible server (`https://<account>.r2.cloudflarestorage.com` for R2).
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
    /// Further `object_store` options (e.g. `google_service_account`, `azure_storage_account_key`).
    pub options: BTreeMap<String, Secret>,
    /// `YYYYMMDD`: daily folders before it are not read.
    pub start_date: Option<String>,
    /// Delete each object once all its documents are acknowledged.
    pub delete_after: bool,
    pub poll_interval: Duration,
    pub settle_days: u32,
    pub limits: Limits,
    /// Documents per indexing call.
    pub chunk_docs: usize,
}

impl BucketConfig {
    pub fn new(url: impl Into<String>, data_stream: &'static DataStream) -> Self {
        BucketConfig {
            url: url.into(),
            data_stream,
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            options: BTreeMap::new(),
            start_date: None,
            delete_after: false,
            poll_interval: Duration::from_secs(60),
            settle_days: 2,
            limits: Limits::default(),
            chunk_docs: 2000,
        }
    }

    /// The state store key of this source.
    pub fn state_key(&self) -> String {
        let h = cfship_ecs::fingerprint::fingerprint_str(&format!(
            "{}|{}",
            self.url, self.data_stream.name
        ));
        let short: String = h
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(12)
            .collect();
        format!("logpush-bucket-{}-{short}", self.data_stream.name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    #[error("bucket {url}: {reason}")]
    Config { url: String, reason: String },
    #[error("bucket {url}: {source}")]
    Store {
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error("bucket {url}: state: {source}")]
    State {
        url: String,
        #[source]
        source: cfship_state::StateError,
    },
    #[error("bucket {url}: object {key}: indexing failed: {reason}")]
    Sink {
        url: String,
        key: String,
        reason: String,
    },
    #[error("bucket {url}: object {key}: {reason}")]
    Read {
        url: String,
        key: String,
        reason: String,
    },
}

impl BucketError {
    /// A checkpoint refused because the source's state document changed under this reader (with
    /// leases: another replica holds the source now). The reader must stop: going on would only
    /// index objects the owner indexes (the cursor itself can never move).
    pub fn is_lease_lost(&self) -> bool {
        matches!(
            self,
            BucketError::State {
                source: cfship_state::StateError::Conflict { .. },
                ..
            }
        )
    }
}

/// What is done, persisted in the state store.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BucketState {
    pub version: u32,
    /// Every folder (relative to the prefix) sorting before this one is done.
    #[serde(default)]
    pub done_before: Option<String>,
    /// Folder → object names done (indexed or skipped as bad).
    #[serde(default)]
    pub done: BTreeMap<String, BTreeSet<String>>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct BucketStats {
    pub objects_done: AtomicU64,
    pub objects_bad: AtomicU64,
    pub objects_deleted: AtomicU64,
    pub documents: AtomicU64,
    pub pipeline_errors: AtomicU64,
    pub list_errors: AtomicU64,
    pub read_errors: AtomicU64,
    /// Objects listed and not done yet (gauge, updated as the pass goes).
    pub pending_objects: AtomicU64,
    /// When the oldest object not done yet was written (Unix seconds; 0 when none is pending):
    /// the bucket's lag is now minus this.
    pub oldest_pending_unix: AtomicI64,
    /// End of the last complete pass (Unix seconds).
    pub last_pass_unix: AtomicI64,
    /// The last failed pass: when (Unix ms) and why (the error names the bucket and object, never
    /// a credential).
    last_error: std::sync::Mutex<Option<(i64, String)>>,
}

/// The longest error message kept for reports (longer ones are cut).
const MAX_ERROR_LEN: usize = 1000;

impl BucketStats {
    /// The last failed pass: (Unix ms, message).
    pub fn last_error(&self) -> Option<(i64, String)> {
        match self.last_error.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set_last_error(&self, e: &BucketError) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let mut msg = e.to_string();
        if msg.len() > MAX_ERROR_LEN {
            let mut cut = MAX_ERROR_LEN;
            while !msg.is_char_boundary(cut) {
                cut -= 1;
            }
            msg.truncate(cut);
            msg.push('…');
        }
        let mut g = match self.last_error.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g = Some((now, msg));
    }
}

impl BucketStats {
    /// now − the write time of the oldest object not read yet; 0 when caught up.
    pub fn lag_seconds(&self, now_unix: i64) -> i64 {
        match self.oldest_pending_unix.load(Ordering::Relaxed) {
            0 => 0,
            t => (now_unix - t).max(0),
        }
    }
}

impl BucketStats {
    pub fn render(&self, source: &str, out: &mut String) {
        use std::fmt::Write as _;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        for (k, v) in [
            ("objects_done", &self.objects_done),
            ("objects_bad", &self.objects_bad),
            ("objects_deleted", &self.objects_deleted),
            ("documents", &self.documents),
            ("pipeline_errors", &self.pipeline_errors),
            ("list_errors", &self.list_errors),
            ("read_errors", &self.read_errors),
        ] {
            let _ = writeln!(
                out,
                "cfship_logpush_bucket_{k}_total{{source=\"{source}\"}} {}",
                l(v)
            );
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "cfship_logpush_bucket_pending_objects{{source=\"{source}\"}} {}\ncfship_logpush_bucket_lag_seconds{{source=\"{source}\"}} {}",
            l(&self.pending_objects),
            self.lag_seconds(now)
        );
    }
}

/// Installs ring as the process' rustls provider (object_store's HTTP client needs one).
pub(crate) fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the object store and the prefix inside it.
pub fn open_store(cfg: &BucketConfig) -> Result<(Arc<dyn ObjectStore>, ObjPath), BucketError> {
    ensure_crypto_provider();
    let bad = |reason: String| BucketError::Config {
        url: cfg.url.clone(),
        reason,
    };
    let url = url::Url::parse(&cfg.url).map_err(|e| bad(format!("not a URL: {e}")))?;
    let mut opts: Vec<(String, String)> = Vec::new();
    let scheme = url.scheme().to_string();
    if let Some(e) = &cfg.endpoint {
        if scheme != "s3" && scheme != "s3a" {
            return Err(bad(
                "endpoint is only for s3:// (S3-compatible servers, R2)".into(),
            ));
        }
        opts.push(("aws_endpoint".into(), e.clone()));
        if e.starts_with("http://") {
            opts.push(("aws_allow_http".into(), "true".into()));
        }
    }
    if scheme == "s3" || scheme == "s3a" {
        let region = cfg.region.clone().unwrap_or_else(|| {
            // R2 accepts "auto"; any S3-compatible server ignores it
            if cfg.endpoint.is_some() {
                "auto".into()
            } else {
                "us-east-1".into()
            }
        });
        opts.push(("aws_region".into(), region));
        if let Some(k) = &cfg.access_key_id {
            opts.push(("aws_access_key_id".into(), k.expose().to_string()));
        }
        if let Some(k) = &cfg.secret_access_key {
            opts.push(("aws_secret_access_key".into(), k.expose().to_string()));
        }
    } else if cfg.access_key_id.is_some() || cfg.secret_access_key.is_some() {
        return Err(bad(
            "access_key_id/secret_access_key are for s3:// (use options for gs:// and az://)"
                .into(),
        ));
    }
    for (k, v) in &cfg.options {
        opts.push((k.clone(), v.expose().to_string()));
    }
    // never let an error carry the option values (secrets): only the store's own message
    let (store, prefix) =
        object_store::parse_url_opts(&url, opts).map_err(|e| BucketError::Store {
            url: cfg.url.clone(),
            source: e,
        })?;
    Ok((Arc::from(store), prefix))
}

/// Lists the source's prefix once (`cfship check`): the number of objects and folders there.
pub async fn list_top(cfg: &BucketConfig) -> Result<usize, BucketError> {
    let (store, prefix) = open_store(cfg)?;
    let top = store
        .list_with_delimiter(Some(&prefix))
        .await
        .map_err(|source| BucketError::Store {
            url: cfg.label(),
            source,
        })?;
    Ok(top.objects.len() + top.common_prefixes.len())
}

fn is_day_folder(name: &str) -> bool {
    name.len() == 8 && name.bytes().all(|b| b.is_ascii_digit())
}

fn is_challenge(name: &str) -> bool {
    name.starts_with("ownership-challenge")
}

/// The bucket reader of one source.
pub struct BucketReader {
    cfg: BucketConfig,
    store: Arc<dyn ObjectStore>,
    prefix: ObjPath,
    state: Arc<CursorStore>,
    transform: Arc<dyn RecordTransform>,
    sink: Arc<dyn DocSink>,
    pub stats: Arc<BucketStats>,
}

impl BucketReader {
    pub fn new(
        cfg: BucketConfig,
        state: Arc<CursorStore>,
        transform: Arc<dyn RecordTransform>,
        sink: Arc<dyn DocSink>,
    ) -> Result<Self, BucketError> {
        let (store, prefix) = open_store(&cfg)?;
        Ok(BucketReader {
            cfg,
            store,
            prefix,
            state,
            transform,
            sink,
            stats: Arc::new(BucketStats::default()),
        })
    }

    fn load_state(&self) -> Result<BucketState, BucketError> {
        self.state
            .load::<BucketState>(&self.cfg.state_key())
            .map(|s| {
                s.unwrap_or(BucketState {
                    version: 1,
                    ..Default::default()
                })
            })
            .map_err(|source| BucketError::State {
                url: self.cfg.url.clone(),
                source,
            })
    }

    fn save_state(&self, st: &BucketState) -> Result<(), BucketError> {
        self.state
            .save(&self.cfg.state_key(), st)
            .map_err(|source| BucketError::State {
                url: self.cfg.url.clone(),
                source,
            })
    }

    fn store_err(&self, source: object_store::Error) -> BucketError {
        BucketError::Store {
            url: self.cfg.url.clone(),
            source,
        }
    }

    /// The source's configuration.
    pub fn config(&self) -> &BucketConfig {
        &self.cfg
    }

    /// Polls until `cancel`: one [`pass`](Self::pass) every `poll_interval`; errors are logged and
    /// retried at the next poll, except a checkpoint refused because another writer changed the
    /// source's state ([`BucketError::is_lease_lost`]): that ends the run with the error.
    pub async fn run(&self, cancel: CancellationToken) -> Result<(), BucketError> {
        loop {
            match self.pass(&cancel).await {
                Ok(n) if n > 0 => {
                    tracing::info!(source = %self.cfg.label(), objects = n, "logpush bucket: objects indexed")
                }
                Ok(_) => {}
                Err(e) if e.is_lease_lost() => {
                    self.stats.set_last_error(&e);
                    return Err(e);
                }
                Err(e) => {
                    self.stats.set_last_error(&e);
                    tracing::warn!(error = %e, "logpush bucket: pass failed; retried at the next poll")
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(self.cfg.poll_interval) => {}
            }
        }
    }

    /// Lists the prefix and reads every object not done yet, in order. Returns the objects done
    /// in this pass (indexed or skipped as bad).
    pub async fn pass(&self, cancel: &CancellationToken) -> Result<u64, BucketError> {
        let mut st = self.load_state()?;
        let top = self
            .store
            .list_with_delimiter(Some(&self.prefix))
            .await
            .map_err(|e| {
                self.stats.list_errors.fetch_add(1, Ordering::Relaxed);
                self.store_err(e)
            })?;
        // folders: the daily ones (and the top level itself, for jobs without {DATE})
        let mut folders: Vec<(String, Option<ObjPath>)> = Vec::new();
        folders.push((String::new(), None));
        let mut days: Vec<(String, ObjPath)> = top
            .common_prefixes
            .iter()
            .filter_map(|p| {
                let name = p.filename()?.to_string();
                is_day_folder(&name).then(|| (name, p.clone()))
            })
            .collect();
        days.sort();
        for (name, p) in days {
            if self
                .cfg
                .start_date
                .as_deref()
                .is_some_and(|s| name.as_str() < s)
            {
                continue;
            }
            if st.done_before.as_deref().is_some_and(|w| name.as_str() < w) {
                continue;
            }
            folders.push((name, Some(p)));
        }
        let mut n = 0u64;
        let mut todo: Vec<(String, Vec<object_store::ObjectMeta>)> = Vec::new();
        for (folder, path) in &folders {
            let objects = match path {
                None => top.objects.clone(),
                Some(p) => {
                    let mut v: Vec<_> =
                        self.store.list(Some(p)).try_collect().await.map_err(|e| {
                            self.stats.list_errors.fetch_add(1, Ordering::Relaxed);
                            self.store_err(e)
                        })?;
                    v.retain(|m| {
                        m.location
                            .prefix_match(p)
                            .is_some_and(|rest| rest.count() == 1)
                    });
                    v
                }
            };
            let mut objects = objects;
            objects.sort_by(|a, b| a.location.as_ref().cmp(b.location.as_ref()));
            objects.retain(|meta| {
                let name = meta.location.filename().unwrap_or_default();
                !(name.is_empty()
                    || is_challenge(name)
                    || st.done.get(folder).is_some_and(|s| s.contains(name)))
            });
            todo.push((folder.clone(), objects));
        }
        // in reading order, with the oldest write time from each one on (the lag while reading)
        let todo: Vec<(String, object_store::ObjectMeta)> = todo
            .into_iter()
            .flat_map(|(f, objs)| objs.into_iter().map(move |m| (f.clone(), m)))
            .collect();
        let mut oldest_from = vec![0i64; todo.len()];
        let mut min = i64::MAX;
        for (i, (_, m)) in todo.iter().enumerate().rev() {
            min = min.min(m.last_modified.timestamp());
            oldest_from[i] = min;
        }
        for (i, (folder, meta)) in todo.iter().enumerate() {
            self.stats
                .pending_objects
                .store((todo.len() - i) as u64, Ordering::Relaxed);
            self.stats
                .oldest_pending_unix
                .store(oldest_from[i], Ordering::Relaxed);
            if cancel.is_cancelled() {
                return Ok(n);
            }
            {
                let name = meta.location.filename().unwrap_or_default().to_string();
                self.read_object(&meta.location).await?;
                st.done.entry(folder.clone()).or_default().insert(name);
                self.save_state(&st)?;
                n += 1;
                if self.cfg.delete_after {
                    match self.store.delete(&meta.location).await {
                        Ok(()) => {
                            self.stats.objects_deleted.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            tracing::warn!(object = %meta.location, error = %e, "logpush bucket: delete after success failed (the object stays; it is recorded as done)")
                        }
                    }
                }
            }
        }
        self.stats.pending_objects.store(0, Ordering::Relaxed);
        self.stats.oldest_pending_unix.store(0, Ordering::Relaxed);
        self.stats.last_pass_unix.store(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
            Ordering::Relaxed,
        );
        // settle: every folder older than the newest `settle_days + 1` is done for good
        let days: Vec<&String> = folders
            .iter()
            .map(|(f, _)| f)
            .filter(|f| !f.is_empty())
            .collect();
        let keep = self.cfg.settle_days as usize;
        if days.len() > keep + 1 {
            let watermark = days[days.len() - 1 - keep].clone();
            if st
                .done_before
                .as_deref()
                .is_none_or(|w| w < watermark.as_str())
            {
                st.done
                    .retain(|f, _| f.is_empty() || f.as_str() >= watermark.as_str());
                st.done_before = Some(watermark);
                self.save_state(&st)?;
            }
        }
        Ok(n)
    }

    /// Reads one object and indexes all its documents; a non-gzip or corrupt object is reported
    /// and counted (Ok: it is recorded as done and not read again).
    async fn read_object(&self, key: &ObjPath) -> Result<(), BucketError> {
        let get = self.store.get(key).await.map_err(|e| {
            self.stats.read_errors.fetch_add(1, Ordering::Relaxed);
            self.store_err(e)
        })?;
        let stream = get
            .into_stream()
            .map_err(|e| std::io::Error::other(e.to_string()));
        let reader = SyncIoBridge::new(StreamReader::new(stream));
        let (tx, mut rx) = tokio::sync::mpsc::channel::<BulkDocs>(2);
        let transform = self.transform.clone();
        let ds = self.cfg.data_stream;
        let limits = self.cfg.limits;
        let chunk_docs = self.cfg.chunk_docs.max(1);
        let decoder = tokio::task::spawn_blocking(move || {
            let mut chunk = BulkDocsBuilder::new();
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            let r = decode_batch(
                reader,
                Encoding::Gzip,
                limits,
                ds,
                transform.as_ref(),
                now_ms,
                &mut |d| {
                    chunk.push_parts(d.index, d.id, d.source);
                    if chunk.len() >= chunk_docs && tx.blocking_send(chunk.take()).is_err() {
                        return Err(crate::spool::SpoolError::Io {
                            path: String::new(),
                            source: std::io::Error::other("indexing stopped"),
                        });
                    }
                    Ok(())
                },
            );
            if r.is_ok() && !chunk.is_empty() {
                let _ = tx.blocking_send(chunk.finish());
            }
            r
        });
        let mut sink_err = None;
        while let Some(chunk) = rx.recv().await {
            let n = chunk.len() as u64;
            if let Err(e) = self.sink.index(chunk).await {
                sink_err = Some(e);
                break;
            }
            self.stats.documents.fetch_add(n, Ordering::Relaxed);
        }
        drop(rx);
        let res = decoder.await.map_err(|e| BucketError::Read {
            url: self.cfg.url.clone(),
            key: key.to_string(),
            reason: format!("decoder task failed: {e}"),
        })?;
        if let Some(reason) = sink_err {
            return Err(BucketError::Sink {
                url: self.cfg.url.clone(),
                key: key.to_string(),
                reason,
            });
        }
        match res {
            Ok(s) => {
                self.stats
                    .pipeline_errors
                    .fetch_add(s.errors, Ordering::Relaxed);
                self.stats.objects_done.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(
                e @ (BatchError::NotGzip(_)
                | BatchError::Gzip { .. }
                | BatchError::NotNdjson(_)
                | BatchError::Empty
                | BatchError::TooLarge(_)),
            ) => {
                // documents of a corrupt object that were indexed before the error stay (they are
                // whole records); the object is not read again
                self.stats.objects_bad.fetch_add(1, Ordering::Relaxed);
                tracing::error!(source = %self.cfg.url, object = %key, error = %e, "logpush bucket: object skipped");
                Ok(())
            }
            Err(e) => {
                self.stats.read_errors.fetch_add(1, Ordering::Relaxed);
                Err(BucketError::Read {
                    url: self.cfg.url.clone(),
                    key: key.to_string(),
                    reason: e.to_string(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_day_folder("20261201"));
        assert!(!is_day_folder("2026120"));
        assert!(!is_day_folder("2026-12-1"));
        assert!(is_challenge("ownership-challenge-1a2b3c4d.txt"));
        assert!(!is_challenge(
            "20261201T000000Z_20261201T000030Z_ab12cd34.log.gz"
        ));
    }

    #[test]
    fn config_errors_never_show_secrets() {
        let ds = crate::datasets::find("http_request").unwrap_or(&crate::DATA_STREAMS[0]);
        let mut c = BucketConfig::new("gs://b/p/", ds);
        c.secret_access_key = Some(Secret::new("TOPSECRETVALUE"));
        let e = open_store(&c)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("s3://"), "{e}");
        assert!(!e.contains("TOPSECRETVALUE"));
        let c = BucketConfig::new("not a url", ds);
        assert!(open_store(&c).is_err());
    }
}
