//! Logpull collector: contiguous windows of at most 1 h, ending at least `end_lag` before now and
//! starting no earlier than `now − 168h + retention_margin`; back-to-back catch-up; an empty window
//! advances the cursor; a window is committed (cursor saved) only after a clean end of stream and after
//! the sink acknowledged every record; a failed window is retried whole.

use crate::auth::Auth;
use crate::client::{decide, CloudflareClient};
use crate::error::CfError;
use crate::sink::{RecordFormat, RecordSink, SourceId, Unit, UnitOutcome};
use crate::stats::SourceStats;
use crate::util::{blocking, floor_secs, rfc3339_secs, Clock, ProgressEvent, RunSummary};
use cfship_retry::{retry, Decision, Retrying, Stop};
use cfship_state::CursorStore;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

mod fields;
mod window;

pub use fields::{
    custom_field_set, refused_fields, ELASTIC_BOT_FIELDS, ELASTIC_DEFAULT_FIELDS,
    MODERN_BOT_FIELDS, MODERN_FIELDS,
};
use window::{chrono_dur, plan_window, WindowRunner};

/// Timestamp format of the Logpull `timestamps` parameter (docs/cloudflare-api.md, "Logpull").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Timestamps {
    /// Integer nanoseconds (Cloudflare's default).
    #[default]
    UnixNano,
    /// Integer seconds.
    Unix,
    /// RFC3339 string with second precision.
    Rfc3339,
}

impl Timestamps {
    /// The value of the `timestamps` query parameter.
    pub fn as_param(&self) -> &'static str {
        match self {
            Timestamps::UnixNano => "unixnano",
            Timestamps::Unix => "unix",
            Timestamps::Rfc3339 => "rfc3339",
        }
    }
}

const MAX_WINDOW: Duration = Duration::from_secs(3600);
/// A window whose stream failed this many times in a row is split in halves.
const SPLIT_AFTER: u32 = 3;
/// Windows are not split below 15 s (Cloudflare's suggestion for very busy zones).
const MIN_SPLIT_SECS: i64 = 15;
const RETENTION: Duration = Duration::from_secs(168 * 3600);

#[derive(Clone, Debug)]
pub struct LogpullConfig {
    pub zone_id: String,
    pub auth: Auth,
    /// Polling interval once caught up (Elastic default 5m).
    pub interval: Duration,
    /// `None` = Elastic's default list ([`ELASTIC_DEFAULT_FIELDS`]), unless `modern`.
    pub fields: Option<Vec<String>>,
    /// `logpull.fields: modern`: request [`MODERN_FIELDS`] (those the zone offers) and deliver
    /// units of [`RecordFormat::LogpullModern`]. `fields` is then ignored, unless `exact_fields`.
    pub modern: bool,
    /// The refill of a Logpush job (`cfship backfill --logpush-job`): request exactly `fields`
    /// (the job's `field_names`), never narrowed to what the zone offers nor reduced after a
    /// refusal — a record with other fields would get another `_id` than the pushed one.
    pub exact_fields: bool,
    /// Prefix BotScore,BotScoreSrc (needs Bot Management).
    pub bot_fields: bool,
    pub timestamps: Timestamps,
    /// 0 < sample <= 1; `None` = all records.
    pub sample: Option<f64>,
    /// Longest window (at most 1 h, Cloudflare's limit).
    pub max_window: Duration,
    /// Windows end at least this long before now (Cloudflare: 1 min).
    pub end_lag: Duration,
    /// Windows start at least this long after `now − 168h` (the exact edge loses the race).
    pub retention_margin: Duration,
    /// First run without a cursor: start at `now − end_lag − initial_lookback`.
    pub initial_lookback: Duration,
    /// Records per `deliver` call. 500 (~0.9 MB raw, ~1.2 MB encoded): each window of a
    /// `backfill --parallel N` holds one batch raw or encoded until every output has it, so this
    /// bounds the peak RSS (1,000 put `--parallel 4` over 64 MiB); `_bulk` requests of 500
    /// documents still cost Elasticsearch no more per document.
    pub batch_size: usize,
    /// Check the zone's retention flag before the first window.
    pub check_retention: bool,
    /// Windows fetched in parallel by `backfill_logpull`.
    pub backfill_concurrency: usize,
    pub clock: Clock,
}

