//! What `/healthz` says, and the watchdog behind it: ready only once Elasticsearch answered; every
//! configured source listed from the start (with the lag of its saved cursor); a source that had
//! no successful unit for its `stall_after`, or that stopped on an error retrying cannot fix, turns
//! the whole report failing.

use crate::sync::lock;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;

/// A source the process collects (registered before anything slow starts).
#[derive(Debug, Clone)]
pub struct Watched {
    pub dataset: String,
    pub id: String,
    /// No successful unit for this long → stalled.
    pub stall_after: Duration,
    /// Unix seconds of the registration (the watchdog's start when nothing succeeded yet).
    pub since_unix: i64,
    /// Why the source stopped for good (a non-retryable error), if it did.
    pub stopped: Option<String>,
}

/// The state of one source as `/healthz` and `/metrics` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceState {
    Ok,
    /// No successful unit since `since` (unix seconds), longer than `stall_after`.
    Stalled {
        since: i64,
    },
    Stopped(String),
}

impl SourceState {
    pub fn is_ok(&self) -> bool {
        matches!(self, SourceState::Ok)
    }
    pub fn label(&self) -> &'static str {
        match self {
            SourceState::Ok => "ok",
            SourceState::Stalled { .. } => "stalled",
            SourceState::Stopped(_) => "stopped",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct SourceReport {
    pub dataset: String,
    pub id: String,
    /// now − cursor; `None` while the source has no cursor yet.
    pub lag_seconds: Option<i64>,
    /// Last successful unit or pass (unix seconds), 0: none yet.
    pub last_success_unix: i64,
    pub state: SourceState,
}

/// Health state shared by the daemon's parts.
#[derive(Debug, Default)]
pub struct Health {
    /// `Some((since, last error))` while Elasticsearch is being waited for.
    pub(super) es_wait: std::sync::Mutex<Option<(DateTime<Utc>, String)>>,
    /// Key: (dataset, id).
    pub(super) watched: std::sync::Mutex<BTreeMap<(String, String), Watched>>,
}

impl Health {
    pub fn es_waiting(&self, since: DateTime<Utc>, reason: &str) {
        let mut w = lock(&self.es_wait);
        let since = w.as_ref().map(|(s, _)| *s).unwrap_or(since);
        *w = Some((since, reason.to_string()));
    }

    pub fn es_ready(&self) {
        *lock(&self.es_wait) = None;
    }

    /// "waiting for Elasticsearch since … (reason)" while not ready.
    pub fn not_ready_reason(&self) -> Option<String> {
        lock(&self.es_wait).as_ref().map(|(since, why)| {
            format!(
                "waiting for Elasticsearch since {} ({why})",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        })
    }

    pub fn watch(&self, dataset: &str, id: &str, stall_after: Duration, now_unix: i64) {
        lock(&self.watched)
            .entry((dataset.to_string(), id.to_string()))
            .or_insert_with(|| Watched {
                dataset: dataset.to_string(),
                id: id.to_string(),
                stall_after,
                since_unix: now_unix,
                stopped: None,
            });
    }

    /// The source stopped for good (`reason` names the error).
    pub fn stopped(&self, dataset: &str, id: &str, reason: &str) {
        if let Some(w) = lock(&self.watched).get_mut(&(dataset.to_string(), id.to_string())) {
            w.stopped = Some(reason.to_string());
        }
    }

    pub fn watched(&self) -> Vec<Watched> {
        lock(&self.watched).values().cloned().collect()
    }
}

/// The state of a watched source at `now_unix`, given its last success.
pub fn state_of(w: &Watched, last_success_unix: i64, now_unix: i64) -> SourceState {
    if let Some(r) = &w.stopped {
        return SourceState::Stopped(r.clone());
    }
    let since = last_success_unix.max(w.since_unix);
    if now_unix - since > w.stall_after.as_secs() as i64 {
        SourceState::Stalled { since }
    } else {
        SourceState::Ok
    }
}

/// The `/healthz` body and whether it is healthy.
pub fn report_json(
    not_ready: Option<String>,
    sources: &[SourceReport],
    any_failed: bool,
) -> (bool, serde_json::Value) {
    let fmt_t = |t: i64| {
        DateTime::from_timestamp(t, 0)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    let list: Vec<serde_json::Value> = sources
        .iter()
        .map(|s| {
            let mut v = serde_json::json!({
                "dataset": s.dataset,
                "source": s.id,
                "lag_seconds": s.lag_seconds,
                "state": s.state.label(),
                "last_success": (s.last_success_unix > 0).then(|| fmt_t(s.last_success_unix)),
            });
            match &s.state {
                SourceState::Stalled { since } => {
                    v["reason"] =
                        serde_json::json!(format!("no successful unit since {}", fmt_t(*since)));
                }
                SourceState::Stopped(r) => v["reason"] = serde_json::json!(r),
                SourceState::Ok => {}
            }
            v
        })
        .collect();
    let failing: Vec<String> = sources
        .iter()
        .filter(|s| !s.state.is_ok())
        .map(|s| format!("{} {} {}", s.dataset, s.id, s.state.label()))
        .collect();
    if let Some(r) = not_ready {
        return (
            false,
            serde_json::json!({"status": "not ready", "reason": r, "sources": list}),
        );
    }
    if !failing.is_empty() || any_failed {
        let reason = if failing.is_empty() {
            "a collector stopped on an error retrying cannot fix".to_string()
        } else {
            failing.join("; ")
        };
        return (
            false,
            serde_json::json!({"status": "failing", "reason": reason, "sources": list}),
        );
    }
    (true, serde_json::json!({"status": "ok", "sources": list}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(stall: u64) -> Watched {
        Watched {
            dataset: "logpull".into(),
            id: "z".into(),
            stall_after: Duration::from_secs(stall),
            since_unix: 1000,
            stopped: None,
        }
    }

    #[test]
    fn a_source_without_success_for_stall_after_is_stalled() {
        assert_eq!(state_of(&w(60), 0, 1060), SourceState::Ok);
        assert_eq!(
            state_of(&w(60), 0, 1061),
            SourceState::Stalled { since: 1000 }
        );
        assert_eq!(state_of(&w(60), 1050, 1100), SourceState::Ok);
        let mut s = w(60);
        s.stopped = Some("403".into());
        assert_eq!(state_of(&s, 1050, 1051), SourceState::Stopped("403".into()));
    }

    #[test]
    fn the_report_is_not_ready_while_waiting_for_elasticsearch() {
        let h = Health::default();
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        h.es_waiting(t, "connection refused");
        h.es_waiting(t + chrono::Duration::seconds(5), "still refused");
        let r = h.not_ready_reason().unwrap();
        assert!(
            r.contains("since 2023-11-14T22:13:20Z (still refused)"),
            "{r}"
        );
        let (ok, body) = report_json(Some(r), &[], false);
        assert!(!ok);
        assert_eq!(body["status"], "not ready");
        h.es_ready();
        assert!(h.not_ready_reason().is_none());
    }
}
