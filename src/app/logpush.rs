//! The Logpush sources of a configuration: `logpush:` (the HTTPS destination, its spool) and
//! `logpush_bucket:` (bucket readers), mapped onto `cfship-logpush`'s components and run next to
//! the pull sources with the run's shutdown, outputs and metrics (docs/logpush-delivery.md).
//!
//! Documents reach the outputs through [`LogpushOutput`], one per source: Elasticsearch (the run's
//! sink: `create` with deterministic `_id`s, so a re-sent chunk only makes duplicates), the file
//! output (`{dataset}` = `logpush-<data stream>`; the ids of the last million documents of each
//! source are remembered, so a re-delivered batch is not appended twice — after a restart the
//! file may repeat the documents of a batch re-sent across it) and the demo summary.

use crate::config::{Config, ConfigError};
use crate::metrics::{LogpushProbe, Metrics};
use crate::output::{FileWriter, SummaryOutput};
use crate::pipeline::PipelineOptions;
use crate::sync::lock;
use cfship_elasticsearch::{BulkDocs, ElasticsearchSink, IndexTemplate};
use cfship_logpush::{
    BucketConfig, BucketReader, DataStream, DocSink, EcsTransform, ReceiverConfig, RecordTransform,
    SecretHeader, SettingError, Shape, Spool, TlsFiles,
};
use cfship_secret::Secret;
use cfship_state::CursorStore;
use futures::future::BoxFuture;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Default spool size limit (MiB).
pub const DEFAULT_SPOOL_MIB: u64 = 4096;
/// Default largest body (MiB uncompressed): Cloudflare's `max_upload_bytes` reaches 1000.
pub const DEFAULT_MAX_BODY_MIB: u64 = 1100;

/// The HTTPS destination of a configuration and its spool.
#[derive(Debug, Clone)]
pub struct ReceiverSettings {
    pub receiver: ReceiverConfig,
    pub spool_dir: PathBuf,
    pub spool_max_bytes: u64,
}

fn setting(cfg: &Config, e: SettingError) -> ConfigError {
    // the line of the last part of a dotted key (`tls.cert` → `cert:` after `logpush:`)
    let key = e.key.rsplit('.').next().unwrap_or(e.key);
    cfg.error_at(e.section, key, &e.to_string())
}

fn data_stream(
    cfg: &Config,
    section: &str,
    key: &str,
    name: &str,
) -> Result<&'static DataStream, ConfigError> {
    cfship_logpush::datasets::find(name.trim()).ok_or_else(|| {
        cfg.error_at(
            section,
            key,
            &format!(
                "`{section}.{key}` {name:?} is not a Logpush data stream: one of {} (or Cloudflare's dataset id, e.g. http_requests)",
                cfship_logpush::datasets::names()
            ),
        )
    })
}

/// The receiver configuration of `logpush:` (None without the section), checked by the
/// receiver's own rules.
pub fn receiver_settings(cfg: &Config) -> Result<Option<ReceiverSettings>, ConfigError> {
    let Some(lp) = &cfg.logpush else {
        return Ok(None);
    };
    let listen = lp.listen.trim().parse().map_err(|_| {
        cfg.error_at(
            "logpush",
            "listen",
            &format!(
                "`logpush.listen` {:?} is not host:port (e.g. 0.0.0.0:9560)",
                lp.listen
            ),
        )
    })?;
    let mut r = ReceiverConfig::new(listen);
    r.tls = lp.tls.as_ref().map(|t| TlsFiles {
        cert: t.cert.clone(),
        key: t.key.clone(),
    });
    r.secret = lp.secret.as_ref().map(|s| SecretHeader {
        header: s.header.trim().to_string(),
        value: Secret::new(s.value.expose()),
    });
    for (path, ds) in &lp.paths {
        r.paths
            .insert(path.clone(), data_stream(cfg, "logpush", "paths", ds)?);
    }
    r.limits.max_body_bytes = lp.max_body_mib.unwrap_or(DEFAULT_MAX_BODY_MIB) << 20;
    if let Some(n) = lp.max_concurrent {
        r.max_concurrent = n;
    }
    r.validate().map_err(|e| setting(cfg, e))?;
    let max_mib = lp.spool.max_mib.unwrap_or(DEFAULT_SPOOL_MIB);
    if max_mib == 0 {
        return Err(cfg.error_at(
            "spool",
            "max_mib",
            "`logpush.spool.max_mib` must be greater than zero",
        ));
    }
    Ok(Some(ReceiverSettings {
        receiver: r,
        spool_dir: lp
            .spool
            .dir
            .clone()
            .unwrap_or_else(|| cfg.state.dir.join("logpush-spool")),
        spool_max_bytes: max_mib << 20,
    }))
}

