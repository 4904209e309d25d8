//! Observability: Prometheus text on `/metrics` and a liveness/lag report on `/healthz`.
//!
//! Counters live in plain atomics (here, in `cfship-cloudflare`'s `CollectorStats` and in
//! `cfship-elasticsearch`'s `SinkStats`) and are rendered at scrape time. Labels carry only
//! datasets, source ids (zone / account ids), status classes: never a credential.

pub mod health;

use crate::sync::lock;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Per (dataset, source) counters of the pipeline.
#[derive(Debug, Default)]
pub struct SourceCounters {
    /// Records received from Cloudflare and handed to the outputs.
    pub collected: AtomicU64,
    /// Documents created in Elasticsearch.
    pub indexed: AtomicU64,
    /// Documents Elasticsearch already had (same `_id`).
    pub duplicate: AtomicU64,
    /// Documents refused for good by Elasticsearch, written to the dead letter.
    pub dead_lettered: AtomicU64,
    /// Records of deliveries that failed (they are collected again).
    pub failed: AtomicU64,
    /// Documents with `event.kind: pipeline_error` (the transform could not process the record).
    pub pipeline_errors: AtomicU64,
    /// Documents appended to the file output.
    pub written: AtomicU64,
    /// Records that produced no document (empty audit pages, as upstream drops them).
    pub dropped: AtomicU64,
}

/// A Logpush source's own state, read at scrape time.
#[derive(Debug, Clone)]
pub enum LogpushProbe {
    /// The HTTPS destination and its spool.
    Receiver {
        stats: Arc<cfship_logpush::ReceiverStats>,
        spool: cfship_logpush::Spool,
    },
    /// The spool alone (`run --once`: drained, not served).
    Spool(cfship_logpush::Spool),
    /// A bucket reader (`source`: its URL without query).
    Bucket {
        source: String,
        stats: Arc<cfship_logpush::BucketStats>,
    },
}

/// Everything `/metrics` shows.
#[derive(Debug, Default)]
pub struct Metrics {
    sources: Mutex<BTreeMap<(String, String), Arc<SourceCounters>>>,
    logpush: Mutex<Vec<LogpushProbe>>,
    logpush_jobs: Mutex<Option<Arc<crate::app::logpush_jobs::JobsMonitor>>>,
    cf: Mutex<Option<Arc<cfship_cloudflare::CollectorStats>>>,
    es: Mutex<Option<Arc<cfship_elasticsearch::SinkStats>>>,
    /// Set when a collector stopped with an error that retrying cannot fix.
    pub unhealthy: AtomicBool,
    /// Readiness (Elasticsearch) and the sources the stall watchdog follows.
    pub health: health::Health,
}

