//! Counters shared by the client and every collector of a process.

use crate::sink::SourceId;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub struct SourceStats {
    pub records: AtomicU64,
    pub windows_done: AtomicU64,
    pub windows_failed: AtomicU64,
    /// Unix seconds up to which the source has collected (Logpull: window end; audit: newest `when`).
    pub cursor_unix: AtomicI64,
    /// Seconds of data skipped because they were older than Logpull retention.
    pub gap_seconds: AtomicU64,
    /// Unix seconds of the last successful unit or pass (0: none yet in this process); the stall
    /// watchdog of `/healthz` compares it with now.
    pub last_success_unix: AtomicI64,
    /// The last failed unit or pass of this process: (Unix ms, the error's message). The error
    /// texts name the request and Cloudflare's answer, never a credential (those travel in
    /// headers); `cfship status` shows it from the state index.
    last_error: Mutex<Option<(i64, String)>>,
}

/// Longest error message kept by [`SourceStats::mark_error`] (the rest is cut at a char boundary).
pub const MAX_ERROR_LEN: usize = 1000;

impl SourceStats {
    /// Records a failed unit or pass now.
    pub fn mark_error(&self, error: &dyn std::fmt::Display) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let mut msg = error.to_string();
        if msg.len() > MAX_ERROR_LEN {
            let mut cut = MAX_ERROR_LEN;
            while !msg.is_char_boundary(cut) {
                cut -= 1;
            }
            msg.truncate(cut);
            msg.push('…');
        }
        *lock(&self.last_error) = Some((now, msg));
    }

    /// The last failed unit or pass (Unix ms, message), if any in this process.
    pub fn last_error(&self) -> Option<(i64, String)> {
        lock(&self.last_error).clone()
    }

    /// Records a successful unit or pass now.
    pub fn mark_success(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.last_success_unix.store(now, Ordering::Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Process-wide counters. Cheap to read at any time (e.g. for `/metrics` or progress output).
#[derive(Debug, Default)]
pub struct CollectorStats {
    pub requests_total: AtomicU64,
    pub responses_2xx: AtomicU64,
    pub responses_4xx: AtomicU64,
    pub responses_429: AtomicU64,
    pub responses_5xx: AtomicU64,
    pub transport_errors: AtomicU64,
    pub stream_failures: AtomicU64,
    pub retries: AtomicU64,
    /// Every failed request / window attempt (logged with source, window and reason).
    pub failed_requests: AtomicU64,
    pub rate_limit_wait_ms: AtomicU64,
    sources: Mutex<BTreeMap<SourceId, Arc<SourceStats>>>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SourceSnapshot {
    pub source: String,
    pub records: u64,
    pub windows_done: u64,
    pub windows_failed: u64,
    pub cursor_unix: i64,
    pub gap_seconds: u64,
    pub last_success_unix: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub requests_total: u64,
    pub responses_2xx: u64,
    pub responses_4xx: u64,
    pub responses_429: u64,
    pub responses_5xx: u64,
    pub transport_errors: u64,
    pub stream_failures: u64,
    pub retries: u64,
    pub failed_requests: u64,
    pub rate_limit_wait_ms: u64,
    pub sources: Vec<SourceSnapshot>,
}

impl CollectorStats {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Per-source counters (created on first use).
    pub fn source(&self, id: &SourceId) -> Arc<SourceStats> {
        let mut m = lock(&self.sources);
        m.entry(id.clone()).or_default().clone()
    }

    pub(crate) fn count_status(&self, status: u16) {
        let c = match status {
            200..=299 => &self.responses_2xx,
            429 => &self.responses_429,
            400..=499 => &self.responses_4xx,
            _ => &self.responses_5xx,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let sources = match self.sources.lock() {
            Ok(m) => m.clone(),
            Err(p) => p.into_inner().clone(),
        };
        StatsSnapshot {
            requests_total: l(&self.requests_total),
            responses_2xx: l(&self.responses_2xx),
            responses_4xx: l(&self.responses_4xx),
            responses_429: l(&self.responses_429),
            responses_5xx: l(&self.responses_5xx),
            transport_errors: l(&self.transport_errors),
            stream_failures: l(&self.stream_failures),
            retries: l(&self.retries),
            failed_requests: l(&self.failed_requests),
            rate_limit_wait_ms: l(&self.rate_limit_wait_ms),
            sources: sources
                .iter()
                .map(|(k, s)| SourceSnapshot {
                    source: k.to_string(),
                    records: l(&s.records),
                    windows_done: l(&s.windows_done),
                    windows_failed: l(&s.windows_failed),
                    cursor_unix: s.cursor_unix.load(Ordering::Relaxed),
                    gap_seconds: l(&s.gap_seconds),
                    last_success_unix: s.last_success_unix.load(Ordering::Relaxed),
                })
                .collect(),
        }
    }
}