/// The bucket reader configurations of `logpush_bucket:`, checked by the reader's own rules.
pub fn bucket_configs(cfg: &Config) -> Result<Vec<BucketConfig>, ConfigError> {
    let mut out = Vec::new();
    for b in cfg.logpush_bucket.iter().flatten() {
        let ds = data_stream(cfg, "logpush_bucket", "dataset", &b.dataset)?;
        let mut c = BucketConfig::new(b.url.trim(), ds);
        c.endpoint = b.endpoint.clone();
        c.region = b.region.clone();
        c.access_key_id = b.access_key_id.as_ref().map(|s| Secret::new(s.expose()));
        c.secret_access_key = b
            .secret_access_key
            .as_ref()
            .map(|s| Secret::new(s.expose()));
        c.options = b
            .options
            .iter()
            .map(|(k, v)| (k.clone(), Secret::new(v.expose())))
            .collect();
        c.start_date = b.start_date.clone();
        c.delete_after = b.delete_after;
        if let Some(p) = b.poll_interval {
            c.poll_interval = p;
        }
        c.validate().map_err(|e| {
            // the line of this entry's key: search from its url
            let key = e.key;
            let msg = format!("{e} (bucket {})", c.label());
            cfg.error_near(b.url.trim(), key, &msg)
        })?;
        if out
            .iter()
            .any(|o: &BucketConfig| o.state_key() == c.state_key())
        {
            return Err(cfg.error_at(
                "logpush_bucket",
                "url",
                &format!(
                    "`logpush_bucket`: {} with dataset {} is listed twice",
                    c.label(),
                    ds.name
                ),
            ));
        }
        out.push(c);
    }
    Ok(out)
}

/// Every Logpush rule of a configuration (run at load, by `wiring::check_components`).
pub fn check(cfg: &Config) -> Result<(), ConfigError> {
    receiver_settings(cfg)?;
    bucket_configs(cfg)?;
    Ok(())
}

/// The Logpush data streams whose index templates the configuration needs: every one for the
/// HTTPS destination (any job may push to `/cloudflare_logpush/<data stream>`), the buckets' own.
pub fn template_datasets(cfg: &Config) -> Vec<IndexTemplate> {
    let mut v: Vec<IndexTemplate> = Vec::new();
    let mut add = |d: Option<IndexTemplate>| {
        if let Some(d) = d {
            if !v.contains(&d) {
                v.push(d);
            }
        }
    };
    if cfg.logpush.is_some() {
        for ds in cfship_logpush::DATA_STREAMS {
            add(IndexTemplate::logpush(ds.data_stream));
        }
    }
    for b in cfg.logpush_bucket.iter().flatten() {
        if let Some(ds) = cfship_logpush::datasets::find(b.dataset.trim()) {
            add(IndexTemplate::logpush(ds.data_stream));
        }
    }
    v
}