impl LogpullConfig {
    pub fn new(zone_id: impl Into<String>, auth: Auth) -> Self {
        LogpullConfig {
            zone_id: zone_id.into(),
            auth,
            interval: Duration::from_secs(300),
            fields: None,
            modern: false,
            exact_fields: false,
            bot_fields: false,
            timestamps: Timestamps::UnixNano,
            sample: None,
            max_window: MAX_WINDOW,
            end_lag: Duration::from_secs(60),
            retention_margin: Duration::from_secs(300),
            initial_lookback: Duration::from_secs(300),
            batch_size: 500,
            check_retention: true,
            backfill_concurrency: 4,
            clock: Clock::System,
        }
    }

    /// The `fields` query value.
    pub fn fields_param(&self) -> String {
        if self.exact_fields {
            if let Some(f) = &self.fields {
                return f.join(",");
            }
        }
        if self.modern {
            let bot = if self.bot_fields {
                MODERN_BOT_FIELDS
            } else {
                &[]
            };
            return MODERN_FIELDS
                .iter()
                .chain(bot)
                .copied()
                .collect::<Vec<_>>()
                .join(",");
        }
        let mut v: Vec<String> = Vec::new();
        if self.bot_fields {
            v.extend(ELASTIC_BOT_FIELDS.iter().map(|s| s.to_string()));
        }
        match &self.fields {
            Some(f) => {
                for x in f {
                    let x = x.trim();
                    if !x.is_empty() && !v.iter().any(|y| y == x) {
                        v.push(x.to_string());
                    }
                }
            }
            None => v.extend(ELASTIC_DEFAULT_FIELDS.iter().map(|s| s.to_string())),
        }
        v.join(",")
    }

    /// The rules of every setting (the one place they are checked: at startup by the binary,
    /// which adds the line of the config file, and again when a collector is built).
    pub fn validate(&self) -> Result<(), CfError> {
        let bad = |key, reason: String| {
            Err(CfError::Setting {
                section: "logpull",
                key,
                reason,
            })
        };
        if self.zone_id.trim().is_empty() {
            return bad("zone_id", "is empty".into());
        }
        // Cloudflare's field names are CamelCase letters and digits: anything else (a space, a
        // comma inside one entry, a dotted ECS name) is refused by Cloudflare, so refuse it here
        for f in self.fields.iter().flatten().map(|f| f.trim()) {
            let ok = f.is_empty()
                || (f.starts_with(|c: char| c.is_ascii_uppercase())
                    && f.chars().all(|c| c.is_ascii_alphanumeric()));
            if !ok {
                return bad(
                    "fields",
                    format!(
                        "entry {f:?} is not a Logpull field name (CamelCase letters and digits, \
                         e.g. ClientIP; GET /zones/<zone>/logs/received/fields lists them)"
                    ),
                );
            }
        }
        if let Some(s) = self.sample {
            if !(s > 0.0 && s <= 1.0) {
                return bad("sample", format!("must be > 0 and <= 1, got {s}"));
            }
        }
        if self.max_window.is_zero() {
            return bad("max_window", "must be > 0".into());
        }
        if self.max_window > MAX_WINDOW {
            return bad(
                "max_window",
                "must be at most 1h (Cloudflare's limit)".into(),
            );
        }
        if self.end_lag < Duration::from_secs(60) {
            return bad(
                "end_lag",
                "must be at least 1m (Cloudflare rejects newer windows)".into(),
            );
        }
        Ok(())
    }
}

