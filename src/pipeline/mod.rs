//! The `RecordSink` of cfship: raw Cloudflare record → Elastic Agent's canonical JSON → ECS document
//! → every configured output. The pipeline does fan-out and acknowledgement only: a batch is
//! acknowledged (and so the collector may move its cursor) only when every output returned Ok for
//! every document of it; the end of each unit is passed on to every output. What an output needs
//! for its own guarantee (de-duplication, journal, retries) lives in that output (`crate::output`).

mod transform;

use crate::config::TransformSection;
use crate::metrics::{source_labels, Metrics};
use crate::output::{Batch, Output};
use crate::sync::lock;
use bytes::Bytes;
use cfship_cloudflare::{RecordSink, SinkError, Unit, UnitOutcome};
use cfship_ecs::GeoIp;
use futures::future::BoxFuture;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use transform::Transform;

/// Errors building the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("transform: {0}")]
    Transform(#[from] cfship_ecs::TransformError),
    #[error("GeoIP databases in {dir}: {source}")]
    GeoIp {
        dir: String,
        #[source]
        source: cfship_ecs::GeoIpError,
    },
}

/// How documents are made.
#[derive(Clone, Default)]
pub struct PipelineOptions {
    /// Data stream namespace (adds `data_stream.*`, `event.dataset`, `event.module`).
    pub namespace: String,
    pub transform: TransformSection,
    pub geoip: Option<Arc<GeoIp>>,
    /// Transform batches at once (default: available parallelism).
    pub workers: usize,
    /// A custom `logpull.fields` list (see [`cfship_cloudflare::logpull::custom_field_set`]).
    pub logpull_fields: Option<Arc<std::collections::BTreeSet<String>>>,
}

/// The record sink of cfship.
pub struct Pipeline {
    transform: Transform,
    outputs: Vec<Arc<dyn Output>>,
    metrics: Arc<Metrics>,
    /// Sources already reported as producing mostly pipeline errors.
    error_warned: Mutex<HashSet<String>>,
}

/// A source whose documents are mostly pipeline errors is reported (once) after this many records.
const ERROR_WARN_MIN_RECORDS: u64 = 20;

