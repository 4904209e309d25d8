//! Audit log collector (v1 `/accounts/{id}/audit_logs` page pagination, or v2 `/accounts/{id}/logs/audit`
//! cursor pagination). The cursor is the newest `when` plus the ids already delivered at that instant,
//! so Cloudflare's inclusive `since` neither loses nor repeats an event.

use crate::auth::Auth;
use crate::client::CloudflareClient;
use crate::error::CfError;
use crate::sink::{RecordFormat, RecordSink, SourceId, Unit, UnitOutcome};
use crate::stats::SourceStats;
use crate::util::{blocking, rfc3339_micros, Clock, ProgressEvent, RunSummary};
use bytes::Bytes;
use cfship_retry::{Decision, Retrier, Retrying, Stop};
use cfship_state::CursorStore;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditApi {
    /// `GET /accounts/{id}/audit_logs` (page/per_page). Has before/after values.
    #[default]
    V1,
    /// `GET /accounts/{id}/logs/audit` (cursor pagination, GA 2026-03-10). No view actions, no values.
    V2,
}

#[derive(Clone, Debug)]
pub struct AuditConfig {
    pub account_id: String,
    pub auth: Auth,
    /// Polling interval once caught up (Elastic's default: 1h).
    pub interval: Duration,
    /// First run without a cursor: `since = now − initial_lookback` (Elastic: 720h).
    pub initial_lookback: Duration,
    pub api: AuditApi,
    /// v1 `per_page` / v2 `limit` (1..=1000).
    pub per_page: u32,
    /// Each sweep asks for `before = now − end_lag`.
    pub end_lag: Duration,
    /// Size of the windows fetched in parallel by `backfill_audit`.
    pub backfill_window: Duration,
    pub backfill_concurrency: usize,
    pub clock: Clock,
}

impl AuditConfig {
    pub fn new(account_id: impl Into<String>, auth: Auth) -> Self {
        AuditConfig {
            account_id: account_id.into(),
            auth,
            interval: Duration::from_secs(3600),
            initial_lookback: Duration::from_secs(720 * 3600),
            api: AuditApi::V1,
            per_page: 100,
            end_lag: Duration::from_secs(60),
            backfill_window: Duration::from_secs(24 * 3600),
            backfill_concurrency: 4,
            clock: Clock::System,
        }
    }

    /// The rules of every setting (the one place they are checked: at startup by the binary,
    /// which adds the line of the config file, and again when a collector is built).
    pub fn validate(&self) -> Result<(), CfError> {
        let bad = |key, reason: String| {
            Err(CfError::Setting {
                section: "audit",
                key,
                reason,
            })
        };
        if self.account_id.trim().is_empty() {
            return bad("account_id", "is empty".into());
        }
        if !(1..=1000).contains(&self.per_page) {
            return bad(
                "per_page",
                format!("must be 1..=1000, got {}", self.per_page),
            );
        }
        Ok(())
    }
}

/// Persistent state of one account.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditCursor {
    /// Newest `when` delivered.
    pub when: DateTime<Utc>,
    /// Ids delivered whose `when` equals `when`.
    pub ids: BTreeSet<String>,
}

fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[derive(Deserialize)]
struct V1Head {
    id: String,
    when: DateTime<Utc>,
}
#[derive(Deserialize)]
struct V2Action {
    time: DateTime<Utc>,
}
#[derive(Deserialize)]
struct V2Head {
    id: String,
    action: V2Action,
}

fn head(api: AuditApi, raw: &str) -> Result<(String, DateTime<Utc>), String> {
    match api {
        AuditApi::V1 => serde_json::from_str::<V1Head>(raw)
            .map(|h| (h.id, h.when))
            .map_err(|e| format!("audit record without id/when: {e}")),
        AuditApi::V2 => serde_json::from_str::<V2Head>(raw)
            .map(|h| (h.id, h.action.time))
            .map_err(|e| format!("audit v2 record without id/action.time: {e}")),
    }
}

struct Sweeper {
    /// Page size in use: starts at `per_page`, falls back to 100 when Cloudflare rejects it.
    page_size: std::sync::atomic::AtomicU32,
    client: CloudflareClient,
    cfg: Arc<AuditConfig>,
    sink: Arc<dyn RecordSink>,
    source: SourceId,
    sstats: Arc<SourceStats>,
}

