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
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

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

/// Elastic's default Logpull `fields` list (Elastic's Cloudflare integration 2.22.0,
/// `data_stream/logpull/manifest.yml`; see docs/cloudflare-api.md), in its order. The client sends
/// it when the configuration names no `fields`. Not Cloudflare's own default set.
pub const ELASTIC_DEFAULT_FIELDS: &[&str] = &[
    "CacheCacheStatus",
    "CacheResponseBytes",
    "CacheResponseStatus",
    "CacheTieredFill",
    "ClientASN",
    "ClientCountry",
    "ClientDeviceType",
    "ClientIP",
    "ClientIPClass",
    "ClientRequestBytes",
    "ClientRequestHost",
    "ClientRequestMethod",
    "ClientRequestPath",
    "ClientRequestProtocol",
    "ClientRequestReferer",
    "ClientRequestURI",
    "ClientRequestUserAgent",
    "ClientSSLCipher",
    "ClientSSLProtocol",
    "ClientSrcPort",
    "ClientXRequestedWith",
    "EdgeColoCode",
    "EdgeColoID",
    "EdgeEndTimestamp",
    "EdgePathingOp",
    "EdgePathingSrc",
    "EdgePathingStatus",
    "EdgeRateLimitAction",
    "EdgeRateLimitID",
    "EdgeRequestHost",
    "EdgeResponseBytes",
    "EdgeResponseCompressionRatio",
    "EdgeResponseContentType",
    "EdgeResponseStatus",
    "EdgeServerIP",
    "EdgeStartTimestamp",
    "FirewallMatchesActions",
    "FirewallMatchesRuleIDs",
    "FirewallMatchesSources",
    "OriginIP",
    "OriginResponseBytes",
    "OriginResponseHTTPExpires",
    "OriginResponseHTTPLastModified",
    "OriginResponseStatus",
    "OriginResponseTime",
    "OriginSSLProtocol",
    "ParentRayID",
    "RayID",
    "SecurityLevel",
    "WAFAction",
    "WAFFlags",
    "WAFMatchedVar",
    "WAFProfile",
    "WAFRuleID",
    "WAFRuleMessage",
    "WorkerCPUTime",
    "WorkerStatus",
    "WorkerSubrequest",
    "WorkerSubrequestCount",
    "ZoneID",
    "Action",
];

/// Added in front of the list by `bot_fields: true` (as Elastic's `enable_bot_fields`).
pub const ELASTIC_BOT_FIELDS: &[&str] = &["BotScore", "BotScoreSrc"];