impl Pipeline {
    pub fn new(
        opts: PipelineOptions,
        outputs: Vec<Arc<dyn Output>>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, PipelineError> {
        Ok(Pipeline {
            transform: Transform::new(opts)?,
            outputs,
            metrics,
            error_warned: Mutex::new(HashSet::new()),
        })
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    async fn deliver_batch(&self, unit: &Unit, records: Vec<Bytes>) -> Result<(), SinkError> {
        let source = &unit.source;
        let (ds, id) = source_labels(source);
        let c = self.metrics.source(ds, id);
        let n = records.len() as u64;
        c.collected.fetch_add(n, Ordering::Relaxed);
        let t = match self.transform.batch(source, unit.format, records).await {
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
        let batch = Batch {
            unit,
            dataset: ds,
            docs: &t.docs,
        };
        // every output at once; the batch is acknowledged when all of them hold it
        let results = futures::future::join_all(self.outputs.iter().map(|o| o.write(batch))).await;
        let mut failure = None;
        for r in results {
            match r {
                Ok(w) => {
                    c.indexed.fetch_add(w.indexed, Ordering::Relaxed);
                    c.duplicate.fetch_add(w.duplicate, Ordering::Relaxed);
                    c.dead_lettered
                        .fetch_add(w.dead_lettered, Ordering::Relaxed);
                    c.written.fetch_add(w.lines, Ordering::Relaxed);
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failure {
            c.failed.fetch_add(n, Ordering::Relaxed);
            let e = SinkError::retryable(e.to_string());
            tracing::warn!(source = %source, records = n, error = %e, "batch not acknowledged; the collector sends it again");
            return Err(e);
        }
        Ok(())
    }
}

impl RecordSink for Pipeline {
    fn deliver<'a>(
        &'a self,
        unit: &'a Unit,
        records: Vec<Bytes>,
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(self.deliver_batch(unit, records))
    }

    fn end_unit(&self, unit: &Unit, outcome: UnitOutcome) {
        for o in &self.outputs {
            o.end_unit(unit, outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{FileOutput, OutputError, SummaryOutput, Written};
    use cfship_cloudflare::SourceId;

    /// One unit of `source` (a fixed window: the daemon's units of a source run one at a time).
    fn unit_of(source: &SourceId) -> Unit {
        let t = |s: i64| chrono::DateTime::from_timestamp(s, 0).unwrap();
        Unit {
            source: source.clone(),
            format: match source {
                SourceId::Audit { .. } => cfship_cloudflare::RecordFormat::AuditV1,
                SourceId::Logpull { .. } => cfship_cloudflare::RecordFormat::Logpull,
            },
            start: t(1_700_000_000),
            end: t(1_700_000_060),
        }
    }

    /// A pipeline writing to one file output (per source, no journal) under `dir`.
    fn with_file(
        opts: PipelineOptions,
        path: &std::path::Path,
        metrics: Arc<Metrics>,
    ) -> (Pipeline, Arc<FileOutput>) {
        let file = Arc::new(FileOutput::per_source(path, None).unwrap());
        let p = Pipeline::new(opts, vec![file.clone()], metrics).unwrap();
        (p, file)
    }

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
        let (p, _) = with_file(
            PipelineOptions::default(),
            &dir.path().join("{dataset}.ndjson"),
            Metrics::new(),
        );
        let zone = SourceId::Logpull {
            zone_id: "z1".into(),
        };
        let records = vec![
            Bytes::from_static(b"{\"RayID\":\"\xff\xfe\"}"),
            Bytes::from_static(b"not json"),
            lp("ok1", true),
        ];
        p.deliver(&unit_of(&zone), records).await.unwrap();
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
        let metrics = Metrics::new();
        let (p, _) = with_file(
            PipelineOptions::default(),
            &dir.path().join("{dataset}.ndjson"),
            metrics.clone(),
        );
        let zone = SourceId::Logpull {
            zone_id: "z1".into(),
        };
        // 10 good records: no warning.
        let good: Vec<Bytes> = (0..10).map(|i| lp(&format!("g{i}"), true)).collect();
        p.deliver(&unit_of(&zone), good).await.unwrap();
        assert!(lock(&p.error_warned).is_empty());
        // 25 records without EdgeStartTimestamp (a field list without it): mostly errors now.
        let bad: Vec<Bytes> = (0..25)
            .map(|i| Bytes::from(format!("{{\"EdgeRequestHost\":\"h\",\"RayID\":\"b{i}\"}}")))
            .collect();
        p.deliver(&unit_of(&zone), bad).await.unwrap();
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
            let mut opts = PipelineOptions::default();
            opts.transform.preserve_original_event = true;
            opts.transform.agent_numbers = agent_numbers;
            let (p, _) = with_file(opts, &dir.path().join("{dataset}.ndjson"), Metrics::new());
            let zone = SourceId::Logpull {
                zone_id: "z1".into(),
            };
            p.deliver(&unit_of(&zone), vec![Bytes::from(big.clone())])
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
        let file = Arc::new(FileOutput::per_unit(&dir.path().join("{dataset}.ndjson")));
        let p = Pipeline::new(
            PipelineOptions::default(),
            vec![file.clone()],
            Metrics::new(),
        )
        .unwrap();
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
            format: cfship_cloudflare::RecordFormat::Logpull,
            start: t(a),
            end: t(b),
        };
        let (whole, h1, h2, next) = (unit(0, 60), unit(0, 30), unit(30, 60), unit(60, 120));
        // The whole window writes two records, then fails; it is split and replayed in halves.
        p.deliver(&whole, vec![lp("a", true), lp("b", true)])
            .await
            .unwrap();
        p.end_unit(&whole, UnitOutcome::Aborted);
        // Meanwhile the next window of the same source runs in parallel.
        p.deliver(&next, vec![lp("x", true)]).await.unwrap();
        p.deliver(&h1, vec![lp("a", false)]).await.unwrap();
        p.end_unit(&h1, UnitOutcome::Committed);
        p.deliver(&h2, vec![lp("b", true), lp("c", true)])
            .await
            .unwrap();
        p.end_unit(&h2, UnitOutcome::Committed);
        p.end_unit(&next, UnitOutcome::Committed);
        let rays: Vec<String> = lines(&dir.path().join("logpull.ndjson"))
            .iter()
            .map(|d| d["cloudflare"]["ray_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(rays, ["a", "b", "x", "c"]);
        assert_eq!(file.remembered(), 0, "committed units are forgotten");
    }

    #[tokio::test]
    async fn file_output_writes_each_document_once_across_replays() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Metrics::new();
        let (p, file) = with_file(
            PipelineOptions {
                namespace: "testns".into(),
                ..Default::default()
            },
            &dir.path().join("{dataset}.ndjson"),
            metrics.clone(),
        );
        let zone = SourceId::Logpull {
            zone_id: "z1".into(),
        };
        let path = dir.path().join("logpull.ndjson");
        // the same record twice with keys in another order: one document
        let u = unit_of(&zone);
        p.deliver(&u, vec![lp("r1", true), lp("r1", false), lp("r2", true)])
            .await
            .unwrap();
        assert_eq!(lines(&path).len(), 2);
        // the window fails after that and is replayed whole: only the new record is appended
        p.end_unit(&u, UnitOutcome::Aborted);
        p.deliver(&u, vec![lp("r1", false), lp("r2", false), lp("r3", true)])
            .await
            .unwrap();
        let docs = lines(&path);
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
        assert_eq!(file.remembered(), 3);
        p.end_unit(&u, UnitOutcome::Committed);
        p.deliver(&u, vec![lp("r4", true)]).await.unwrap();
        assert_eq!(
            file.remembered(),
            1,
            "the committed unit's ids are forgotten"
        );
        assert_eq!(lines(&path).len(), 4);
        let c = metrics.source("logpull", "z1");
        assert_eq!(c.collected.load(Ordering::Relaxed), 7);
        assert_eq!(c.written.load(Ordering::Relaxed), 4);
    }

    /// The daemon replays a window that failed after writing as smaller windows (after repeated
    /// stream failures): the ids the failed window wrote stay known until the last smaller window
    /// is committed, so the second half does not write them again.
    #[tokio::test]
    async fn daemon_file_output_keeps_ids_of_an_aborted_window_until_its_split_replay_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let (p, file) = with_file(
            PipelineOptions::default(),
            &dir.path().join("{dataset}.ndjson"),
            Metrics::new(),
        );
        let source = SourceId::Logpull {
            zone_id: "z1".into(),
        };
        let t = |m: i64| chrono::DateTime::from_timestamp(1_700_000_000 + m * 60, 0).unwrap();
        let unit = |a: i64, b: i64| Unit {
            source: source.clone(),
            format: cfship_cloudflare::RecordFormat::Logpull,
            start: t(a),
            end: t(b),
        };
        let (whole, h1, h2, next) = (unit(0, 60), unit(0, 30), unit(30, 60), unit(60, 120));
        p.deliver(&whole, vec![lp("a", true), lp("b", true)])
            .await
            .unwrap();
        p.end_unit(&whole, UnitOutcome::Aborted);
        p.deliver(&h1, vec![lp("a", false)]).await.unwrap();
        p.end_unit(&h1, UnitOutcome::Committed);
        p.deliver(&h2, vec![lp("b", false), lp("c", true)])
            .await
            .unwrap();
        p.end_unit(&h2, UnitOutcome::Committed);
        p.deliver(&next, vec![lp("d", true)]).await.unwrap();
        let rays: Vec<String> = lines(&dir.path().join("logpull.ndjson"))
            .iter()
            .map(|d| d["cloudflare"]["ray_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(rays, ["a", "b", "c", "d"]);
        assert_eq!(
            file.remembered(),
            1,
            "forgotten once the replay is committed"
        );
    }

    fn audit_rec(id: &str) -> Bytes {
        Bytes::from(format!(
            r#"{{"id":"{id}","when":"2026-11-25T00:00:00Z","action":{{"type":"login","result":true}},"actor":{{"type":"user","id":"u1","email":"a@b.c","ip":"192.0.2.9"}},"owner":{{"id":"o"}},"resource":{{"type":"account","id":"acc-1"}},"interface":"UI","metadata":{{}},"newValue":"","oldValue":""}}"#
        ))
    }

    fn event_ids(p: &std::path::Path) -> Vec<String> {
        lines(p)
            .iter()
            .map(|d| d["event"]["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// An audit sweep is one unit committed page by page. After a crash in the middle of a page
    /// (its lines in the file, its cursor not saved), the replay starts at the saved cursor and
    /// pages differently: its first page may end before the cut page's last records. Those must
    /// stay known until the replay sweep ends, not just until its first page (CI saw 2 duplicate
    /// audit lines after 20 SIGKILLs before this).
    #[tokio::test]
    async fn audit_replay_after_a_crash_pages_differently_and_writes_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("{dataset}.ndjson");
        let journal = dir.path().join("state/file-journal");
        let acc = SourceId::Audit {
            account_id: "acc-1".into(),
        };
        let t = |m: i64| chrono::DateTime::from_timestamp(1_700_000_000 + m * 60, 0).unwrap();
        let sweep = |a: i64, b: i64| Unit {
            source: acc.clone(),
            format: cfship_cloudflare::RecordFormat::AuditV1,
            start: t(a),
            end: t(b),
        };
        {
            // process 1: page 1 committed (cursor saved), page 2 written, then SIGKILL
            let file = Arc::new(FileOutput::per_source(&out, Some(&journal)).unwrap());
            let p = Pipeline::new(PipelineOptions::default(), vec![file], Metrics::new()).unwrap();
            let u = sweep(0, 60);
            p.deliver(&u, vec![audit_rec("a"), audit_rec("b")])
                .await
                .unwrap();
            p.end_unit(&u, UnitOutcome::Progress);
            p.deliver(&u, vec![audit_rec("c"), audit_rec("d"), audit_rec("e")])
                .await
                .unwrap();
        }
        // process 2: the sweep resumes at the cursor after page 1; its first page holds only
        // `c` (records at the cursor's second fill it), the next one `d`, `e`, `f`
        let file = Arc::new(FileOutput::per_source(&out, Some(&journal)).unwrap());
        let p = Pipeline::new(
            PipelineOptions::default(),
            vec![file.clone()],
            Metrics::new(),
        )
        .unwrap();
        let u = sweep(10, 70);
        p.deliver(&u, vec![audit_rec("c")]).await.unwrap();
        p.end_unit(&u, UnitOutcome::Progress);
        p.deliver(&u, vec![audit_rec("d"), audit_rec("e"), audit_rec("f")])
            .await
            .unwrap();
        p.end_unit(&u, UnitOutcome::Progress);
        p.end_unit(&u, UnitOutcome::Committed);
        // the next sweep forgets the finished one
        let next = sweep(70, 80);
        p.deliver(&next, vec![audit_rec("g")]).await.unwrap();
        p.end_unit(&next, UnitOutcome::Progress);
        p.deliver(&next, vec![audit_rec("h")]).await.unwrap();
        assert_eq!(
            event_ids(&dir.path().join("audit.ndjson")),
            ["a", "b", "c", "d", "e", "f", "g", "h"]
        );
        assert_eq!(
            file.remembered(),
            1,
            "only the page in flight is remembered"
        );
    }

    /// The same without a crash: a sweep whose page failed after the file took it is resumed at
    /// its saved cursor; the resumed sweep's pages do not line up with the failed one's.
    #[tokio::test]
    async fn audit_sweep_resumed_after_an_aborted_page_writes_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let (p, _) = with_file(
            PipelineOptions::default(),
            &dir.path().join("{dataset}.ndjson"),
            Metrics::new(),
        );
        let acc = SourceId::Audit {
            account_id: "acc-1".into(),
        };
        let t = |m: i64| chrono::DateTime::from_timestamp(1_700_000_000 + m * 60, 0).unwrap();
        let sweep = |a: i64| Unit {
            source: acc.clone(),
            format: cfship_cloudflare::RecordFormat::AuditV1,
            start: t(a),
            end: t(60),
        };
        let u = sweep(0);
        p.deliver(&u, vec![audit_rec("a")]).await.unwrap();
        p.end_unit(&u, UnitOutcome::Progress);
        p.deliver(&u, vec![audit_rec("b"), audit_rec("c")])
            .await
            .unwrap();
        p.end_unit(&u, UnitOutcome::Aborted); // e.g. Elasticsearch refused the page
        let r = sweep(5);
        p.deliver(&r, vec![audit_rec("b")]).await.unwrap();
        p.end_unit(&r, UnitOutcome::Progress);
        p.deliver(&r, vec![audit_rec("c"), audit_rec("d")])
            .await
            .unwrap();
        p.end_unit(&r, UnitOutcome::Progress);
        p.end_unit(&r, UnitOutcome::Committed);
        assert_eq!(
            event_ids(&dir.path().join("audit.ndjson")),
            ["a", "b", "c", "d"]
        );
    }

    #[tokio::test]
    async fn audit_documents_get_the_account_id() {
        let dir = tempfile::tempdir().unwrap();
        let (p, _) = with_file(
            PipelineOptions::default(),
            &dir.path().join("out.ndjson"),
            Metrics::new(),
        );
        let acc = SourceId::Audit {
            account_id: "acc-1".into(),
        };
        let rec = r#"{"id":"e1","when":"2026-11-25T00:00:00Z","action":{"type":"login","result":true},"actor":{"type":"user","id":"u1","email":"a@b.c","ip":"192.0.2.9"},"owner":{"id":"o"},"resource":{"type":"account","id":"acc-1"},"interface":"UI","metadata":{},"newValue":"","oldValue":""}"#;
        p.deliver(&unit_of(&acc), vec![Bytes::from(rec)])
            .await
            .unwrap();
        let docs = lines(&dir.path().join("out.ndjson"));
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0]["cloud"]["account"]["id"], "acc-1");
        assert_eq!(docs[0]["event"]["id"], "e1");
        assert_eq!(
            docs[0]["tags"],
            serde_json::json!(["forwarded", "cloudflare-audit"])
        );
    }

    /// An output that fails while `fail` is set.
    #[derive(Default)]
    struct Flaky {
        fail: std::sync::atomic::AtomicBool,
        ended: std::sync::Mutex<Vec<UnitOutcome>>,
    }

    impl Output for Flaky {
        fn write<'a>(&'a self, _: Batch<'a>) -> BoxFuture<'a, Result<Written, OutputError>> {
            let r = if self.fail.load(Ordering::SeqCst) {
                Err(OutputError::Task("flaky output".into()))
            } else {
                Ok(Written::default())
            };
            Box::pin(std::future::ready(r))
        }
        fn end_unit(&self, _: &Unit, outcome: UnitOutcome) {
            self.ended.lock().unwrap().push(outcome);
        }
    }

    /// A batch is acknowledged only when every output has it; the outputs that did write it see
    /// the replay (and de-duplicate it), and every output hears how each unit ended. The demo
    /// summary counts only committed units, so a replayed window is counted once.
    #[tokio::test]
    async fn a_batch_is_acknowledged_only_when_every_output_has_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = Arc::new(FileOutput::per_unit(&dir.path().join("{dataset}.ndjson")));
        let flaky = Arc::new(Flaky::default());
        let summary = Arc::new(SummaryOutput::default());
        let metrics = Metrics::new();
        let p = Pipeline::new(
            PipelineOptions::default(),
            vec![file.clone(), flaky.clone(), summary.clone()],
            metrics.clone(),
        )
        .unwrap();
        let u = unit_of(&SourceId::Logpull {
            zone_id: "z1".into(),
        });
        flaky.fail.store(true, Ordering::SeqCst);
        let e = p.deliver(&u, vec![lp("a", true)]).await.unwrap_err();
        assert!(e.retryable && e.message.contains("flaky output"), "{e}");
        p.end_unit(&u, UnitOutcome::Aborted);
        flaky.fail.store(false, Ordering::SeqCst);
        p.deliver(&u, vec![lp("a", false), lp("b", true)])
            .await
            .unwrap();
        p.end_unit(&u, UnitOutcome::Committed);
        let rays: Vec<String> = lines(&dir.path().join("logpull.ndjson"))
            .iter()
            .map(|d| d["cloudflare"]["ray_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(rays, ["a", "b"], "the file wrote `a` once");
        assert_eq!(
            *flaky.ended.lock().unwrap(),
            [UnitOutcome::Aborted, UnitOutcome::Committed]
        );
        let s = summary.summary();
        assert_eq!(
            s.per_dataset["logpull"], 2,
            "the aborted attempt is not counted"
        );
        assert_eq!(s.status_codes["403"], 2);
        let c = metrics.source("logpull", "z1");
        assert_eq!(c.failed.load(Ordering::Relaxed), 1);
        assert_eq!(c.written.load(Ordering::Relaxed), 2);
    }
}