#[derive(Default)]
struct SweepOut {
    pages: u64,
    records: u64,
}

impl Sweeper {
    fn new(client: CloudflareClient, cfg: Arc<AuditConfig>, sink: Arc<dyn RecordSink>) -> Self {
        let source = SourceId::Audit {
            account_id: cfg.account_id.clone(),
        };
        let sstats = client.stats().source(&source);
        Sweeper {
            page_size: std::sync::atomic::AtomicU32::new(cfg.per_page),
            client,
            cfg,
            sink,
            source,
            sstats,
        }
    }

    /// Pages through `[cursor.when, before)` once, delivering new records and advancing `cursor` after
    /// each acknowledged page (`save` persists it). On error `cursor` holds the last committed state.
    ///
    /// The sweep is one unit, committed in parts: [`UnitOutcome::Progress`] after each page (cursor
    /// saved), [`UnitOutcome::Committed`] once the whole range is swept. A page boundary is no
    /// unit boundary: after a crash or an aborted sweep, the replay pages differently (it starts
    /// at the saved cursor), so only the end of the sweep says every record is past.
    async fn sweep(
        &self,
        cursor: &mut AuditCursor,
        before: DateTime<Utc>,
        save: &(dyn Fn(&AuditCursor) -> Result<(), CfError> + Send + Sync),
        out: &mut SweepOut,
        cancel: &CancellationToken,
    ) -> Result<(), CfError> {
        let unit = Unit {
            source: self.source.clone(),
            format: match self.cfg.api {
                AuditApi::V1 => RecordFormat::AuditV1,
                AuditApi::V2 => RecordFormat::AuditV2,
            },
            start: cursor.when,
            end: before,
        };
        self.sweep_pages(&unit, cursor, before, save, out, cancel)
            .await?;
        self.sink.end_unit(&unit, UnitOutcome::Committed);
        Ok(())
    }