/// Persistent state of one zone: the start of the next window.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogpullCursor {
    pub next_start: DateTime<Utc>,
}

/// Collects one zone with a durable cursor.
pub struct LogpullCollector {
    runner: WindowRunner,
    store: Arc<CursorStore>,
    retention_checked: AtomicBool,
    /// Extra retention margin learnt from "too early" answers (server clock ahead), seconds.
    extra_margin: AtomicI64,
    /// Extra end lag learnt from "too late" answers (server clock behind), seconds.
    extra_lag: AtomicI64,
}

impl LogpullCollector {
    pub fn new(
        client: CloudflareClient,
        cfg: LogpullConfig,
        store: Arc<CursorStore>,
        sink: Arc<dyn RecordSink>,
    ) -> Result<Self, CfError> {
        cfg.validate()?;
        Ok(LogpullCollector {
            runner: WindowRunner::new(client, Arc::new(cfg), sink),
            store,
            retention_checked: AtomicBool::new(false),
            extra_margin: AtomicI64::new(0),
            extra_lag: AtomicI64::new(0),
        })
    }

    pub fn source(&self) -> &SourceId {
        &self.runner.source
    }

    /// The saved cursor, if any.
    pub fn cursor(&self) -> Result<Option<LogpullCursor>, CfError> {
        Ok(self.store.load(&self.runner.source.state_key())?)
    }