/// `audit` / `logpull` and the id of a collection source.
pub fn source_labels(s: &cfship_cloudflare::SourceId) -> (&'static str, &str) {
    match s {
        cfship_cloudflare::SourceId::Audit { account_id } => ("audit", account_id),
        cfship_cloudflare::SourceId::Logpull { zone_id } => ("logpull", zone_id),
    }
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn set_collector_stats(&self, s: Arc<cfship_cloudflare::CollectorStats>) {
        *lock(&self.cf) = Some(s);
    }

    pub fn set_sink_stats(&self, s: Arc<cfship_elasticsearch::SinkStats>) {
        *lock(&self.es) = Some(s);
    }

    /// The collector counters, when set.
    pub fn collector_snapshot(&self) -> Option<cfship_cloudflare::StatsSnapshot> {
        lock(&self.cf).clone().map(|cf| cf.snapshot())
    }

    /// Adds a Logpush source to `/metrics` and `/healthz`.
    pub fn add_logpush(&self, p: LogpushProbe) {
        lock(&self.logpush).push(p);
    }

    /// Adds the Cloudflare Logpush jobs' health to `/metrics` and `/healthz`.
    pub fn set_logpush_jobs(&self, m: Arc<crate::app::logpush_jobs::JobsMonitor>) {
        *lock(&self.logpush_jobs) = Some(m);
    }

    /// The Logpush sources' probes.
    pub fn logpush(&self) -> Vec<LogpushProbe> {
        lock(&self.logpush).clone()
    }

    /// A Logpush spool is full: new batches are refused (503) until Elasticsearch catches up.
    pub fn logpush_spool_full(&self) -> bool {
        lock(&self.logpush).iter().any(|p| match p {
            LogpushProbe::Receiver { spool, .. } | LogpushProbe::Spool(spool) => {
                spool.status().full()
            }
            LogpushProbe::Bucket { .. } => false,
        })
    }

    fn render_logpush(&self, o: &mut String) {
        if let Some(j) = lock(&self.logpush_jobs).clone() {
            j.render(o);
        }
        let probes = self.logpush();
        let mut buckets = Vec::new();
        for p in &probes {
            match p {
                LogpushProbe::Receiver { stats, spool } => stats.render(spool, o),
                LogpushProbe::Spool(spool) => cfship_logpush::receiver::render_spool(spool, o),
                LogpushProbe::Bucket { source, stats } => buckets.push((source, stats)),
            }
        }
        if buckets.is_empty() {
            return;
        }
        type Pick = fn(&cfship_logpush::BucketStats) -> &AtomicU64;
        let families: [(&str, &str, Pick); 7] = [
            (
                "objects_done",
                "Bucket objects read to the end and indexed.",
                |s| &s.objects_done,
            ),
            (
                "objects_bad",
                "Bucket objects skipped as not gzip/NDJSON (named in the log).",
                |s| &s.objects_bad,
            ),
            (
                "objects_deleted",
                "Bucket objects deleted after indexing.",
                |s| &s.objects_deleted,
            ),
            ("documents", "Documents indexed from bucket objects.", |s| {
                &s.documents
            }),
            (
                "pipeline_errors",
                "Documents of bucket objects with event.kind pipeline_error.",
                |s| &s.pipeline_errors,
            ),
            (
                "list_errors",
                "Failed bucket listings (retried at the next poll).",
                |s| &s.list_errors,
            ),
            (
                "read_errors",
                "Failed bucket object reads (retried at the next poll).",
                |s| &s.read_errors,
            ),
        ];
        let now = now_unix();
        type Gauge = fn(&cfship_logpush::BucketStats, i64) -> i64;
        let gauges: [(&str, &str, Gauge); 3] = [
            ("cfship_logpush_bucket_pending_objects", "Bucket objects listed and not read yet.", |s, _| s.pending_objects.load(Ordering::Relaxed) as i64),
            ("cfship_logpush_bucket_lag_seconds", "now minus the write time of the oldest bucket object not read yet (0 when caught up).", |s, now| s.lag_seconds(now)),
            ("cfship_logpush_bucket_last_pass_timestamp_seconds", "End of the bucket's last complete pass (Unix seconds).", |s, _| s.last_pass_unix.load(Ordering::Relaxed)),
        ];
        for (name, help, pick) in gauges {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (src, st) in &buckets {
                let _ = writeln!(o, "{name}{{source=\"{}\"}} {}", esc(src), pick(st, now));
            }
        }
        for (k, help, pick) in families {
            let name = format!("cfship_logpush_bucket_{k}_total");
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter");
            for (src, st) in &buckets {
                let _ = writeln!(
                    o,
                    "{name}{{source=\"{}\"}} {}",
                    esc(src),
                    pick(st).load(Ordering::Relaxed)
                );
            }
        }
    }

    /// Counters of one source (created on first use).
    pub fn source(&self, dataset: &str, id: &str) -> Arc<SourceCounters> {
        lock(&self.sources)
            .entry((dataset.to_string(), id.to_string()))
            .or_default()
            .clone()
    }

    /// Sum of a counter over all sources of a dataset.
    pub fn total(&self, dataset: &str, f: impl Fn(&SourceCounters) -> &AtomicU64) -> u64 {
        lock(&self.sources)
            .iter()
            .filter(|((d, _), _)| d == dataset)
            .map(|(_, c)| f(c).load(Ordering::Relaxed))
            .sum()
    }

    /// Every watched source (all configured ones, from the start) with its lag (now − cursor,
    /// `None` without a cursor yet), its last success and its watchdog state; then any other
    /// source the collector counters know.
    pub fn source_reports(&self, now_unix: i64) -> Vec<health::SourceReport> {
        let snap = lock(&self.cf).clone().map(|cf| cf.snapshot());
        let mut by_name: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
        for s in snap.iter().flat_map(|s| s.sources.iter()) {
            let (ds, id) = split_source_name(&s.source);
            by_name.insert((ds, id), (s.cursor_unix, s.last_success_unix));
        }
        let mut out = Vec::new();
        for w in self.health.watched() {
            let (cursor, last) = by_name
                .remove(&(w.dataset.clone(), w.id.clone()))
                .unwrap_or((0, 0));
            out.push(health::SourceReport {
                lag_seconds: (cursor > 0).then(|| (now_unix - cursor).max(0)),
                last_success_unix: last,
                state: health::state_of(&w, last, now_unix),
                dataset: w.dataset,
                id: w.id,
            });
        }
        for ((ds, id), (cursor, last)) in by_name {
            out.push(health::SourceReport {
                dataset: ds,
                id,
                lag_seconds: (cursor > 0).then(|| (now_unix - cursor).max(0)),
                last_success_unix: last,
                state: health::SourceState::Ok,
            });
        }
        out
    }

    /// `/healthz`: (healthy, body).
    pub fn healthz(&self, now_unix: i64) -> (bool, serde_json::Value) {
        let (mut ok, mut body) = health::report_json(
            self.health.not_ready_reason(),
            &self.source_reports(now_unix),
            self.unhealthy.load(Ordering::Relaxed),
        );
        let logpush = self.logpush_json();
        if !logpush.is_empty() {
            body["logpush"] = serde_json::Value::from(logpush);
        }
        if let Some(j) = lock(&self.logpush_jobs).clone() {
            body["logpush_jobs"] = serde_json::Value::from(j.json());
        }
        if ok && self.logpush_spool_full() {
            ok = false;
            body["status"] = "not ready".into();
            body["reason"] = "Logpush spool full: new batches are refused (503, Cloudflare retries) until Elasticsearch catches up".into();
        }
        (ok, body)
    }

    /// Each Logpush source for `/healthz`.
    fn logpush_json(&self) -> Vec<serde_json::Value> {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        self.logpush()
            .iter()
            .map(|p| match p {
                LogpushProbe::Receiver { stats, spool } => {
                    let st = spool.status();
                    serde_json::json!({"source": "receiver", "accepted": l(&stats.accepted),
                        "unauthorized": l(&stats.unauthorized), "unavailable": l(&stats.unavailable),
                        "spool_bytes": st.used_bytes, "spool_max_bytes": st.max_bytes,
                        "spool_pending_documents": st.pending_docs, "spool_full": st.full(),
                        "sink_failing": st.sink_failing})
                }
                LogpushProbe::Spool(spool) => {
                    let st = spool.status();
                    serde_json::json!({"source": "spool", "spool_bytes": st.used_bytes,
                        "spool_max_bytes": st.max_bytes, "spool_pending_documents": st.pending_docs,
                        "spool_full": st.full(), "sink_failing": st.sink_failing})
                }
                LogpushProbe::Bucket { source, stats } => {
                    serde_json::json!({"source": source, "objects_done": l(&stats.objects_done),
                        "pending_objects": l(&stats.pending_objects), "lag_seconds": stats.lag_seconds(now_unix()),
                        "objects_bad": l(&stats.objects_bad), "documents": l(&stats.documents),
                        "list_errors": l(&stats.list_errors), "read_errors": l(&stats.read_errors)})
                }
            })
            .collect()
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self, now_unix: i64) -> String {
        let mut o = String::with_capacity(8192);
        let sources: Vec<_> = lock(&self.sources)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        type Pick = fn(&SourceCounters) -> &AtomicU64;
        let families: [(&str, &str, Pick); 8] = [
            (
                "cfship_events_collected_total",
                "Records received from Cloudflare.",
                |c| &c.collected,
            ),
            (
                "cfship_events_indexed_total",
                "Documents created in Elasticsearch.",
                |c| &c.indexed,
            ),
            (
                "cfship_events_duplicate_total",
                "Documents Elasticsearch already had (same _id).",
                |c| &c.duplicate,
            ),
            (
                "cfship_events_dead_lettered_total",
                "Documents refused for good, written to the dead letter.",
                |c| &c.dead_lettered,
            ),
            (
                "cfship_events_failed_total",
                "Records of failed deliveries (collected again).",
                |c| &c.failed,
            ),
            (
                "cfship_events_pipeline_error_total",
                "Documents with event.kind pipeline_error.",
                |c| &c.pipeline_errors,
            ),
            (
                "cfship_events_written_total",
                "Documents appended to the file output.",
                |c| &c.written,
            ),
            (
                "cfship_events_dropped_total",
                "Records that produce no document (empty audit pages).",
                |c| &c.dropped,
            ),
        ];
        for (name, help, pick) in families {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((ds, id), c) in &sources {
                let _ = writeln!(
                    o,
                    "{name}{{dataset=\"{}\",source=\"{}\"}} {}",
                    esc(ds),
                    esc(id),
                    pick(c).load(Ordering::Relaxed)
                );
            }
        }
        if let Some(cf) = lock(&self.cf).clone() {
            let s = cf.snapshot();
            let _ = writeln!(o, "# HELP cfship_cloudflare_requests_total Cloudflare API responses by status class.\n# TYPE cfship_cloudflare_requests_total counter");
            for (st, v) in [
                ("2xx", s.responses_2xx),
                ("4xx", s.responses_4xx),
                ("429", s.responses_429),
                ("5xx", s.responses_5xx),
                ("transport_error", s.transport_errors),
            ] {
                let _ = writeln!(o, "cfship_cloudflare_requests_total{{status=\"{st}\"}} {v}");
            }
            for (name, help, v) in [
                (
                    "cfship_cloudflare_retries_total",
                    "Cloudflare requests / windows retried.",
                    s.retries,
                ),
                (
                    "cfship_cloudflare_failed_requests_total",
                    "Failed Cloudflare requests / window attempts.",
                    s.failed_requests,
                ),
                (
                    "cfship_cloudflare_stream_failures_total",
                    "Logpull bodies cut short or ending with the error trailer.",
                    s.stream_failures,
                ),
                (
                    "cfship_cloudflare_rate_limit_wait_seconds_total",
                    "Time spent waiting for the shared rate limiter.",
                    s.rate_limit_wait_ms / 1000,
                ),
            ] {
                let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
            }
            let _ = writeln!(o, "# HELP cfship_source_windows_total Windows (Logpull) / pages (audit) completed or failed.\n# TYPE cfship_source_windows_total counter");
            for src in &s.sources {
                let (ds, id) = split_source_name(&src.source);
                for (res, v) in [("done", src.windows_done), ("failed", src.windows_failed)] {
                    let _ = writeln!(
                        o,
                        "cfship_source_windows_total{{dataset=\"{}\",source=\"{}\",result=\"{res}\"}} {v}",
                        esc(&ds),
                        esc(&id)
                    );
                }
            }
        }
        let reports = self.source_reports(now_unix);
        let _ = writeln!(o, "# HELP cfship_source_lag_seconds now minus the source's cursor (saved cursor after a restart).\n# TYPE cfship_source_lag_seconds gauge");
        for r in &reports {
            if let Some(lag) = r.lag_seconds {
                let _ = writeln!(
                    o,
                    "cfship_source_lag_seconds{{dataset=\"{}\",source=\"{}\"}} {lag}",
                    esc(&r.dataset),
                    esc(&r.id)
                );
            }
        }
        let _ = writeln!(o, "# HELP cfship_source_stalled 1 when the source had no successful unit for its stall_after, or stopped on an error retrying cannot fix.\n# TYPE cfship_source_stalled gauge");
        for r in &reports {
            let _ = writeln!(
                o,
                "cfship_source_stalled{{dataset=\"{}\",source=\"{}\",state=\"{}\"}} {}",
                esc(&r.dataset),
                esc(&r.id),
                r.state.label(),
                u8::from(!r.state.is_ok())
            );
        }
        let _ = writeln!(o, "# HELP cfship_source_last_success_timestamp_seconds Unix time of the source's last successful unit or pass (0: none yet).\n# TYPE cfship_source_last_success_timestamp_seconds gauge");
        for r in &reports {
            let _ = writeln!(
                o,
                "cfship_source_last_success_timestamp_seconds{{dataset=\"{}\",source=\"{}\"}} {}",
                esc(&r.dataset),
                esc(&r.id),
                r.last_success_unix
            );
        }
        let _ = writeln!(
            o,
            "# HELP cfship_ready 0 while Elasticsearch is being waited for.\n# TYPE cfship_ready gauge\ncfship_ready {}",
            u8::from(self.health.not_ready_reason().is_none())
        );
        if let Some(es) = lock(&self.es).clone() {
            let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
            let _ = writeln!(o, "# HELP cfship_es_bulk_requests_total Bulk requests by status class.\n# TYPE cfship_es_bulk_requests_total counter");
            for (st, v) in [
                ("2xx", l(&es.bulk_requests_2xx)),
                ("429", l(&es.bulk_requests_429)),
                ("4xx", l(&es.bulk_requests_4xx)),
                ("5xx", l(&es.bulk_requests_5xx)),
                ("transport_error", l(&es.bulk_requests_transport_error)),
            ] {
                let _ = writeln!(o, "cfship_es_bulk_requests_total{{status=\"{st}\"}} {v}");
            }
            let _ = writeln!(o, "# HELP cfship_es_retries_total Bulk requests and items sent again.\n# TYPE cfship_es_retries_total counter");
            let _ = writeln!(
                o,
                "cfship_es_retries_total{{kind=\"request\"}} {}",
                l(&es.request_retries)
            );
            let _ = writeln!(
                o,
                "cfship_es_retries_total{{kind=\"item\"}} {}",
                l(&es.item_retries)
            );
            let _ = writeln!(o, "# HELP cfship_es_bulk_in_flight Bulk requests in flight.\n# TYPE cfship_es_bulk_in_flight gauge\ncfship_es_bulk_in_flight {}", es.in_flight.load(Ordering::Relaxed));
            let _ = writeln!(o, "# HELP cfship_es_bulk_latency_seconds Bulk request latency.\n# TYPE cfship_es_bulk_latency_seconds histogram");
            for (le, n) in es.latency_cumulative() {
                let le = if le.is_infinite() {
                    "+Inf".to_string()
                } else {
                    format!("{le}")
                };
                let _ = writeln!(
                    o,
                    "cfship_es_bulk_latency_seconds_bucket{{le=\"{le}\"}} {n}"
                );
            }
            let _ = writeln!(
                o,
                "cfship_es_bulk_latency_seconds_sum {}\ncfship_es_bulk_latency_seconds_count {}",
                l(&es.latency_sum_micros) as f64 / 1e6,
                l(&es.latency_count)
            );
        }
        self.render_logpush(&mut o);
        let _ = writeln!(
            o,
            "# HELP cfship_up 1 while /healthz reports ok (ready, no source stalled or stopped).\n# TYPE cfship_up gauge\ncfship_up {}",
            u8::from(self.healthz(now_unix).0)
        );
        o
    }
}

