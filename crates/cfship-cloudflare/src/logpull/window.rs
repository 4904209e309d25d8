//! One Logpull window: planning it within Cloudflare's rules (retention, end lag, the 1 h cap)
//! and fetching, delivering and retrying it ([`WindowRunner`], shared by the collector and backfill).

use super::*;

pub(super) fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Plan {
    pub(super) start: DateTime<Utc>,
    pub(super) end: DateTime<Utc>,
    /// Part of the requested range that is older than the retention limit.
    pub(super) gap: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

pub(super) fn plan_window(
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
pub(super) struct WindowRunner {
    pub(super) client: CloudflareClient,
    pub(super) cfg: Arc<LogpullConfig>,
    pub(super) sink: Arc<dyn RecordSink>,
    pub(super) source: SourceId,
    pub(super) sstats: Arc<SourceStats>,
    /// The `fields` query value; fields Cloudflare refuses (400/403 naming them) are dropped.
    pub(super) fields: std::sync::Mutex<String>,
    /// `modern`: the list was narrowed to the zone's offered fields.
    pub(super) offered_checked: std::sync::atomic::AtomicBool,
}

impl WindowRunner {
    pub(super) fn new(
        client: CloudflareClient,
        cfg: Arc<LogpullConfig>,
        sink: Arc<dyn RecordSink>,
    ) -> Self {
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
    pub(super) async fn narrow_to_offered(&self) {
        use std::sync::atomic::Ordering;
        if !self.cfg.modern || self.cfg.exact_fields || self.offered_checked.load(Ordering::Relaxed)
        {
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

    pub(super) fn fields_now(&self) -> String {
        self.fields.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Drops the fields Cloudflare refused from the list (warning once per field); `true` when
    /// the window should be asked again without them.
    pub(super) fn drop_refused(&self, e: &CfError) -> bool {
        if self.cfg.exact_fields {
            return false;
        }
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

    pub(super) fn unit(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Unit {
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

    pub(super) fn query(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Vec<(&'static str, String)> {
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

    pub(super) async fn attempt(
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
    pub(super) async fn run(
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
                        self.sstats.mark_error(&e);
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
