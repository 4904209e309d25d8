//! The interface between collectors and whatever consumes the records (transform + sinks).

use futures::future::BoxFuture;
use std::fmt;

/// Identifies one collection source.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceId {
    Audit { account_id: String },
    Logpull { zone_id: String },
}

impl SourceId {
    /// Key used for the cursor file of this source.
    pub fn state_key(&self) -> String {
        match self {
            SourceId::Audit { account_id } => format!("audit-{}", sanitize(account_id)),
            SourceId::Logpull { zone_id } => format!("logpull-{}", sanitize(zone_id)),
        }
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceId::Audit { account_id } => write!(f, "audit account {account_id}"),
            SourceId::Logpull { zone_id } => write!(f, "logpull zone {zone_id}"),
        }
    }
}

/// Error returned by a sink. The collector does not advance the cursor and retries the window/page.
#[derive(Debug, thiserror::Error)]
#[error("sink error: {message}")]
pub struct SinkError {
    pub message: String,
    /// `false` = retrying will not help (the collector stops with an error).
    pub retryable: bool,
}

impl SinkError {
    pub fn retryable(message: impl Into<String>) -> Self {
        SinkError {
            message: message.into(),
            retryable: true,
        }
    }
    pub fn fatal(message: impl Into<String>) -> Self {
        SinkError {
            message: message.into(),
            retryable: false,
        }
    }
}

/// How a unit of work (a Logpull window or an audit sweep) ended, after zero or more `deliver`
/// calls — or, for a unit committed in parts, how far it got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitOutcome {
    /// Every `deliver` of the unit returned Ok and the cursor is saved: the unit is never replayed.
    Committed,
    /// Part of the unit is committed and the cursor saved (an audit page); the unit goes on. What
    /// was delivered so far is never replayed — unless an earlier, aborted unit of the source (or a
    /// crash) left records whose replay this unit has not reached yet: an output that tracks
    /// written records keeps them until the unit's final [`UnitOutcome::Committed`].
    Progress,
    /// The unit failed after some records were delivered; it will be replayed (same records again,
    /// whole or split into sub-ranges).
    Aborted,
}

/// One unit of work of a source: a Logpull window, or the audit range `[start, end)` a sweep pages
/// through. Units of one source run one at a time in the collectors; backfills run several units of
/// one source in parallel, so a sink that tracks uncommitted records must key them by unit, not by
/// source.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Unit {
    pub source: SourceId,
    /// What the unit's records are, so the transform never parses a record to find out.
    pub format: RecordFormat,
    pub start: chrono::DateTime<chrono::Utc>,
    pub end: chrono::DateTime<chrono::Utc>,
}

/// The shape of the records a unit delivers, as the API that returned them defines it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordFormat {
    /// Audit Logs v1 (`/accounts/{id}/audit_logs`): the record Elastic's `cloudflare.audit` reads.
    AuditV1,
    /// Audit Logs v2 (`/accounts/{id}/logs/audit`): mapped onto v1 by the transform
    /// (`cfship_ecs::audit_v2`).
    AuditV2,
    /// Logpull (`/zones/{id}/logs/received`) with Elastic's or the user's field list: the record
    /// Elastic's `cloudflare.logpull` reads.
    Logpull,
    /// Logpull with the modern field list (`logpull.fields: modern`): the record Elastic's
    /// `cloudflare_logpush.http_request` reads (the same fields as the Logpush dataset).
    LogpullModern,
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [{}, {})",
            self.source,
            self.start
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            self.end
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        )
    }
}

/// Consumer of raw Cloudflare records.
///
/// Each `Bytes` is exactly one raw JSON object as Cloudflare sent it (a Logpull object or one element of
/// the audit `result` array), without trailing newline. `deliver` must return only once the records are
/// durably handled (indexed, duplicate or dead-lettered). Collectors call it with chunks of one unit,
/// in order, then [`RecordSink::end_unit`] once; they move the cursor only after every `deliver` of
/// the unit returned Ok.
pub trait RecordSink: Send + Sync + 'static {
    /// Records of `unit`, in the order Cloudflare sent them.
    fn deliver<'a>(
        &'a self,
        unit: &'a Unit,
        records: Vec<bytes::Bytes>,
    ) -> BoxFuture<'a, Result<(), SinkError>>;

    /// Called once per unit after its last `deliver` and the cursor save (Committed), after each
    /// committed part of a unit committed in parts (Progress: an audit page, cursor saved), or
    /// when a unit that already delivered records (or whose `deliver` failed, or whose cursor
    /// could not be saved) will be replayed (Aborted). Default: nothing.
    fn end_unit(&self, _unit: &Unit, _outcome: UnitOutcome) {}

    /// Records received by Cloudflare in `[start, end)` are lost for good (older than Logpull's 168h
    /// retention when collection resumed). Called once per hole, before the window after it is
    /// committed. Default: nothing (the collector also logs a warning and counts `gap_seconds`).
    fn gap(
        &self,
        _source: &SourceId,
        _start: chrono::DateTime<chrono::Utc>,
        _end: chrono::DateTime<chrono::Utc>,
    ) {
    }
}