/// `SourceId`'s Display is "audit account X" / "logpull zone X".
fn split_source_name(s: &str) -> (String, String) {
    let mut it = s.splitn(3, ' ');
    let ds = it.next().unwrap_or_default().to_string();
    let _kind = it.next();
    let id = it.next().unwrap_or_default().to_string();
    (ds, id)
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn metrics_handler(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.render(now_unix()),
    )
}

async fn healthz_handler(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    let (ok, body) = m.healthz(now_unix());
    (
        if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

/// Binds `addr` and serves `/metrics` and `/healthz` until `cancel`. Returns the bound address.
pub async fn serve(
    metrics: Arc<Metrics>,
    addr: SocketAddr,
    cancel: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(healthz_handler))
        .with_state(metrics);
    tokio::spawn(async move {
        let r = axum::serve(listener, app)
            .with_graceful_shutdown(async move { cancel.cancelled().await })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "metrics endpoint stopped");
        }
    });
    tracing::info!(addr = %local, "serving /metrics and /healthz");
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_lag_and_histogram() {
        let m = Metrics::new();
        m.source("logpull", "zone1")
            .collected
            .fetch_add(7, Ordering::Relaxed);
        m.source("logpull", "zone1")
            .indexed
            .fetch_add(5, Ordering::Relaxed);
        m.source("audit", "acc")
            .duplicate
            .fetch_add(2, Ordering::Relaxed);
        let cf = cfship_cloudflare::CollectorStats::new();
        let src = cfship_cloudflare::SourceId::Logpull {
            zone_id: "zone1".into(),
        };
        cf.source(&src).cursor_unix.store(1000, Ordering::Relaxed);
        m.set_collector_stats(cf);
        let es = Arc::new(cfship_elasticsearch::SinkStats::default());
        es.latency_buckets[0].fetch_add(3, Ordering::Relaxed);
        es.latency_buckets[11].fetch_add(1, Ordering::Relaxed);
        es.latency_count.fetch_add(4, Ordering::Relaxed);
        m.set_sink_stats(es);
        let t = m.render(1300);
        assert!(
            t.contains("cfship_events_collected_total{dataset=\"logpull\",source=\"zone1\"} 7"),
            "{t}"
        );
        assert!(t.contains("cfship_events_indexed_total{dataset=\"logpull\",source=\"zone1\"} 5"));
        assert!(t.contains("cfship_events_duplicate_total{dataset=\"audit\",source=\"acc\"} 2"));
        assert!(
            t.contains("cfship_source_lag_seconds{dataset=\"logpull\",source=\"zone1\"} 300"),
            "{t}"
        );
        assert!(t.contains("cfship_es_bulk_latency_seconds_bucket{le=\"0.005\"} 3"));
        assert!(t.contains("cfship_es_bulk_latency_seconds_bucket{le=\"+Inf\"} 4"));
        assert!(t.contains("cfship_es_bulk_latency_seconds_count 4"));
        assert!(t.contains("cfship_up 1"));
        // every sample line is "name{labels} value" or "name value"
        for line in t.lines().filter(|l| !l.starts_with('#')) {
            let v = line.rsplit(' ').next().unwrap();
            assert!(v.parse::<f64>().is_ok(), "bad sample line {line}");
        }
    }
}