    async fn sweep_pages(
        &self,
        unit: &Unit,
        cursor: &mut AuditCursor,
        before: DateTime<Utc>,
        save: &(dyn Fn(&AuditCursor) -> Result<(), CfError> + Send + Sync),
        out: &mut SweepOut,
        cancel: &CancellationToken,
    ) -> Result<(), CfError> {
        let cfg = &self.cfg;
        let since = rfc3339_micros(cursor.when);
        let before_s = rfc3339_micros(before);
        let (path, size_key) = match cfg.api {
            AuditApi::V1 => (
                format!("accounts/{}/audit_logs", cfg.account_id),
                "per_page",
            ),
            AuditApi::V2 => (format!("accounts/{}/logs/audit", cfg.account_id), "limit"),
        };
        let page_size = self.page_size.load(Ordering::Relaxed);
        let mut page = 1u64;
        let mut next_cursor: Option<String> = None;
        let mut prev_first: Option<String> = None;
        loop {
            if cancel.is_cancelled() {
                // Every delivered page is committed and saved; stop before the next one.
                return Err(CfError::Cancelled);
            }
            let mut q: Vec<(&str, String)> = vec![
                ("since", since.clone()),
                ("before", before_s.clone()),
                ("direction", "asc".to_string()),
                (size_key, page_size.to_string()),
            ];
            match cfg.api {
                AuditApi::V1 => q.push(("page", page.to_string())),
                AuditApi::V2 => {
                    if let Some(c) = &next_cursor {
                        q.push(("cursor", c.clone()));
                    }
                }
            }
            let ctx = format!(
                "account {} audit {:?} [{since}, {before_s}) page {page}",
                cfg.account_id, cfg.api
            );
            // The page fetch (rate limiter, Retry-After, retries) can be cancelled: nothing of this page
            // was delivered yet.
            let env = tokio::select! {
                r = self.client.get_envelope(&cfg.auth, &path, &q, &ctx) => r?,
                _ = cancel.cancelled() => return Err(CfError::Cancelled),
            };
            let raw = env.result.as_ref().map(|r| r.get()).unwrap_or("[]");
            let items: Vec<&serde_json::value::RawValue> =
                serde_json::from_str(raw).map_err(|e| CfError::Decode {
                    context: ctx.clone(),
                    reason: format!("result is not an array: {e}"),
                })?;
            let n_items = items.len();
            if n_items == 0 {
                return Ok(());
            }
            // Guard against a server that repeats a page.
            let first_id = head(cfg.api, items[0].get()).ok().map(|h| h.0);
            if first_id.is_some() && first_id == prev_first {
                tracing::warn!(account = %cfg.account_id, page, "audit API returned the same page twice; stopping this sweep");
                return Ok(());
            }
            prev_first = first_id;
            let mut batch = Vec::with_capacity(n_items);
            let mut next = cursor.clone();
            for it in &items {
                let (id, when) = head(cfg.api, it.get()).map_err(|reason| CfError::Decode {
                    context: ctx.clone(),
                    reason,
                })?;
                if when < cursor.when || when >= before {
                    continue;
                }
                if when == cursor.when && cursor.ids.contains(&id) {
                    continue;
                }
                if when > next.when {
                    next.when = when;
                    next.ids.clear();
                }
                if when == next.when {
                    next.ids.insert(id);
                }
                batch.push(Bytes::copy_from_slice(it.get().as_bytes()));
            }
            let n = batch.len() as u64;
            if n > 0 {
                if let Err(source) = self.sink.deliver(unit, batch).await {
                    self.sink.end_unit(unit, UnitOutcome::Aborted);
                    return Err(CfError::Sink {
                        context: ctx,
                        source,
                    });
                }
                // The cursor first: an output that forgets what a committed page wrote must only
                // hear of it once the page can never be replayed.
                if let Err(e) = save(&next) {
                    self.sink.end_unit(unit, UnitOutcome::Aborted);
                    return Err(e);
                }
                self.sink.end_unit(unit, UnitOutcome::Progress);
                *cursor = next;
                self.sstats.records.fetch_add(n, Ordering::Relaxed);
                self.sstats
                    .cursor_unix
                    .store(cursor.when.timestamp(), Ordering::Relaxed);
            }
            out.pages += 1;
            out.records += n;
            self.sstats.windows_done.fetch_add(1, Ordering::Relaxed);
            match cfg.api {
                AuditApi::V1 => {
                    if (n_items as u64) < u64::from(page_size) {
                        return Ok(());
                    }
                    if let Some(tp) = env
                        .result_info
                        .as_ref()
                        .and_then(|ri| ri.get("total_pages"))
                        .and_then(|v| v.as_u64())
                    {
                        if page >= tp {
                            return Ok(());
                        }
                    }
                    page += 1;
                }
                AuditApi::V2 => {
                    let ri = env.result_info.as_ref();
                    let c = ri
                        .and_then(|ri| ri.get("cursor"))
                        .or_else(|| {
                            ri.and_then(|ri| ri.get("cursors"))
                                .and_then(|c| c.get("after"))
                        })
                        .and_then(|v| v.as_str())
                        .filter(|s| !s.is_empty())
                        .map(str::to_string);
                    match c {
                        None => return Ok(()),
                        Some(c) if Some(&c) == next_cursor.as_ref() => {
                            tracing::warn!(account = %cfg.account_id, "audit v2 cursor repeated; stopping this sweep");
                            return Ok(());
                        }
                        Some(c) => next_cursor = Some(c),
                    }
                    page += 1;
                }
            }
        }
    }

    /// A 400 about `per_page` / `limit` while a page size above 100 is in use.
    fn page_size_rejected(&self, e: &CfError) -> bool {
        let CfError::Api {
            status: 400,
            errors,
            ..
        } = e
        else {
            return false;
        };
        self.page_size.load(Ordering::Relaxed) > 100
            && errors.iter().any(|m| {
                let t = m.message.to_ascii_lowercase();
                t.contains("per_page") || t.contains("limit")
            })
    }