/// `logpush-<data stream>`: the file output's `{dataset}` of a data stream's documents.
fn file_dataset(ds: &'static DataStream) -> &'static str {
    static NAMES: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    NAMES
        .get_or_init(|| {
            cfship_logpush::DATA_STREAMS
                .iter()
                .map(|d| {
                    let s: &'static str = Box::leak(format!("logpush-{}", d.name).into_boxed_str());
                    (d.name, s)
                })
                .collect()
        })
        .get(ds.name)
        .copied()
        .unwrap_or("logpush")
}

/// The data stream of a document, from its index `logs-cloudflare_logpush.<ds>-<namespace>`.
fn data_stream_of(index: &str) -> Option<&'static DataStream> {
    let rest = index.strip_prefix("logs-cloudflare_logpush.")?;
    let (name, _ns) = rest.rsplit_once('-')?;
    cfship_logpush::datasets::find(name)
}

/// The run's outputs as the sink of one Logpush source (the spool's drain or a bucket reader).
/// Ok only when every output holds every document of the chunk.
pub struct LogpushOutput {
    es: Option<ElasticsearchSink>,
    file: Option<FileWriter>,
    summary: Option<Arc<SummaryOutput>>,
    metrics: Arc<Metrics>,
    /// `receiver` or the bucket's label (the `source` label of the counters).
    source: String,
    /// Ids recently appended to the file: a chunk sent again (another output failed, or
    /// Cloudflare delivered the batch twice) does not append them again.
    in_file: Mutex<Recent>,
    /// The same for the demo summary (a re-delivered batch is not counted twice).
    in_summary: Mutex<Recent>,
}

/// The last [`RECENT_IDS`] document ids (hashed) appended to the file output.
#[derive(Default)]
struct Recent {
    set: HashSet<u64>,
    order: VecDeque<u64>,
}

/// How many ids the file output remembers per Logpush source (8 bytes each, twice).
const RECENT_IDS: usize = 1 << 20;

impl Recent {
    fn contains(&self, h: u64) -> bool {
        self.set.contains(&h)
    }

