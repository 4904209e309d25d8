//! Small shared types: clock, run summary, progress events.

use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Source of "now" for the collectors. `System` in production; tests pin time with `Fixed`.
#[derive(Clone, Default)]
pub enum Clock {
    #[default]
    System,
    /// Always returns this instant.
    Fixed(DateTime<Utc>),
    /// Any function (e.g. a test clock that advances).
    Custom(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>),
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(t) => *t,
            Clock::Custom(f) => f(),
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Clock::System => f.write_str("System"),
            Clock::Fixed(t) => write!(f, "Fixed({t})"),
            Clock::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// What one `run_once` / backfill did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunSummary {
    /// Windows (Logpull) or pages (audit) completed and acknowledged.
    pub units_done: u64,
    pub records: u64,
    /// Failed attempts that were retried.
    pub failed_attempts: u64,
    /// Seconds skipped because they were older than the Logpull retention limit.
    pub gap_seconds: u64,
    /// Where the source stands now (Logpull: next window start; audit: newest `when`).
    pub cursor: Option<DateTime<Utc>>,
}

/// Progress of a backfill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProgressEvent {
    UnitDone {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        records: u64,
    },
    UnitRetry {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        attempt: u32,
        reason: String,
    },
    Gap {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
}

/// RFC3339 with whole seconds (`2026-11-25T04:00:00Z`).
pub(crate) fn rfc3339_secs(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// RFC3339 with microseconds (`2026-11-25T04:00:00.123456Z`).
pub(crate) fn rfc3339_micros(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Truncates to whole seconds.
pub(crate) fn floor_secs(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// Sleeps `d` unless cancelled first; returns false when cancelled.
pub(crate) async fn sleep_or_cancel(
    d: std::time::Duration,
    cancel: &tokio_util::sync::CancellationToken,
) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = cancel.cancelled() => false,
    }
}

/// The daemon loop shared by both collectors: `run_once` until caught up, then every `interval`,
/// until cancelled. A transient failure (retryable, or retries exhausted) is logged with the source
/// and retried after the interval; anything else (auth, retention off, bad config) ends the loop.
pub(crate) async fn daemon_loop<F, Fut>(
    source: &crate::sink::SourceId,
    interval: std::time::Duration,
    cancel: &tokio_util::sync::CancellationToken,
    mut run_once: F,
) -> Result<(), crate::error::CfError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<RunSummary, crate::error::CfError>>,
{
    use crate::error::CfError;
    loop {
        match run_once().await {
            Ok(_) | Err(CfError::Cancelled) => {}
            Err(e) if e.is_retryable() || matches!(e, CfError::RetriesExhausted { .. }) => {
                tracing::error!(%source, error = %e, "collection failed, retrying after the interval");
            }
            Err(e) => return Err(e),
        }
        if cancel.is_cancelled() || !sleep_or_cancel(interval, cancel).await {
            return Ok(());
        }
    }
}

/// Runs a short blocking operation (a cursor fsync) without stalling other tasks of a multi-thread
/// runtime (`block_in_place`); on a current-thread runtime it simply runs.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// A backfill unit's retry, reported as progress.
pub(crate) fn retry_progress<'a>(
    progress: &'a (dyn Fn(ProgressEvent) + Send + Sync),
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> impl Fn(u32, &crate::error::CfError) + Send + Sync + 'a {
    move |attempt, err| {
        progress(ProgressEvent::UnitRetry {
            start,
            end,
            attempt,
            reason: err.to_string(),
        })
    }
}

/// Runs a backfill's units `conc` at a time (each future yields its range and `(units done,
/// records)`), adds them to `summary`, reports each one done, and returns the first error (a
/// cancelled unit is not one; a cancelled run is `Cancelled`). Shared by the Logpull and audit
/// backfills.
pub(crate) async fn drive_backfill<Fut>(
    units: impl IntoIterator<Item = Fut>,
    conc: usize,
    cancel: &tokio_util::sync::CancellationToken,
    progress: &(dyn Fn(ProgressEvent) + Send + Sync),
    summary: &mut RunSummary,
) -> Result<(), crate::error::CfError>
where
    Fut: std::future::Future<
        Output = (
            DateTime<Utc>,
            DateTime<Utc>,
            Result<(u64, u64), crate::error::CfError>,
        ),
    >,
{
    use crate::error::CfError;
    use futures::StreamExt;
    let mut results = futures::stream::iter(units).buffer_unordered(conc.max(1));
    let mut first_err = None;
    while let Some((start, end, r)) = results.next().await {
        match r {
            Ok((units, records)) => {
                summary.units_done += units;
                summary.records += records;
                progress(ProgressEvent::UnitDone {
                    start,
                    end,
                    records,
                });
            }
            Err(CfError::Cancelled) => {}
            Err(err) => {
                first_err.get_or_insert(err);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None if cancel.is_cancelled() => Err(CfError::Cancelled),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn blocking_works_in_every_runtime_context() {
        // block_on of a multi-thread runtime (what #[tokio::main] does): not a worker thread.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        assert_eq!(rt.block_on(async { super::blocking(|| 1) }), 1);
        // A spawned task on a worker thread.
        assert_eq!(
            rt.block_on(async { tokio::spawn(async { super::blocking(|| 2) }).await.unwrap() }),
            2
        );
        // Current-thread runtime and no runtime at all.
        let ct = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(ct.block_on(async { super::blocking(|| 3) }), 3);
        assert_eq!(super::blocking(|| 4), 4);
    }
}