    /// Sweeps with retries (restarting from the last committed cursor).
    async fn sweep_retrying(
        &self,
        cursor: &mut AuditCursor,
        before: DateTime<Utc>,
        save: &(dyn Fn(&AuditCursor) -> Result<(), CfError> + Send + Sync),
        cancel: &CancellationToken,
        on_retry: &(dyn Fn(u32, &CfError) + Send + Sync),
        out: &mut SweepOut,
    ) -> Result<(), CfError> {
        // Each attempt resumes from the cursor the previous one committed, so the loop keeps its
        // state (`cursor`, `out`) between attempts: the stateful form of the retry driver.
        let mut retrier = Retrier::new(self.client.config().retry.policy()).cancel_on(cancel);
        loop {
            let e = match self.sweep(cursor, before, save, out, cancel).await {
                Ok(()) => return Ok(()),
                Err(CfError::Cancelled) => return Err(CfError::Cancelled),
                Err(e) if self.page_size_rejected(&e) => {
                    let old = self.page_size.swap(100, Ordering::Relaxed);
                    tracing::warn!(account = %self.cfg.account_id, rejected = old, error = %e,
                        "Cloudflare rejected the audit page size; continuing with 100");
                    continue;
                }
                Err(e) => e,
            };
            self.sstats.windows_failed.fetch_add(1, Ordering::Relaxed);
            self.sstats.mark_error(&e);
            // A page whose own retries ran out is worth another sweep after the backoff.
            let retryable = e.is_retryable()
                || matches!(&e, CfError::RetriesExhausted { last, .. } if last.is_retryable());
            let decision = if retryable {
                Decision::Backoff
            } else {
                Decision::GiveUp
            };
            let since = cursor.when;
            let hook = |r: &Retrying<'_, CfError>| {
                tracing::warn!(account = %self.cfg.account_id, since = %since, before = %before,
                    attempt = r.attempt, wait = ?r.wait, error = %r.error, "audit log sweep failed, resuming from the last committed page");
                on_retry(r.attempt, r.error);
                self.client.stats().retries.fetch_add(1, Ordering::Relaxed);
            };
            match retrier.failed(e, decision, hook).await {
                Ok(()) => {}
                Err(Stop::Cancelled { .. }) => return Err(CfError::Cancelled),
                Err(Stop::GaveUp { attempts, error }) => {
                    // the caller reports it (once): the collector's error ends the source
                    tracing::debug!(account = %self.cfg.account_id, since = %cursor.when, before = %before,
                        attempt = attempts, error = %error, "audit log sweep failed (not retryable)");
                    return Err(error);
                }
                Err(Stop::Exhausted { attempts, error }) => {
                    tracing::error!(account = %self.cfg.account_id, since = %cursor.when, before = %before,
                        attempt = attempts, error = %error, "audit log sweep failed");
                    return Err(error);
                }
            }
        }
    }
}

/// Collects one account's audit logs with a durable cursor.
pub struct AuditCollector {
    sweeper: Sweeper,
    store: Arc<CursorStore>,
}

impl AuditCollector {
    pub fn new(
        client: CloudflareClient,
        cfg: AuditConfig,
        store: Arc<CursorStore>,
        sink: Arc<dyn RecordSink>,
    ) -> Result<Self, CfError> {
        cfg.validate()?;
        Ok(AuditCollector {
            sweeper: Sweeper::new(client, Arc::new(cfg), sink),
            store,
        })
    }

    pub fn source(&self) -> &SourceId {
        &self.sweeper.source
    }

    pub fn cursor(&self) -> Result<Option<AuditCursor>, CfError> {
        Ok(self.store.load(&self.sweeper.source.state_key())?)
    }