/// `logpull.fields: modern`: the current Logpull fields (not removed, not deprecated with a
/// replacement, not Logpush-only custom fields) that Elastic's `cloudflare_logpush` `http_request`
/// pipeline (2.0.0) maps to ECS — the `Security*` family that replaced the removed
/// `WAF*`/`FirewallMatches*`/`EdgeRateLimit*` fields, `ClientRequestScheme`, `ZoneName`,
/// `EdgeResponseBodyBytes`, `OriginResponseDurationMs` and the origin timings, fraud and leaked
/// credential fields, Worker script names. Records of such a zone become
/// `cloudflare_logpush.http_request` documents (docs/fidelity.md, "The modern field list"). The
/// client first asks the zone which fields it offers (`/logs/received/fields`) and requests those.
pub const MODERN_FIELDS: &[&str] = &[
    "CacheCacheStatus",
    "CacheReserveUsed",
    "CacheResponseBytes",
    "CacheTieredFill",
    "ClientASN",
    "ClientCity",
    "ClientCountry",
    "ClientDeviceType",
    "ClientIP",
    "ClientIPClass",
    "ClientLatitude",
    "ClientLongitude",
    "ClientMTLSAuthCertFingerprint",
    "ClientMTLSAuthStatus",
    "ClientRegionCode",
    "ClientRequestBytes",
    "ClientRequestHost",
    "ClientRequestMethod",
    "ClientRequestPath",
    "ClientRequestProtocol",
    "ClientRequestReferer",
    "ClientRequestScheme",
    "ClientRequestSource",
    "ClientRequestURI",
    "ClientRequestUserAgent",
    "ClientSSLCipher",
    "ClientSSLProtocol",
    "ClientSrcPort",
    "ClientTCPRTTMs",
    "ClientXRequestedWith",
    "ContentScanObjResults",
    "ContentScanObjSizes",
    "ContentScanObjTypes",
    "EdgeCFConnectingO2O",
    "EdgeColoCode",
    "EdgeColoID",
    "EdgeEndTimestamp",
    "EdgePathingOp",
    "EdgePathingSrc",
    "EdgePathingStatus",
    "EdgeRequestHost",
    "EdgeResponseBodyBytes",
    "EdgeResponseBytes",
    "EdgeResponseCompressionRatio",
    "EdgeResponseContentType",
    "EdgeResponseStatus",
    "EdgeServerIP",
    "EdgeStartTimestamp",
    "EdgeTimeToFirstByteMs",
    "FraudAttack",
    "FraudDetectionIDs",
    "FraudDetectionTags",
    "FraudEmailRisk",
    "FraudUserID",
    "JSDetectionPassed",
    "LeakedCredentialCheckResult",
    "OriginDNSResponseTimeMs",
    "OriginIP",
    "OriginRequestHeaderSendDurationMs",
    "OriginResponseDurationMs",
    "OriginResponseHTTPExpires",
    "OriginResponseHTTPLastModified",
    "OriginResponseHeaderReceiveDurationMs",
    "OriginResponseStatus",
    "OriginSSLProtocol",
    "OriginTCPHandshakeDurationMs",
    "OriginTLSHandshakeDurationMs",
    "ParentRayID",
    "PayPerCrawlStatus",
    "RayID",
    "SecurityAction",
    "SecurityActions",
    "SecurityRuleDescription",
    "SecurityRuleID",
    "SecurityRuleIDs",
    "SecuritySources",
    "SmartRouteColoID",
    "UpperTierColoID",
    "WAFAttackScore",
    "WAFRCEAttackScore",
    "WAFSQLiAttackScore",
    "WAFXSSAttackScore",
    "WebAssetsLabelsManaged",
    "WebAssetsOperationID",
    "WorkerCPUTime",
    "WorkerScriptName",
    "WorkerStatus",
    "WorkerSubrequest",
    "WorkerSubrequestCount",
    "WorkerWallTimeUs",
    "ZoneName",
];

/// Added to [`MODERN_FIELDS`] by `bot_fields: true`: the Bot Management fields the
/// `http_request` pipeline maps (a zone without Bot Management refuses them).
pub const MODERN_BOT_FIELDS: &[&str] = &[
    "BotDetectionTags",
    "BotScore",
    "BotScoreSrc",
    "BotTags",
    "JA3Hash",
    "JA4",
    "JA4Signals",
    "VerifiedBotCategory",
];

