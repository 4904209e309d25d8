//! The `RecordSink` of cfship: raw Cloudflare record → Elastic Agent's canonical JSON → ECS document
//! → Elasticsearch and/or the file output. A batch is acknowledged (and so the collector may move
//! its cursor) only when every configured output has every document of it durably.
//!
//! * Transform runs on the blocking pool, at most `workers` batches at once (backpressure: a
//!   collector waits in `deliver` until its batch is handled; the sink bounds bulk requests in flight).
//! * Both outputs run concurrently; the batch is acknowledged when both are done.
//! * The file output writes each document once even when a window fails after part of it was
//!   written and is replayed: ids written since the source's last committed unit are remembered.

pub mod app;
pub mod summary;
mod unit_dedup;

use crate::config::{Config, TransformSection};
use crate::metrics::{source_labels, Metrics, SourceCounters};
use crate::output::FileOutput;
use bytes::Bytes;
use cfship_cloudflare::{Checkpoint, RecordSink, SinkError, SourceId, Unit};
use cfship_ecs::canonical::Numbers;
use cfship_ecs::{Dataset, GeoIp, Options, Outcome, Transformer};
use cfship_elasticsearch::{ElasticsearchSink, EsError, IndexRequest};
use futures::future::BoxFuture;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use summary::Summary;
use tokio::sync::Semaphore;
use unit_dedup::UnitDedup;

/// Errors building the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("transform: {0}")]
    Transform(#[from] cfship_ecs::TransformError),
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    #[error("GeoIP databases in {dir}: {source}")]
    GeoIp {
        dir: String,
        #[source]
        source: cfship_ecs::GeoIpError,
    },
}

/// How the pipeline is assembled.
#[derive(Clone, Default)]
pub struct PipelineOptions {
    /// Data stream namespace (adds `data_stream.*`, `event.dataset`, `event.module`).
    pub namespace: String,
    pub transform: TransformSection,
    pub geoip: Option<Arc<GeoIp>>,
    /// Several units (windows / pages) of the same source may be in flight at once (backfill): the
    /// file output then remembers written ids for the whole run instead of per unit.
    pub parallel_units: bool,
    /// Aggregate a summary of the documents (for `cfship demo`).
    pub summary: bool,
    /// Transform batches at once (default: available parallelism).
    pub workers: usize,
    /// Write journal of the file output (`run`: in the state dir). With it, the file output is
    /// exactly-once across crashes; without it, a crash can repeat the lines of the unit in flight.
    pub file_journal: Option<std::path::PathBuf>,
    /// A custom `logpull.fields` list (see [`cfship_cloudflare::logpull::custom_field_set`]).
    pub logpull_fields: Option<Arc<std::collections::BTreeSet<String>>>,
}

impl PipelineOptions {
    /// From the configuration file (GeoIP databases opened here).
    pub fn from_config(cfg: &Config) -> Result<Self, PipelineError> {
        let geoip = match &cfg.geoip {
            Some(g) => Some(Arc::new(GeoIp::open_dir(&g.dir).map_err(|source| {
                PipelineError::GeoIp {
                    dir: g.dir.display().to_string(),
                    source,
                }
            })?)),
            None => None,
        };
        Ok(PipelineOptions {
            namespace: cfg
                .elasticsearch
                .as_ref()
                .map(|e| e.namespace.clone())
                .unwrap_or_else(|| "default".into()),
            transform: cfg.transform.clone(),
            geoip,
            logpull_fields: cfg.logpull.as_ref().and_then(|l| {
                cfship_cloudflare::logpull::custom_field_set(l.fields.as_deref(), l.bot_fields)
                    .map(Arc::new)
            }),
            ..Default::default()
        })
    }
}

struct FileState {
    out: FileOutput,
    /// Hashes of document ids written per source (state key) since its last committed unit.
    written: Mutex<HashMap<String, HashSet<u64>>>,
    /// Sources whose unit was committed: their cursor is saved before their next delivery, which
    /// then forgets the hashes (and journal entries) of the committed unit.
    committed: Mutex<HashSet<String>>,
    /// Journal each batch (crash-safe exactly-once file output).
    journaled: bool,
    /// With units of one source in parallel: what each unit in flight wrote (replaces `written`).
    units: Mutex<UnitDedup>,
}