    fn insert(&mut self, h: u64) {
        if self.set.insert(h) {
            self.order.push_back(h);
            while self.order.len() > RECENT_IDS {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

fn id_hash(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

impl LogpushOutput {
    pub fn new(outputs: &super::wiring::Outputs, source: impl Into<String>) -> Arc<Self> {
        Arc::new(LogpushOutput {
            es: outputs.es.clone(),
            file: outputs.file.as_ref().map(|f| f.writer().clone()),
            summary: outputs.summary.clone(),
            metrics: outputs.metrics.clone(),
            source: source.into(),
            in_file: Mutex::default(),
            in_summary: Mutex::default(),
        })
    }

    async fn write_file(&self, w: &FileWriter, docs: &BulkDocs) -> Result<u64, String> {
        let mut per_ds: Vec<(&'static str, Vec<bytes::Bytes>, Vec<u64>)> = Vec::new();
        {
            let seen = lock(&self.in_file);
            let mut here = HashSet::new();
            for d in docs.iter() {
                let h = id_hash(&d.id());
                if seen.contains(h) || !here.insert(h) {
                    continue;
                }
                let name = data_stream_of(&d.index())
                    .map(file_dataset)
                    .unwrap_or("logpush");
                match per_ds.iter_mut().find(|(n, _, _)| *n == name) {
                    Some((_, lines, ids)) => {
                        lines.push(d.source_bytes());
                        ids.push(h);
                    }
                    None => per_ds.push((name, vec![d.source_bytes()], vec![h])),
                }
            }
        }
        let mut n = 0;
        for (name, lines, ids) in per_ds {
            n += lines.len() as u64;
            w.write(name, lines, None)
                .await
                .map_err(|e| e.to_string())?;
            let mut seen = lock(&self.in_file);
            for h in ids {
                seen.insert(h);
            }
        }
        Ok(n)
    }
}

impl DocSink for LogpushOutput {
    fn index(&self, docs: BulkDocs) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let c = self.metrics.source("logpush", &self.source);
            let n = docs.len() as u64;
            c.collected.fetch_add(n, Ordering::Relaxed);
            if let Some(w) = &self.file {
                match self.write_file(w, &docs).await {
                    Ok(lines) => {
                        c.written.fetch_add(lines, Ordering::Relaxed);
                    }
                    Err(e) => {
                        c.failed.fetch_add(n, Ordering::Relaxed);
                        return Err(format!("file output: {e}"));
                    }
                }
            }
            if let Some(es) = &self.es {
                // shares the chunk's bytes (no copy)
                match es.index_docs(docs.clone()).await {
                    Ok(ack) => {
                        c.indexed.fetch_add(ack.created, Ordering::Relaxed);
                        c.duplicate.fetch_add(ack.duplicates, Ordering::Relaxed);
                        c.dead_lettered
                            .fetch_add(ack.dead_lettered, Ordering::Relaxed);
                    }
                    Err(e) => {
                        c.failed.fetch_add(n, Ordering::Relaxed);
                        return Err(e.to_string());
                    }
                }
            }
            if let Some(s) = &self.summary {
                let fresh: Vec<_> = {
                    let mut seen = lock(&self.in_summary);
                    docs.iter()
                        .filter(|d| {
                            let h = id_hash(&d.id());
                            let new = !seen.contains(h);
                            seen.insert(h);
                            new
                        })
                        .collect()
                };
                s.add_documents(fresh.into_iter().map(|d| {
                    let ds = data_stream_of(&d.index())
                        .map(file_dataset)
                        .unwrap_or("logpush");
                    (ds, d.source())
                }));
            }
            Ok(())
        })
    }
}

/// The ECS transform of Logpush records (Elastic's `cloudflare_logpush` pipelines), with the
/// configuration's transform options and GeoIP databases.
pub fn transform(
    opts: &PipelineOptions,
    shape: Shape,
) -> Result<Arc<dyn RecordTransform>, cfship_ecs::TransformError> {
    let base = cfship_ecs::Transformer::new(
        cfship_ecs::Options {
            preserve_original: opts.transform.preserve_original_event,
            tags: opts.transform.tags.clone(),
            fix_upstream_bugs: opts.transform.fix_upstream_bugs,
            set_ingested: true,
            numbers: cfship_ecs::canonical::Numbers::agent_if(opts.transform.agent_numbers),
            ..Default::default()
        },
        opts.geoip.clone(),
    )?;
    Ok(Arc::new(EcsTransform::new(&base, &opts.namespace, shape)))
}

/// The running Logpush sources: `(name, result)` per task.
pub type LogpushTasks = JoinSet<(String, Result<(), String>)>;

/// What [`spawn`] started.
pub struct Started {
    pub tasks: LogpushTasks,
    /// The HTTPS destination's bound address (`listen` may ask for port 0).
    pub receiver_addr: Option<std::net::SocketAddr>,
    /// With `Buckets::Leased`: the bucket readers, not started (the caller runs each one only
    /// while this replica holds its lease).
    pub buckets: Vec<Arc<BucketReader>>,
}

/// How [`spawn`] treats the bucket readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buckets {
    /// Started here, each on its own (one process owns the sources: the file store).
    Run,
    /// Built, not started: handed back in [`Started::buckets`] for the lease supervisors
    /// (`state.backend: elasticsearch`, the daemon and `--once`).
    Leased,
}

/// Starts the configured Logpush sources with the run's outputs: the spool's drain, the HTTPS
/// destination (not with `once`: it has no end; the spool left by earlier runs is drained) and
/// every bucket reader (`once`: one pass to the end of the bucket; `Buckets::Leased`: handed back
/// instead). The HTTPS destination is never leased: every replica accepts every batch. Each
/// source's probe goes to `/metrics` and `/healthz`.
#[allow(clippy::too_many_arguments)]
pub async fn spawn(
    cfg: &Config,
    opts: &PipelineOptions,
    outputs: &super::wiring::Outputs,
    store: Arc<CursorStore>,
    once: bool,
    buckets_mode: Buckets,
    cancel: &CancellationToken,
) -> anyhow::Result<Started> {
    use anyhow::Context;
    let mut tasks = JoinSet::new();
    let mut receiver_addr = None;
    let metrics = outputs.metrics.clone();
    if let Some(rs) = receiver_settings(cfg)? {
        let spool = Spool::open(&rs.spool_dir, rs.spool_max_bytes)
            .with_context(|| format!("logpush.spool.dir {}", rs.spool_dir.display()))?;
        let sink: Arc<dyn DocSink> = LogpushOutput::new(outputs, "receiver");
        let drain_cancel = cancel.child_token();
        {
            let (s, c) = (spool.clone(), drain_cancel.clone());
            tasks.spawn(async move {
                s.drain(sink, 2000, 8 << 20, Duration::from_secs(2), c)
                    .await;
                ("logpush spool".to_string(), Ok(()))
            });
        }
        if once {
            // index what earlier runs spooled, then stop the drain
            let (s, c) = (spool.clone(), drain_cancel);
            tasks.spawn(async move {
                while s.status().segments > 0 && !c.is_cancelled() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                c.cancel();
                ("logpush spool (--once)".to_string(), Ok(()))
            });
            tracing::info!(spool = %rs.spool_dir.display(), "--once: the HTTPS destination is not served; the spool is indexed");
            metrics.add_logpush(LogpushProbe::Spool(spool));
        } else {
            let listen = rs.receiver.listen;
            let rx = cfship_logpush::serve(
                rs.receiver,
                spool.clone(),
                transform(opts, Shape::Http)?,
                cancel.clone(),
            )
            .await
            .with_context(|| format!("logpush.listen {listen}"))?;
            tracing::info!(addr = %rx.local_addr, "logpush: HTTPS destination listening");
            receiver_addr = Some(rx.local_addr);
            metrics.add_logpush(LogpushProbe::Receiver {
                stats: rx.stats.clone(),
                spool,
            });
            let task = rx.task;
            tasks.spawn(async move {
                let r = task.await.map_err(|e| e.to_string());
                ("logpush receiver".to_string(), r)
            });
        }
    }
    let configs = bucket_configs(cfg)?;
    let mut buckets = Vec::new();
    if !configs.is_empty() {
        let t = transform(opts, Shape::Bucket)?;
        for b in configs {
            let label = b.label();
            let sink: Arc<dyn DocSink> = LogpushOutput::new(outputs, label.clone());
            let reader = BucketReader::new(b, store.clone(), t.clone(), sink)
                .with_context(|| format!("logpush_bucket {label}"))?;
            metrics.add_logpush(LogpushProbe::Bucket {
                source: label.clone(),
                stats: reader.stats.clone(),
            });
            if buckets_mode == Buckets::Leased {
                buckets.push(Arc::new(reader));
                continue;
            }
            let c = cancel.clone();
            let name = format!("logpush bucket {label}");
            tasks.spawn(async move {
                if once {
                    let r = reader.pass(&c).await;
                    if let Ok(n) = &r {
                        tracing::info!(source = %name, objects = n, "Logpush bucket read to the end");
                    }
                    (name, r.map(|_| ()).map_err(|e| e.to_string()))
                } else {
                    let r = reader.run(c).await;
                    (name, r.map_err(|e| e.to_string()))
                }
            });
        }
    }
    Ok(Started {
        tasks,
        receiver_addr,
        buckets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_stream_from_index() {
        assert_eq!(
            data_stream_of("logs-cloudflare_logpush.http_request-default").map(|d| d.name),
            Some("http_request")
        );
        assert_eq!(
            data_stream_of("logs-cloudflare_logpush.firewall_event-e2e12").map(|d| d.name),
            Some("firewall_event")
        );
        assert_eq!(data_stream_of("logs-cloudflare.logpull-default"), None);
        let ds = cfship_logpush::datasets::find("dns").expect("dns");
        assert_eq!(file_dataset(ds), "logpush-dns");
    }
}