/// The names a user's own `fields` list requests (with the bot fields when enabled); `None` when
/// there is no list or it is Elastic's list: the transform then reproduces Elastic exactly.
pub fn custom_field_set(
    fields: Option<&[String]>,
    bot_fields: bool,
) -> Option<std::collections::BTreeSet<String>> {
    let fields = fields?;
    let mut set: std::collections::BTreeSet<String> = fields
        .iter()
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .collect();
    if bot_fields {
        set.extend(ELASTIC_BOT_FIELDS.iter().map(|s| s.to_string()));
    }
    let elastic: std::collections::BTreeSet<String> = ELASTIC_DEFAULT_FIELDS
        .iter()
        .chain(if bot_fields { ELASTIC_BOT_FIELDS } else { &[] })
        .map(|s| s.to_string())
        .collect();
    (set != elastic).then_some(set)
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
    /// units of [`RecordFormat::LogpullModern`]. `fields` is then ignored.
    pub modern: bool,
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
    /// Records per `deliver` call.
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
            bot_fields: false,
            timestamps: Timestamps::UnixNano,
            sample: None,
            max_window: MAX_WINDOW,
            end_lag: Duration::from_secs(60),
            retention_margin: Duration::from_secs(300),
            initial_lookback: Duration::from_secs(300),
            batch_size: 1000,
            check_retention: true,
            backfill_concurrency: 4,
            clock: Clock::System,
        }
    }

    /// The `fields` query value.
    pub fn fields_param(&self) -> String {
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

fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// Part of the requested range that is older than the retention limit.
    gap: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

fn plan_window(
    cfg: &LogpullConfig,
    from: DateTime<Utc>,
    now: DateTime<Utc>,
    extra_margin: Duration,
    limit_end: Option<DateTime<Utc>>,
    window_cap: Duration,
) -> Option<Plan> {
    let mut latest_end = floor_secs(now - chrono_dur(cfg.end_lag));
    if let Some(l) = limit_end {
        latest_end = latest_end.min(l);
    }
    let earliest = floor_secs(
        now - chrono_dur(RETENTION) + chrono_dur(cfg.retention_margin) + chrono_dur(extra_margin),
    ) + chrono::Duration::seconds(1);
    let mut start = from;
    let mut gap = None;
    if start < earliest {
        gap = Some((start, earliest));
        start = earliest;
    }
    if latest_end - start < chrono::Duration::seconds(1) {
        return None;
    }
    let cap = window_cap
        .min(cfg.max_window)
        .min(MAX_WINDOW)
        .max(Duration::from_secs(1));
    let end = (start + chrono_dur(cap)).min(latest_end);
    Some(Plan { start, end, gap })
}

/// Fetches one window and delivers it; retried whole. Shared by the collector and backfill.
struct WindowRunner {
    client: CloudflareClient,
    cfg: Arc<LogpullConfig>,
    sink: Arc<dyn RecordSink>,
    source: SourceId,
    sstats: Arc<SourceStats>,
    /// The `fields` query value; fields Cloudflare refuses (400/403 naming them) are dropped.
    fields: std::sync::Mutex<String>,
    /// `modern`: the list was narrowed to the zone's offered fields.
    offered_checked: std::sync::atomic::AtomicBool,
}

/// The requested fields a 400/403 answer names as unknown or not allowed (e.g. `unknown fields:
/// A,B`, `fields not allowed for this zone (requires Bot Management): BotScore`), in `requested`.
pub fn refused_fields(e: &CfError, requested: &str) -> Vec<String> {
    let CfError::Api { status, errors, .. } = e else {
        return Vec::new();
    };
    if !matches!(status, 400 | 403) {
        return Vec::new();
    }
    let requested: Vec<&str> = requested.split(',').collect();
    let mut out = Vec::new();
    for m in errors {
        let text = m.message.to_ascii_lowercase();
        if !text.contains("field") {
            continue;
        }
        let Some((_, list)) = m.message.rsplit_once(':') else {
            continue;
        };
        for name in list
            .split([',', ' '])
            .map(str::trim)
            .filter(|x| !x.is_empty())
        {
            if requested.contains(&name) && !out.iter().any(|x: &String| x == name) {
                out.push(name.to_string());
            }
        }
    }
    out
}

impl WindowRunner {
    fn new(client: CloudflareClient, cfg: Arc<LogpullConfig>, sink: Arc<dyn RecordSink>) -> Self {
        let source = SourceId::Logpull {
            zone_id: cfg.zone_id.clone(),
        };
        let sstats = client.stats().source(&source);
        let fields = cfg.fields_param();
        WindowRunner {
            client,
            cfg,
            sink,
            source,
            sstats,
            fields: std::sync::Mutex::new(fields),
            offered_checked: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// `modern`: once, before the first window, narrows the list to the fields the zone offers
    /// (`/logs/received/fields`), so a field Cloudflare has not rolled out to Logpull yet is not
    /// requested (a refused request would cost a round trip and a warning). A failed lookup is
    /// tried again before the next window; the full list is used meanwhile (and a refusal still
    /// drops what Cloudflare names).
    async fn narrow_to_offered(&self) {
        use std::sync::atomic::Ordering;
        if !self.cfg.modern || self.offered_checked.load(Ordering::Relaxed) {
            return;
        }
        match self
            .client
            .logpull_fields(&self.cfg.auth, &self.cfg.zone_id)
            .await
        {
            Ok(offered) => {
                self.offered_checked.store(true, Ordering::Relaxed);
                if let Ok(mut fields) = self.fields.lock() {
                    let (kept, left): (Vec<&str>, Vec<&str>) = fields
                        .split(',')
                        .partition(|f| offered.iter().any(|o| o == f));
                    if !left.is_empty() && !kept.is_empty() {
                        tracing::info!(zone = %self.cfg.zone_id, not_offered = %left.join(","),
                            requested = kept.len(), "modern Logpull field list: the zone does not offer some fields; requesting the others");
                        *fields = kept.join(",");
                    }
                }
            }
            Err(e) => {
                tracing::debug!(zone = %self.cfg.zone_id, error = %e, "could not read the zone's Logpull fields; requesting the whole modern list");
            }
        }
    }

    fn fields_now(&self) -> String {
        self.fields.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Drops the fields Cloudflare refused from the list (warning once per field); `true` when
    /// the window should be asked again without them.
    fn drop_refused(&self, e: &CfError) -> bool {
        let Ok(mut fields) = self.fields.lock() else {
            return false;
        };
        let refused = refused_fields(e, &fields);
        if refused.is_empty() {
            return false;
        }
        let kept: Vec<&str> = fields
            .split(',')
            .filter(|f| !refused.iter().any(|r| r == f))
            .collect();
        if kept.is_empty() {
            return false;
        }
        tracing::warn!(zone = %self.cfg.zone_id, dropped = %refused.join(","), error = %e,
            "Cloudflare refuses these Logpull fields for this zone: requesting the others from now on (fix `logpull.fields` / `bot_fields`)");
        *fields = kept.join(",");
        true
    }

    fn unit(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Unit {
        Unit {
            source: self.source.clone(),
            format: if self.cfg.modern {
                RecordFormat::LogpullModern
            } else {
                RecordFormat::Logpull
            },
            start,
            end,
        }
    }

    fn query(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<(&'static str, String)> {
        let mut q = vec![
            ("start", rfc3339_secs(start)),
            ("end", rfc3339_secs(end)),
            ("fields", self.fields_now()),
            ("timestamps", self.cfg.timestamps.as_param().to_string()),
        ];
        if let Some(s) = self.cfg.sample {
            q.push(("sample", s.to_string()));
        }
        q
    }

    async fn attempt(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        ctx: &str,
        cancel: &CancellationToken,
    ) -> Result<u64, (CfError, u64)> {
        self.narrow_to_offered().await;
        let q = self.query(start, end);
        // Waiting for the rate limiter / the response headers can be cancelled (nothing delivered
        // yet); once records flow, the window is finished.
        let opened = tokio::select! {
            r = self.client.open_logpull(&self.cfg.auth, &self.cfg.zone_id, &q, ctx) => r,
            _ = cancel.cancelled() => return Err((CfError::Cancelled, 0)),
        };
        let mut stream = match opened {
            Ok(s) => s,
            Err(CfError::RetentionDisabled { zone }) => {
                // 204: users report it both for "retention off" and for "no logs in this window".
                // The flag decides: on → an empty window (the cursor advances), off → the error.
                return match self.client.logpull_retention(&self.cfg.auth, &zone).await {
                    Ok(true) => {
                        tracing::debug!(zone = %zone, %start, %end, "204 with retention on: empty window");
                        Ok(0)
                    }
                    Ok(false) => Err((CfError::RetentionDisabled { zone }, 0)),
                    Err(e) => Err((e, 0)),
                };
            }
            Err(e) => return Err((e, 0)),
        };
        let mut delivered = 0u64;
        let unit = self.unit(start, end);
        loop {
            match stream.next_batch(self.cfg.batch_size).await {
                Ok(Some(batch)) => {
                    let n = batch.len() as u64;
                    self.sink.deliver(&unit, batch).await.map_err(|source| {
                        (
                            CfError::Sink {
                                context: ctx.to_string(),
                                source,
                            },
                            delivered,
                        )
                    })?;
                    delivered += n;
                }
                Ok(None) => return Ok(delivered),
                Err(e) => return Err((e, delivered)),
            }
        }
    }

    /// Runs one window with retries. `Err(Cancelled)` if cancelled while waiting to retry.
    async fn run(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        cancel: &CancellationToken,
        on_retry: &(dyn Fn(u32, &CfError) + Send + Sync),
        split_after: Option<u32>,
    ) -> Result<u64, CfError> {
        let ctx = format!(
            "zone {} window [{}, {})",
            self.cfg.zone_id,
            rfc3339_secs(start),
            rfc3339_secs(end)
        );
        let ctx = &ctx;
        // One attempt of the window; a refused field list is asked again at once without the
        // refused fields (instead of failing the whole stream as Elastic Agent does) and is no
        // failed attempt.
        let op = || async move {
            loop {
                match self.attempt(start, end, ctx, cancel).await {
                    Ok(n) => return Ok(n),
                    Err((CfError::Cancelled, d)) => return Err((CfError::Cancelled, d)),
                    Err((e, 0)) if self.drop_refused(&e) => continue,
                    Err((e, delivered)) => {
                        // A failed `deliver` may have handled part of its batch: abort then too.
                        if delivered > 0 || matches!(e, CfError::Sink { .. }) {
                            self.sink
                                .end_unit(&self.unit(start, end), UnitOutcome::Aborted);
                        }
                        self.client
                            .stats()
                            .failed_requests
                            .fetch_add(1, Ordering::Relaxed);
                        self.sstats.windows_failed.fetch_add(1, Ordering::Relaxed);
                        return Err((e, delivered));
                    }
                }
            }
        };
        let mut attempt = 0u32;
        let classify = |(e, delivered): &(CfError, u64)| {
            attempt += 1;
            if matches!(e, CfError::Cancelled) {
                return Decision::GiveUp;
            }
            if !e.is_retryable() {
                // the caller reports it (once): the collector's error ends the source
                tracing::debug!(zone = %self.cfg.zone_id, window_start = %start, window_end = %end,
                    attempt, delivered, error = %e, "Logpull window failed (not retryable)");
                return Decision::GiveUp;
            }
            if let Some(k) = split_after {
                if attempt >= k
                    && matches!(e, CfError::Stream { .. })
                    && end - start >= chrono::Duration::seconds(MIN_SPLIT_SECS * 2)
                {
                    tracing::warn!(zone = %self.cfg.zone_id, window_start = %start, window_end = %end,
                        attempt, error = %e, "Logpull stream failed repeatedly: splitting the window in halves");
                    return Decision::GiveUp;
                }
                if e.is_logpull_too_late() {
                    // The collector re-plans with a larger end lag.
                    return Decision::GiveUp;
                }
            }
            if e.is_logpull_too_late() {
                Decision::AtLeast(Duration::from_secs(5))
            } else {
                decide(e)
            }
        };
        let hook = |r: &Retrying<'_, (CfError, u64)>| {
            let (e, delivered) = r.error;
            tracing::warn!(zone = %self.cfg.zone_id, window_start = %start, window_end = %end,
                attempt = r.attempt, delivered, wait = ?r.wait, error = %e, "Logpull window failed, retrying the whole window");
            on_retry(r.attempt, e);
            self.client.stats().retries.fetch_add(1, Ordering::Relaxed);
        };
        let policy = self.client.config().retry.policy();
        match retry(policy, Some(cancel), op, classify, hook).await {
            Ok(n) => {
                self.sink
                    .end_unit(&self.unit(start, end), UnitOutcome::Committed);
                Ok(n)
            }
            Err(Stop::Exhausted {
                attempts,
                error: (e, delivered),
            }) => {
                tracing::error!(zone = %self.cfg.zone_id, window_start = %start, window_end = %end,
                    attempt = attempts, delivered, error = %e, "Logpull window failed, giving up for now");
                Err(CfError::RetriesExhausted {
                    context: ctx.clone(),
                    attempts,
                    last: Box::new(e),
                })
            }
            Err(Stop::Cancelled { .. }) => Err(CfError::Cancelled),
            Err(Stop::GaveUp { error: (e, _), .. }) => Err(e),
        }
    }
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
            blocking(|| self.store.save(&key, &saved))?;
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
    let progress = &progress;
    let cancel = &cancel;
    let mut results = futures::stream::iter(windows.into_iter().map(|(s, e)| async move {
        if cancel.is_cancelled() {
            return (s, e, Err(CfError::Cancelled));
        }
        let on_retry = |attempt: u32, err: &CfError| {
            progress(ProgressEvent::UnitRetry {
                start: s,
                end: e,
                attempt,
                reason: err.to_string(),
            })
        };
        let r = runner.run(s, e, cancel, &on_retry, None).await;
        (s, e, r)
    }))
    .buffer_unordered(conc);
    let mut first_err = None;
    while let Some((s, e, r)) = results.next().await {
        match r {
            Ok(n) => {
                summary.units_done += 1;
                summary.records += n;
                runner.sstats.records.fetch_add(n, Ordering::Relaxed);
                runner.sstats.windows_done.fetch_add(1, Ordering::Relaxed);
                progress(ProgressEvent::UnitDone {
                    start: s,
                    end: e,
                    records: n,
                });
            }
            Err(CfError::Cancelled) => {}
            Err(err) => {
                if first_err.is_none() {
                    first_err = Some(err);
                }
            }
        }
    }
    summary.cursor = Some(cur);
    match first_err {
        Some(e) => Err(e),
        None if cancel.is_cancelled() => Err(CfError::Cancelled),
        None => Ok(summary),
    }
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