    async fn ensure_retention(&self) -> Result<(), CfError> {
        let cfg = &self.runner.cfg;
        if !cfg.check_retention || self.retention_checked.load(Ordering::Relaxed) {
            return Ok(());
        }
        let on = self
            .runner
            .client
            .logpull_retention(&cfg.auth, &cfg.zone_id)
            .await?;
        if !on {
            let e = CfError::RetentionDisabled {
                zone: cfg.zone_id.clone(),
            };
            tracing::debug!(zone = %cfg.zone_id, error = %e, "Logpull retention is off");
            return Err(e);
        }
        self.retention_checked.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Collects windows back to back until caught up to `now − end_lag`, then returns. On cancel:
    /// finishes (and saves) the window in flight and returns Ok.
    pub async fn run_once(&self, cancel: CancellationToken) -> Result<RunSummary, CfError> {
        let r = &self.runner;
        let cfg = &r.cfg;
        let key = r.source.state_key();
        self.ensure_retention().await?;
        let mut summary = RunSummary::default();
        let mut cursor = match self.store.load::<LogpullCursor>(&key)? {
            Some(c) => c.next_start,
            None => {
                let now = cfg.clock.now();
                let start =
                    floor_secs(now - chrono_dur(cfg.end_lag) - chrono_dur(cfg.initial_lookback));
                tracing::info!(zone = %cfg.zone_id, start = %start, "no Logpull cursor yet, starting at now − initial_lookback");
                start
            }
        };
        summary.cursor = Some(cursor);
        r.sstats
            .cursor_unix
            .store(cursor.timestamp(), Ordering::Relaxed);
        // Shrinks after repeated stream failures (split in halves), grows back after successes.
        let mut window_cap = cfg.max_window.min(MAX_WINDOW);
        let mut clean_in_a_row = 0u32;
        loop {
            if cancel.is_cancelled() {
                break;
            }
            let margin =
                Duration::from_secs(self.extra_margin.load(Ordering::Relaxed).max(0) as u64);
            let now = cfg.clock.now();
            let extra_lag = self.extra_lag.load(Ordering::Relaxed).max(0);
            let limit = (extra_lag > 0).then(|| {
                floor_secs(now - chrono_dur(cfg.end_lag) - chrono::Duration::seconds(extra_lag))
            });
            let Some(plan) = plan_window(cfg, cursor, now, margin, limit, window_cap) else {
                break;
            };
            if let Some((gs, ge)) = plan.gap {
                tracing::warn!(zone = %cfg.zone_id, hole_start = %gs, hole_end = %ge,
                    "Logpull cursor is older than Cloudflare's 168h retention: the records received in \
                     [hole_start, hole_end) are lost and skipped");
            }
            let began = std::time::Instant::now();
            let n = match r
                .run(plan.start, plan.end, &cancel, &|_, _| {}, Some(SPLIT_AFTER))
                .await
            {
                Ok(n) => n,
                Err(CfError::Cancelled) => break,
                Err(CfError::Stream { .. }) => {
                    let len = (plan.end - plan.start).to_std().unwrap_or(window_cap);
                    window_cap = (len / 2).max(Duration::from_secs(MIN_SPLIT_SECS as u64));
                    clean_in_a_row = 0;
                    summary.failed_attempts += 1;
                    continue;
                }
                Err(e) if e.is_logpull_too_late() => {
                    // The server clock is behind ours: keep windows further from now.
                    let l = (self.extra_lag.load(Ordering::Relaxed) + 30).min(900);
                    self.extra_lag.store(l, Ordering::Relaxed);
                    tracing::warn!(zone = %cfg.zone_id, extra_end_lag_secs = l,
                        "Cloudflare says the window is too late (its clock is behind): ending windows earlier");
                    summary.failed_attempts += 1;
                    continue;
                }
                Err(e)
                    if e.is_logpull_too_early()
                        || matches!(&e, CfError::RetriesExhausted { last, .. } if last.is_logpull_too_early()) =>
                {
                    let m = self.extra_margin.fetch_add(60, Ordering::Relaxed) + 60;
                    tracing::warn!(zone = %cfg.zone_id, extra_margin_secs = m,
                        "Cloudflare says the window is too early (its clock is ahead): moving the start later");
                    continue;
                }
                Err(e) => return Err(e),
            };
            let saved = LogpullCursor {
                next_start: plan.end,
            };
            if let Err(e) = blocking(|| self.store.save(&key, &saved)) {
                // The window was reported committed but its cursor is not saved: it will be
                // replayed, so outputs must keep what it wrote.
                r.sink
                    .end_unit(&r.unit(plan.start, plan.end), UnitOutcome::Aborted);
                return Err(e.into());
            }
            if let Some((gs, ge)) = plan.gap {
                r.sink.gap(&r.source, gs, ge);
                let secs = (ge - gs).num_seconds().max(0) as u64;
                summary.gap_seconds += secs;
                r.sstats.gap_seconds.fetch_add(secs, Ordering::Relaxed);
            }
            cursor = plan.end;
            clean_in_a_row += 1;
            if clean_in_a_row >= 4 {
                // Grow back slowly after a split.
                window_cap = (window_cap * 2).min(cfg.max_window.min(MAX_WINDOW));
                clean_in_a_row = 0;
            }
            summary.units_done += 1;
            summary.records += n;
            summary.cursor = Some(cursor);
            r.sstats.records.fetch_add(n, Ordering::Relaxed);
            r.sstats.windows_done.fetch_add(1, Ordering::Relaxed);
            r.sstats
                .cursor_unix
                .store(cursor.timestamp(), Ordering::Relaxed);
            r.sstats.mark_success();
            tracing::info!(source = %r.source, start = %rfc3339_secs(plan.start), end = %rfc3339_secs(plan.end),
                records = n, duration_ms = began.elapsed().as_millis() as u64, "Logpull window done");
        }
        if !cancel.is_cancelled() {
            // a pass that found nothing to fetch (caught up) is a success too
            r.sstats.mark_success();
        }
        Ok(summary)
    }

    /// Daemon: catch up, then one pass every `interval`, until cancelled. Returns Err only for errors
    /// that retrying cannot fix (credentials, permissions, configuration, retention off, cursor store).
    pub async fn run(&self, cancel: CancellationToken) -> Result<(), CfError> {
        crate::util::daemon_loop(self.source(), self.runner.cfg.interval, &cancel, || {
            self.run_once(cancel.clone())
        })
        .await
    }
}

/// Collects an explicit range `[start, end)` (clamped to the retention limit and `now − end_lag`) in
/// windows fetched in parallel under the shared rate limiter. Writes no cursor. Returns after every
/// window was committed, or with the first error.
pub async fn backfill_logpull(
    client: &CloudflareClient,
    cfg: LogpullConfig,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    sink: Arc<dyn RecordSink>,
    cancel: CancellationToken,
    progress: impl Fn(ProgressEvent) + Send + Sync,
) -> Result<RunSummary, CfError> {
    cfg.validate()?;
    let conc = cfg.backfill_concurrency.max(1);
    let runner = WindowRunner::new(client.clone(), Arc::new(cfg), sink);
    let cfg = runner.cfg.clone();
    if cfg.check_retention {
        let on = client.logpull_retention(&cfg.auth, &cfg.zone_id).await?;
        if !on {
            return Err(CfError::RetentionDisabled {
                zone: cfg.zone_id.clone(),
            });
        }
    }
    // Plan every window up front with one "now".
    let now = cfg.clock.now();
    let mut windows = Vec::new();
    let mut summary = RunSummary::default();
    let mut cur = floor_secs(start);
    while let Some(p) = plan_window(&cfg, cur, now, Duration::ZERO, Some(end), MAX_WINDOW) {
        if let Some((gs, ge)) = p.gap {
            tracing::warn!(zone = %cfg.zone_id, hole_start = %gs, hole_end = %ge,
                "backfill range starts before Logpull's 168h retention: [hole_start, hole_end) cannot be fetched");
            summary.gap_seconds += (ge - gs).num_seconds().max(0) as u64;
            runner.sink.gap(&runner.source, gs, ge);
            progress(ProgressEvent::Gap { start: gs, end: ge });
        }
        windows.push((p.start, p.end));
        cur = p.end;
    }
    if windows.is_empty() && start < end {
        let earliest = now - chrono_dur(RETENTION) + chrono_dur(cfg.retention_margin);
        if start < earliest {
            let ge = end.min(earliest);
            tracing::warn!(zone = %cfg.zone_id, hole_start = %start, hole_end = %ge,
                "backfill range is older than Logpull's 168h retention: nothing can be fetched");
            summary.gap_seconds += (ge - start).num_seconds().max(0) as u64;
            runner.sink.gap(&runner.source, start, ge);
            progress(ProgressEvent::Gap { start, end: ge });
        } else {
            tracing::warn!(zone = %cfg.zone_id, %start, %end,
                "backfill range ends less than end_lag before now: nothing to fetch yet");
        }
    }
    let runner = &runner;
    let progress: &(dyn Fn(ProgressEvent) + Send + Sync) = &progress;
    let cancel = &cancel;
    let units = windows.into_iter().map(|(s, e)| async move {
        if cancel.is_cancelled() {
            return (s, e, Err(CfError::Cancelled));
        }
        let on_retry = crate::util::retry_progress(progress, s, e);
        let r = runner.run(s, e, cancel, &on_retry, None).await;
        if let Ok(n) = r {
            runner.sstats.records.fetch_add(n, Ordering::Relaxed);
            runner.sstats.windows_done.fetch_add(1, Ordering::Relaxed);
        }
        (s, e, r.map(|n| (1, n)))
    });
    let r = crate::util::drive_backfill(units, conc, cancel, progress, &mut summary).await;
    summary.cursor = Some(cur);
    r.map(|()| summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn windows_respect_cloudflare_rules() {
        let cfg = LogpullConfig::new("z", Auth::token("x"));
        let now = t("2026-11-25T12:00:30Z");
        // Cursor 30h back: first window is exactly 1h, starting at the cursor.
        let p = plan_window(
            &cfg,
            t("2026-11-24T06:00:00Z"),
            now,
            Duration::ZERO,
            None,
            MAX_WINDOW,
        )
        .unwrap();
        assert_eq!(p.start, t("2026-11-24T06:00:00Z"));
        assert_eq!(p.end, t("2026-11-24T07:00:00Z"));
        assert!(p.gap.is_none());
        // Near now: ends at now − 1m (whole seconds).
        let p = plan_window(
            &cfg,
            t("2026-11-25T11:50:00Z"),
            now,
            Duration::ZERO,
            None,
            MAX_WINDOW,
        )
        .unwrap();
        assert_eq!(p.end, t("2026-11-25T11:59:30Z"));
        // Caught up.
        assert!(plan_window(
            &cfg,
            t("2026-11-25T11:59:30Z"),
            now,
            Duration::ZERO,
            None,
            MAX_WINDOW
        )
        .is_none());
        // Cursor beyond retention: clamped with a gap, start after now − 168h + margin.
        let p = plan_window(
            &cfg,
            t("2026-11-01T00:00:00Z"),
            now,
            Duration::ZERO,
            None,
            MAX_WINDOW,
        )
        .unwrap();
        let edge = now - chrono::Duration::hours(168);
        assert!(p.start > edge + chrono::Duration::minutes(5));
        assert_eq!(p.gap.unwrap().0, t("2026-11-01T00:00:00Z"));
        assert_eq!(p.gap.unwrap().1, p.start);
        assert!(p.end - p.start <= chrono::Duration::hours(1));
    }

    #[test]
    fn exact_fields_are_requested_as_given() {
        let mut cfg = LogpullConfig::new("z", Auth::token("x"));
        cfg.modern = true;
        cfg.exact_fields = true;
        cfg.bot_fields = true;
        cfg.fields = Some(vec!["RayID".into(), "ClientIP".into()]);
        assert_eq!(cfg.fields_param(), "RayID,ClientIP");
    }

    #[test]
    fn modern_fields_param() {
        let mut cfg = LogpullConfig::new("z", Auth::token("x"));
        cfg.modern = true;
        cfg.fields = Some(vec!["Ignored".into()]);
        let f = cfg.fields_param();
        assert_eq!(f, MODERN_FIELDS.join(","));
        for removed in [
            "WAFAction",
            "FirewallMatchesActions",
            "EdgeRateLimitID",
            "SecurityLevel",
        ] {
            assert!(!f.split(',').any(|x| x == removed), "{removed}");
        }
        assert!(!f.contains("BotScore"));
        cfg.bot_fields = true;
        let f = cfg.fields_param();
        assert!(f.ends_with(&MODERN_BOT_FIELDS.join(",")), "{f}");
        let mut all: Vec<&str> = f.split(',').collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "no field twice");
    }

    #[test]
    fn fields_param() {
        let mut cfg = LogpullConfig::new("z", Auth::token("x"));
        assert!(cfg
            .fields_param()
            .starts_with("CacheCacheStatus,CacheResponseBytes,"));
        assert!(cfg.fields_param().ends_with(",ZoneID,Action"));
        cfg.bot_fields = true;
        assert!(cfg
            .fields_param()
            .starts_with("BotScore,BotScoreSrc,CacheCacheStatus"));
        assert_eq!(custom_field_set(None, true), None);
        let elastic: Vec<String> = ELASTIC_DEFAULT_FIELDS
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(custom_field_set(Some(&elastic), false), None);
        assert_eq!(custom_field_set(Some(&elastic), true), None);
        let set = custom_field_set(Some(&["RayID".into(), " ClientIP".into()]), true).unwrap();
        assert!(set.contains("ClientIP") && set.contains("BotScore") && set.len() == 4);
        cfg.fields = Some(vec!["RayID".into(), " ClientIP".into(), "BotScore".into()]);
        assert_eq!(cfg.fields_param(), "BotScore,BotScoreSrc,RayID,ClientIP");
        assert!(ELASTIC_DEFAULT_FIELDS.len() == 61);
    }
}