/// The record sink of cfship.
pub struct Pipeline {
    namespace: String,
    base: Transformer,
    transformers: Mutex<HashMap<SourceId, Arc<Transformer>>>,
    transform: TransformSection,
    logpull_fields: Option<Arc<std::collections::BTreeSet<String>>>,
    /// Sources already reported as producing mostly pipeline errors.
    error_warned: Mutex<HashSet<String>>,
    es: Option<ElasticsearchSink>,
    file: Option<FileState>,
    metrics: Arc<Metrics>,
    workers: Semaphore,
    parallel_units: bool,
    summary: Option<Mutex<Summary>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn id_hash(id: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// The lines of `docs` the file does not hold yet (not `written`, and each id once per batch), with
/// the hashes of their ids.
fn unwritten(docs: &[IndexRequest], written: impl Fn(u64) -> bool) -> (Vec<Bytes>, Vec<u64>) {
    let mut batch_seen = HashSet::new();
    docs.iter()
        .filter_map(|d| {
            let h = id_hash(&d.id);
            let dup = written(h) || !batch_seen.insert(h);
            (!dup).then(|| (d.source.clone(), h))
        })
        .unzip()
}

/// One transformed batch.
struct Transformed {
    docs: Vec<IndexRequest>,
    pipeline_errors: u64,
    /// The message of the batch's first pipeline error.
    first_error: Option<String>,
    dropped: u64,
}

/// A source whose documents are mostly pipeline errors is reported (once) after this many records.
const ERROR_WARN_MIN_RECORDS: u64 = 20;

impl Pipeline {
    pub fn new(
        opts: PipelineOptions,
        es: Option<ElasticsearchSink>,
        file: Option<FileOutput>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, PipelineError> {
        let mut recovered = HashMap::new();
        let file = match (file, &opts.file_journal) {
            (Some(f), Some(j)) if !opts.parallel_units => {
                let (f, r) = f.with_journal(j)?;
                let n: usize = r.values().map(|s| s.len()).sum();
                if n > 0 {
                    tracing::info!(documents = n, "file output: documents of uncommitted units already written; they are not written again");
                }
                recovered = r;
                Some((f, true))
            }
            (f, _) => f.map(|f| (f, false)),
        };
        let base = Transformer::new(Options::default(), opts.geoip.clone())?;
        if let Some(es) = &es {
            metrics.set_sink_stats(es.stats());
        }
        let workers = if opts.workers == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        } else {
            opts.workers
        };
        Ok(Pipeline {
            namespace: opts.namespace,
            base,
            transformers: Mutex::new(HashMap::new()),
            transform: opts.transform,
            logpull_fields: opts.logpull_fields,
            error_warned: Mutex::new(HashSet::new()),
            es,
            file: file.map(|(out, journaled)| FileState {
                out,
                written: Mutex::new(recovered),
                committed: Mutex::new(HashSet::new()),
                journaled,
                units: Mutex::new(UnitDedup::default()),
            }),
            metrics,
            workers: Semaphore::new(workers.max(1)),
            parallel_units: opts.parallel_units,
            summary: opts.summary.then(|| Mutex::new(Summary::default())),
        })
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The demo summary so far (when enabled).
    pub fn summary(&self) -> Option<Summary> {
        self.summary.as_ref().map(|s| lock(s).clone())
    }

    fn transformer(&self, source: &SourceId) -> Arc<Transformer> {
        let mut m = lock(&self.transformers);
        if let Some(t) = m.get(source) {
            return t.clone();
        }
        let (ds, id) = source_labels(source);
        let mut tags = vec!["forwarded".to_string(), format!("cloudflare-{ds}")];
        for t in &self.transform.tags {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        let opts = Options {
            account_id: matches!(source, SourceId::Audit { .. }).then(|| id.to_string()),
            preserve_original: self.transform.preserve_original_event,
            tags,
            fix_upstream_bugs: self.transform.fix_upstream_bugs,
            namespace: Some(self.namespace.clone()),
            set_ingested: true,
            numbers: Numbers::agent_if(self.transform.agent_numbers),
            logpull_requested: match source {
                SourceId::Logpull { .. } => self.logpull_fields.clone(),
                SourceId::Audit { .. } => None,
            },
        };
        let t = Arc::new(self.base.with_options(opts));
        m.insert(source.clone(), t.clone());
        t
    }

    async fn transform_batch(
        &self,
        source: &SourceId,
        records: Vec<Bytes>,
    ) -> Result<Transformed, SinkError> {
        let _permit = self
            .workers
            .acquire()
            .await
            .map_err(|_| SinkError::fatal("transform pool closed"))?;
        let t = self.transformer(source);
        let ds = match source {
            SourceId::Audit { .. } => Dataset::Audit,
            SourceId::Logpull { .. } => Dataset::Logpull,
        };
        let index = ds.data_stream(&self.namespace);
        let now = now_ms();
        tokio::task::spawn_blocking(move || {
            let mut out = Transformed {
                docs: Vec::with_capacity(records.len()),
                pipeline_errors: 0,
                first_error: None,
                dropped: 0,
            };
            for raw in records {
                // Audit Logs v2 records are mapped onto the v1 shape the pipeline reads.
                let raw = if ds == Dataset::Audit && is_audit_v2(&raw) {
                    cfship_cloudflare::v2_to_v1(&raw).unwrap_or(raw)
                } else {
                    raw
                };
                // Bytes that are not UTF-8 are never silently "repaired" into a normal document:
                // they become a pipeline_error document keeping what was read.
                let outcome = match std::str::from_utf8(&raw) {
                    Err(e) => Outcome::Doc(t.error_document(
                        ds,
                        &String::from_utf8_lossy(&raw),
                        &format!("record is not valid UTF-8: {e}"),
                        now,
                    )),
                    Ok(text) => t.transform_collected(ds, text, now),
                };
                match outcome {
                    Outcome::Doc(d) => {
                        if let Some(e) = &d.error {
                            out.pipeline_errors += 1;
                            if out.first_error.is_none() {
                                out.first_error = Some(e.clone());
                            }
                        }
                        out.docs.push(IndexRequest {
                            index: index.clone(),
                            id: d.id,
                            source: Bytes::from(d.source),
                        });
                    }
                    Outcome::Dropped => out.dropped += 1,
                }
            }
            out
        })
        .await
        .map_err(|e| SinkError::retryable(format!("transform task failed: {e}")))
    }

    async fn to_es(&self, docs: &[IndexRequest], c: &SourceCounters) -> Result<(), SinkError> {
        let Some(es) = &self.es else { return Ok(()) };
        match es.index(docs.to_vec()).await {
            Ok(ack) => {
                c.indexed.fetch_add(ack.created, Ordering::Relaxed);
                c.duplicate.fetch_add(ack.duplicates, Ordering::Relaxed);
                c.dead_lettered
                    .fetch_add(ack.dead_lettered, Ordering::Relaxed);
                Ok(())
            }
            Err(EsError::ShuttingDown) => Err(SinkError::retryable(
                "Elasticsearch output is shutting down; batch not acknowledged",
            )),
            Err(e) => Err(SinkError::retryable(format!("Elasticsearch output: {e}"))),
        }
    }

    async fn to_file(
        &self,
        source: &SourceId,
        unit: Option<&Unit>,
        ds: &'static str,
        docs: &[IndexRequest],
        c: &SourceCounters,
    ) -> Result<(), SinkError> {
        let Some(f) = &self.file else { return Ok(()) };
        if let (true, Some(unit)) = (self.parallel_units, unit) {
            return self.to_file_per_unit(f, unit, ds, docs, c).await;
        }
        let key = source.state_key();
        if lock(&f.committed).remove(&key) {
            // the previous unit of this source is committed and its cursor saved
            lock(&f.written).remove(&key);
            if let Err(e) = f.out.forget(&key) {
                tracing::warn!(error = %e, "file output journal not trimmed (harmless, retried next commit)");
            }
        }
        let (lines, hashes) = {
            let written = lock(&f.written);
            let seen = written.get(&key);
            unwritten(docs, |h| seen.is_some_and(|s| s.contains(&h)))
        };
        let n = lines.len() as u64;
        let intent = f.journaled.then(|| (key.clone(), hashes.clone()));
        f.out
            .write(ds, lines, intent)
            .await
            .map_err(|e| SinkError::retryable(e.to_string()))?;
        lock(&f.written).entry(key).or_default().extend(hashes);
        c.written.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    /// [`Self::to_file`] when units of one source run in parallel (no journal): duplicates are
    /// looked up per unit, so memory is bounded by the units in flight.
    async fn to_file_per_unit(
        &self,
        f: &FileState,
        unit: &Unit,
        ds: &'static str,
        docs: &[IndexRequest],
        c: &SourceCounters,
    ) -> Result<(), SinkError> {
        let (lines, hashes) = {
            let units = lock(&f.units);
            unwritten(docs, |h| units.seen(unit, h))
        };
        let n = lines.len() as u64;
        f.out
            .write(ds, lines, None)
            .await
            .map_err(|e| SinkError::retryable(e.to_string()))?;
        lock(&f.units).written(unit, hashes);
        c.written.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    async fn deliver_to_outputs(
        &self,
        source: &SourceId,
        unit: Option<&Unit>,
        records: Vec<Bytes>,
    ) -> Result<(), SinkError> {
        let (ds, id) = source_labels(source);
        let c = self.metrics.source(ds, id);
        let n = records.len() as u64;
        c.collected.fetch_add(n, Ordering::Relaxed);
        let t = match self.transform_batch(source, records).await {
            Ok(t) => t,
            Err(e) => {
                c.failed.fetch_add(n, Ordering::Relaxed);
                return Err(e);
            }
        };
        let errors = c
            .pipeline_errors
            .fetch_add(t.pipeline_errors, Ordering::Relaxed)
            + t.pipeline_errors;
        let seen = c.collected.load(Ordering::Relaxed);
        if let Some(first) = &t.first_error {
            // Mostly error documents: say so loudly, once per source, with the first message
            // (e.g. a custom field list that lacks what the pipeline needs).
            if seen >= ERROR_WARN_MIN_RECORDS
                && errors * 2 > seen
                && lock(&self.error_warned).insert(source.state_key())
            {
                tracing::warn!(source = %source, records = seen, pipeline_errors = errors, first_error = %first,
                    "most documents of this source are pipeline errors (event.kind: pipeline_error): see the first error");
            }
        }
        c.dropped.fetch_add(t.dropped, Ordering::Relaxed);
        let (r_es, r_file) = tokio::join!(
            self.to_es(&t.docs, &c),
            self.to_file(source, unit, ds, &t.docs, &c)
        );
        if let Err(e) = r_es.and(r_file) {
            c.failed.fetch_add(n, Ordering::Relaxed);
            tracing::warn!(source = %source, records = n, error = %e, "batch not acknowledged; the collector sends it again");
            return Err(e);
        }
        if let Some(s) = &self.summary {
            let mut s = lock(s);
            for d in &t.docs {
                s.add(ds, &d.source);
            }
        }
        Ok(())
    }
}

impl RecordSink for Pipeline {
    fn deliver<'a>(
        &'a self,
        source: &'a SourceId,
        records: Vec<Bytes>,
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(self.deliver_to_outputs(source, None, records))
    }

    fn deliver_unit<'a>(
        &'a self,
        unit: &'a Unit,
        records: Vec<Bytes>,
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(self.deliver_to_outputs(&unit.source, Some(unit), records))
    }

    fn checkpoint_unit(&self, unit: &Unit, outcome: Checkpoint) {
        match (&self.file, self.parallel_units) {
            (Some(f), true) => {
                let mut units = lock(&f.units);
                match outcome {
                    Checkpoint::Committed => units.committed(unit),
                    Checkpoint::Aborted => units.aborted(unit),
                }
            }
            _ => self.checkpoint(&unit.source, outcome),
        }
    }

    fn checkpoint(&self, source: &SourceId, outcome: Checkpoint) {
        if let (Some(f), Checkpoint::Committed, false) = (&self.file, outcome, self.parallel_units)
        {
            // The unit is committed; its cursor is saved right after this call, so its records are
            // never replayed once the next delivery of this source starts.
            lock(&f.committed).insert(source.state_key());
        }
    }
}

/// Elasticsearch sink from the configuration, with templates installed.
pub async fn connect_es(
    cfg: cfship_elasticsearch::EsConfig,
    install_templates: bool,
) -> Result<ElasticsearchSink, EsError> {
    let sink = ElasticsearchSink::connect(cfg).await?;
    if install_templates {
        sink.ensure_templates().await?;
    }
    Ok(sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Logpull record of Elastic's test data (first line of test-http-json.log) with `RayID` set.
    const RECORD: &str = r#"{"BotScore":20,"BotScoreSrc":"Verified Bot","CacheCacheStatus":"unknown","CacheResponseBytes":0,"CacheResponseStatus":0,"CacheTieredFill":false,"ClientASN":15169,"ClientCountry":"us","ClientDeviceType":"desktop","ClientIP":"89.160.20.156","ClientIPClass":"noRecord","ClientRequestBytes":2577,"ClientRequestHost":"cf-analytics.com","ClientRequestMethod":"POST","ClientRequestPath":"/wp-cron.php","ClientRequestProtocol":"HTTP/1.1","ClientRequestReferer":"https://cf-analytics.com/wp-cron.php?doing_wp_cron=1564759748.3962020874023437500000","ClientRequestURI":"/wp-cron.php?doing_wp_cron=1564759748.3962020874023437500000","ClientRequestUserAgent":"WordPress/5.2.2;https://cf-analytics.com","ClientSSLCipher":"ECDHE-ECDSA-AES128-GCM-SHA256","ClientSSLProtocol":"TLSv1.2","ClientSrcPort":55028,"EdgeColoID":14,"EdgeEndTimestamp":"2019-08-02T15:29:08Z","EdgePathingOp":"ban","EdgePathingSrc":"filter_based_firewall","EdgePathingStatus":"captchaNew","EdgeRateLimitAction":"","EdgeRateLimitID":0,"EdgeRequestHost":"","EdgeResponseBytes":2848,"EdgeResponseCompressionRatio":2.64,"EdgeResponseContentType":"text/html","EdgeResponseStatus":403,"EdgeServerIP":"","EdgeStartTimestamp":"2019-08-02T15:29:08Z","FirewallMatchesActions":["simulate","challenge"],"FirewallMatchesSources":["firewallRules","firewallRules"],"FirewallMatchesRuleIDs":["094b71fea25d4860a61fa0c6fbbd8d8b","e454fd4a0ce546b3a9a462536613692c"],"OriginIP":"","OriginResponseBytes":0,"OriginResponseHTTPExpires":"","OriginResponseHTTPLastModified":"","OriginResponseStatus":0,"OriginResponseTime":0,"OriginSSLProtocol":"unknown","ParentRayID":"00","RayID":"500115ec386354d8","SecurityLevel":"med","WAFAction":"unknown","WAFFlags":"0","WAFMatchedVar":"","WAFProfile":"unknown","WAFRuleID":"","WAFRuleMessage":"","WorkerCPUTime":0,"WorkerStatus":"unknown","WorkerSubrequest":false,"WorkerSubrequestCount":0,"ZoneID":155978002}"#;

    fn lp(ray: &str, sorted: bool) -> Bytes {
        // the same record with keys in another order must give the same document (canonicalisation)
        let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(RECORD).unwrap();
        let mut pairs: Vec<(String, serde_json::Value)> = v.into_iter().collect();
        if !sorted {
            pairs.reverse();
        }
        let body: Vec<String> = pairs
            .into_iter()
            .map(|(k, v)| {
                let v = if k == "RayID" {
                    serde_json::json!(ray)
                } else {
                    v
                };
                format!("{}:{}", serde_json::json!(k), v)
            })
            .collect();
        Bytes::from(format!("{{{}}}", body.join(",")))
    }

    fn lines(p: &std::path::Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn non_utf8_and_non_json_records_become_error_documents() {
        let dir = tempfile::tempdir().unwrap();
        let out = FileOutput::new(&dir.path().join("{dataset}.ndjson"));
        let p = Pipeline::new(PipelineOptions::default(), None, Some(out), Metrics::new()).unwrap();
        let zone = SourceId::Logpull {
            zone_id: "z1".into(),
        };
        let records = vec![
            Bytes::from_static(b"{\"RayID\":\"\xff\xfe\"}"),
            Bytes::from_static(b"not json"),
            lp("ok1", true),
        ];
        p.deliver(&zone, records).await.unwrap();
        let docs = lines(&dir.path().join("logpull.ndjson"));
        assert_eq!(docs.len(), 3, "nothing dropped");
        assert_eq!(docs[0]["event"]["kind"], "pipeline_error");
        assert!(docs[0]["error"]["message"][0]
            .as_str()
            .unwrap()
            .contains("not valid UTF-8"));
        assert_eq!(docs[1]["event"]["kind"], "pipeline_error");
        assert_eq!(docs[1]["event"]["original"], "not json");
        assert_eq!(docs[2]["cloudflare"]["ray_id"], "ok1");
    }

    #[tokio::test]
    async fn sources_with_mostly_error_documents_are_reported_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let out = FileOutput::new(&dir.path().join("{dataset}.ndjson"));
        let metrics = Metrics::new();
        let p =
            Pipeline::new(PipelineOptions::default(), None, Some(out), metrics.clone()).unwrap();
        let zone = SourceId::Logpull {
            zone_id: "z1".into(),
        };
        // 10 good records: no warning.
        let good: Vec<Bytes> = (0..10).map(|i| lp(&format!("g{i}"), true)).collect();
        p.deliver(&zone, good).await.unwrap();
        assert!(lock(&p.error_warned).is_empty());
        // 25 records without EdgeStartTimestamp (a field list without it): mostly errors now.
        let bad: Vec<Bytes> = (0..25)
            .map(|i| Bytes::from(format!("{{\"EdgeRequestHost\":\"h\",\"RayID\":\"b{i}\"}}")))
            .collect();
        p.deliver(&zone, bad).await.unwrap();
        assert!(lock(&p.error_warned).contains(&zone.state_key()));
        assert_eq!(metrics.total("logpull", |c| &c.pipeline_errors), 25);
        assert_eq!(metrics.total("logpull", |c| &c.collected), 35);
    }

    #[tokio::test]
    async fn agent_numbers_option_writes_float64_digits_into_event_original() {
        let big = RECORD.replace(
            r#""EdgeStartTimestamp":"2019-08-02T15:29:08Z""#,
            r#""EdgeStartTimestamp":1564759748123456789"#,
        );
        for (agent_numbers, want) in [
            (false, "1564759748123456789"),
            (true, "1564759748123456800"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let out = FileOutput::new(&dir.path().join("{dataset}.ndjson"));
            let mut opts = PipelineOptions::default();
            opts.transform.preserve_original_event = true;
            opts.transform.agent_numbers = agent_numbers;
            let p = Pipeline::new(opts, None, Some(out), Metrics::new()).unwrap();
            let zone = SourceId::Logpull {
                zone_id: "z1".into(),
            };
            p.deliver(&zone, vec![Bytes::from(big.clone())])
                .await
                .unwrap();
            let docs = lines(&dir.path().join("logpull.ndjson"));
            let original = docs[0]["event"]["original"].as_str().unwrap();
            assert!(
                original.contains(&format!("\"EdgeStartTimestamp\":{want},")),
                "{original}"
            );
            assert_eq!(docs[0]["event"]["start"], "2019-08-02T15:29:08.123Z");
        }
    }

    /// Backfill and demo run several units of one source at once: the file output dedups replays
    /// per unit (a failed window replayed whole or split in halves writes nothing twice) and forgets
    /// a unit once committed, so its memory does not grow with the length of the run.
    #[tokio::test]
    async fn parallel_units_dedup_replays_and_forget_committed_units() {
        use chrono::TimeZone;
        let dir = tempfile::tempdir().unwrap();
        let out = FileOutput::new(&dir.path().join("{dataset}.ndjson"));
        let opts = PipelineOptions {
            parallel_units: true,
            ..Default::default()
        };
        let p = Pipeline::new(opts, None, Some(out), Metrics::new()).unwrap();
        let source = SourceId::Logpull {
            zone_id: "z1".into(),
        };
        let t = |m: i64| {
            chrono::Utc
                .timestamp_opt(1_700_000_000 + m * 60, 0)
                .unwrap()
        };
        let unit = |a: i64, b: i64| Unit {
            source: source.clone(),
            start: t(a),
            end: t(b),
        };
        let (whole, h1, h2, next) = (unit(0, 60), unit(0, 30), unit(30, 60), unit(60, 120));
        // The whole window writes two records, then fails; it is split and replayed in halves.
        p.deliver_unit(&whole, vec![lp("a", true), lp("b", true)])
            .await
            .unwrap();
        p.checkpoint_unit(&whole, Checkpoint::Aborted);
        // Meanwhile the next window of the same source runs in parallel.
        p.deliver_unit(&next, vec![lp("x", true)]).await.unwrap();
        p.deliver_unit(&h1, vec![lp("a", false)]).await.unwrap();
        p.checkpoint_unit(&h1, Checkpoint::Committed);
        p.deliver_unit(&h2, vec![lp("b", true), lp("c", true)])
            .await
            .unwrap();
        p.checkpoint_unit(&h2, Checkpoint::Committed);
        p.checkpoint_unit(&next, Checkpoint::Committed);
        let rays: Vec<String> = lines(&dir.path().join("logpull.ndjson"))
            .iter()
            .map(|d| d["cloudflare"]["ray_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(rays, ["a", "b", "x", "c"]);
        let f = p.file.as_ref().unwrap();
        assert_eq!(lock(&f.units).len(), 0, "committed units are forgotten");
        assert!(lock(&f.written).is_empty());
    }

    #[tokio::test]
    async fn file_output_writes_each_document_once_across_replays() {
        let dir = tempfile::tempdir().unwrap();
        let out = FileOutput::new(&dir.path().join("{dataset}.ndjson"));
        let metrics = Metrics::new();
        let p = Pipeline::new(
            PipelineOptions {
                namespace: "testns".into(),
                ..Default::default()
            },
            None,
            Some(out),
            metrics.clone(),
        )
        .unwrap();
        let zone = SourceId::Logpull {
            zone_id: "z1".into(),
        };
        let file = dir.path().join("logpull.ndjson");
        // the same record twice with keys in another order: one document
        p.deliver(&zone, vec![lp("r1", true), lp("r1", false), lp("r2", true)])
            .await
            .unwrap();
        assert_eq!(lines(&file).len(), 2);
        // the window fails after that and is replayed whole: only the new record is appended
        p.checkpoint(&zone, Checkpoint::Aborted);
        p.deliver(
            &zone,
            vec![lp("r1", false), lp("r2", false), lp("r3", true)],
        )
        .await
        .unwrap();
        let docs = lines(&file);
        let rays: Vec<&str> = docs
            .iter()
            .map(|d| d["cloudflare"]["ray_id"].as_str().unwrap())
            .collect();
        assert_eq!(rays, ["r1", "r2", "r3"]);
        // documents carry Elastic Agent's tags and the data stream fields
        assert_eq!(
            docs[0]["tags"],
            serde_json::json!(["forwarded", "cloudflare-logpull"])
        );
        assert_eq!(docs[0]["data_stream"]["namespace"], "testns");
        assert_eq!(docs[0]["data_stream"]["dataset"], "cloudflare.logpull");
        // committed: the set is cleared (memory stays bounded per unit)
        p.checkpoint(&zone, Checkpoint::Committed);
        p.deliver(&zone, vec![lp("r4", true)]).await.unwrap();
        assert_eq!(lines(&file).len(), 4);
        let c = metrics.source("logpull", "z1");
        assert_eq!(c.collected.load(Ordering::Relaxed), 7);
        assert_eq!(c.written.load(Ordering::Relaxed), 4);
    }

    #[tokio::test]
    async fn audit_documents_get_the_account_id() {
        let dir = tempfile::tempdir().unwrap();
        let out = FileOutput::new(&dir.path().join("out.ndjson"));
        let p = Pipeline::new(PipelineOptions::default(), None, Some(out), Metrics::new()).unwrap();
        let acc = SourceId::Audit {
            account_id: "acc-1".into(),
        };
        let rec = r#"{"id":"e1","when":"2026-11-25T00:00:00Z","action":{"type":"login","result":true},"actor":{"type":"user","id":"u1","email":"a@b.c","ip":"192.0.2.9"},"owner":{"id":"o"},"resource":{"type":"account","id":"acc-1"},"interface":"UI","metadata":{},"newValue":"","oldValue":""}"#;
        p.deliver(&acc, vec![Bytes::from(rec)]).await.unwrap();
        let docs = lines(&dir.path().join("out.ndjson"));
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0]["cloud"]["account"]["id"], "acc-1");
        assert_eq!(docs[0]["event"]["id"], "e1");
        assert_eq!(
            docs[0]["tags"],
            serde_json::json!(["forwarded", "cloudflare-audit"])
        );
    }
}

/// An Audit Logs v2 record: `action.time` and no top-level `when` (v1's timestamp).
fn is_audit_v2(raw: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        when: Option<serde::de::IgnoredAny>,
        action: Option<ProbeAction>,
    }
    #[derive(serde::Deserialize)]
    struct ProbeAction {
        time: Option<serde::de::IgnoredAny>,
    }
    match serde_json::from_slice::<Probe>(raw) {
        Ok(p) => p.when.is_none() && p.action.is_some_and(|a| a.time.is_some()),
        Err(_) => false,
    }
}

#[cfg(test)]
mod audit_v2_tests {
    use super::is_audit_v2;
    use cfship_ecs::{Dataset, Options, Outcome, Transformer};

    #[test]
    fn v2_records_are_detected_and_mapped_to_the_v1_document() {
        let v2 = br#"{"id":"0b1c2d3e-v2","account":{"id":"acc","name":"Acme"},"action":{"description":"Create token","result":"success","time":"2026-03-01T10:00:00.123456Z","type":"token_create"},"actor":{"context":"dash","email":"ops@example.net","id":"u1","ip_address":"198.51.100.9","type":"user"},"resource":{"id":"r1","type":"account"},"zone":{}}"#;
        let v1 =
            br#"{"action":{"result":true,"type":"login"},"id":"x","when":"2026-03-01T10:00:00Z"}"#;
        assert!(is_audit_v2(v2));
        assert!(!is_audit_v2(v1));
        assert!(!is_audit_v2(b"not json"));
        let mapped = cfship_cloudflare::v2_to_v1(v2).unwrap();
        let t = Transformer::new(Options::default(), None).unwrap();
        let Outcome::Doc(d) = t.transform(Dataset::Audit, std::str::from_utf8(&mapped).unwrap(), 0)
        else {
            panic!("dropped")
        };
        assert!(d.error.is_none(), "{:?}", d.error);
        let doc: serde_json::Value = serde_json::from_str(&d.source).unwrap();
        assert_eq!(doc["event"]["action"], "token_create");
        assert_eq!(doc["event"]["outcome"], "success");
        assert_eq!(doc["event"]["provider"], "UI");
        assert_eq!(doc["@timestamp"], "2026-03-01T10:00:00.123Z");
        assert_eq!(doc["source"]["ip"], "198.51.100.9");
        assert_eq!(doc["event"]["id"], "0b1c2d3e-v2");
    }
}