    /// One sweep up to `now − end_lag`, then returns. On cancel: the page in flight is finished and
    /// saved, then it returns Ok.
    pub async fn run_once(&self, cancel: CancellationToken) -> Result<RunSummary, CfError> {
        let cfg = &self.sweeper.cfg;
        let key = self.sweeper.source.state_key();
        let now = cfg.clock.now();
        let mut cursor = match self.store.load::<AuditCursor>(&key)? {
            Some(c) => c,
            None => {
                let since = now - chrono_dur(cfg.initial_lookback);
                tracing::info!(account = %cfg.account_id, since = %since, "no audit cursor yet, starting at now − initial_lookback");
                AuditCursor {
                    when: since,
                    ids: BTreeSet::new(),
                }
            }
        };
        // where the source stands, also before (or without) a new event
        self.sweeper
            .sstats
            .cursor_unix
            .store(cursor.when.timestamp(), Ordering::Relaxed);
        let before = now - chrono_dur(cfg.end_lag);
        let mut summary = RunSummary {
            cursor: Some(cursor.when),
            ..Default::default()
        };
        if before <= cursor.when || cancel.is_cancelled() {
            if !cancel.is_cancelled() {
                self.sweeper.sstats.mark_success();
            }
            return Ok(summary);
        }
        let store = self.store.clone();
        let save_key = key.clone();
        let save = move |c: &AuditCursor| -> Result<(), CfError> {
            Ok(blocking(|| store.save(&save_key, c))?)
        };
        let failed = std::sync::atomic::AtomicU64::new(0);
        let on_retry = |_: u32, _: &CfError| {
            failed.fetch_add(1, Ordering::Relaxed);
        };
        let mut out = SweepOut::default();
        let began = std::time::Instant::now();
        let since = cursor.when;
        let r = self
            .sweeper
            .sweep_retrying(&mut cursor, before, &save, &cancel, &on_retry, &mut out)
            .await;
        if r.is_ok() {
            self.sweeper.sstats.mark_success();
            tracing::info!(source = %self.sweeper.source, since = %since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                before = %before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), pages = out.pages, records = out.records,
                duration_ms = began.elapsed().as_millis() as u64, "audit sweep done");
        }
        summary.failed_attempts = failed.load(Ordering::Relaxed);
        summary.cursor = Some(cursor.when);
        summary.units_done = out.pages;
        summary.records = out.records;
        match r {
            Ok(()) | Err(CfError::Cancelled) => Ok(summary),
            Err(e) => Err(e),
        }
    }

    /// Daemon: a sweep every `interval` until cancelled. Returns Err only for errors retrying cannot fix.
    pub async fn run(&self, cancel: CancellationToken) -> Result<(), CfError> {
        crate::util::daemon_loop(self.source(), self.sweeper.cfg.interval, &cancel, || {
            self.run_once(cancel.clone())
        })
        .await
    }
}

/// Collects audit logs of `[since, before)` in windows fetched in parallel. Writes no cursor.
pub async fn backfill_audit(
    client: &CloudflareClient,
    cfg: AuditConfig,
    since: DateTime<Utc>,
    before: DateTime<Utc>,
    sink: Arc<dyn RecordSink>,
    cancel: CancellationToken,
    progress: impl Fn(ProgressEvent) + Send + Sync,
) -> Result<RunSummary, CfError> {
    cfg.validate()?;
    let conc = cfg.backfill_concurrency.max(1);
    let step = chrono_dur(cfg.backfill_window.max(Duration::from_secs(60)));
    let sweeper = Sweeper::new(client.clone(), Arc::new(cfg), sink);
    let mut windows = Vec::new();
    let mut s = since;
    while s < before {
        let e = (s + step).min(before);
        windows.push((s, e));
        s = e;
    }
    let sweeper = &sweeper;
    let progress: &(dyn Fn(ProgressEvent) + Send + Sync) = &progress;
    let no_save = |_: &AuditCursor| -> Result<(), CfError> { Ok(()) };
    let no_save = &no_save;
    let cancel = &cancel;
    let units = windows.into_iter().map(|(s, e)| async move {
        if cancel.is_cancelled() {
            return (s, e, Err(CfError::Cancelled));
        }
        let mut cur = AuditCursor {
            when: s,
            ids: BTreeSet::new(),
        };
        let mut out = SweepOut::default();
        let on_retry = crate::util::retry_progress(progress, s, e);
        let r = sweeper
            .sweep_retrying(&mut cur, e, no_save, cancel, &on_retry, &mut out)
            .await
            .map(|()| (out.pages, out.records));
        (s, e, r)
    });
    let mut summary = RunSummary::default();
    let r = crate::util::drive_backfill(units, conc, cancel, progress, &mut summary).await;
    summary.cursor = Some(before);
    r.map(|()| summary)
}
