//! Ground truth: what the simulator serves for a range, computed without HTTP, so a test can compare
//! what arrived at the far end with what was sent.

use crate::config::SimulatorConfig;
use crate::data::{audit_events, audit_id_v1, audit_id_v2, for_each_record, ray_id};
use chrono::{DateTime, Utc};

pub(crate) fn ns_of(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

pub(crate) fn us_of(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// RayIDs of every record the simulator serves for `zone` with received time in `[start, end)`.
pub fn expected_logpull_ray_ids(
    cfg: &SimulatorConfig,
    zone: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<String> {
    let Some(z) = cfg.zone(zone) else {
        return Vec::new();
    };
    let mut v = Vec::new();
    for_each_record(
        cfg.seed,
        zone,
        z.records_per_minute,
        ns_of(start),
        ns_of(end),
        |_, h| v.push(ray_id(h)),
    );
    v
}

/// Number of Logpull records in `[start, end)` (without building the ids).
pub fn expected_logpull_count(
    cfg: &SimulatorConfig,
    zone: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> u64 {
    let Some(z) = cfg.zone(zone) else {
        return 0;
    };
    let mut n = 0;
    for_each_record(
        cfg.seed,
        zone,
        z.records_per_minute,
        ns_of(start),
        ns_of(end),
        |_, _| n += 1,
    );
    n
}

/// Audit v1 ids of every event of `account` with `since <= when < before`, ascending by time.
pub fn expected_audit_ids(
    cfg: &SimulatorConfig,
    account: &str,
    since: DateTime<Utc>,
    before: DateTime<Utc>,
) -> Vec<String> {
    let Some(a) = cfg.account(account) else {
        return Vec::new();
    };
    audit_events(
        cfg.seed,
        account,
        a.events_per_hour,
        us_of(since),
        us_of(before),
    )
    .iter()
    .map(audit_id_v1)
    .collect()
}

/// Audit v2 ids (v2 does not log view actions) of `account` with `since <= time < before`.
pub fn expected_audit_v2_ids(
    cfg: &SimulatorConfig,
    account: &str,
    since: DateTime<Utc>,
    before: DateTime<Utc>,
) -> Vec<String> {
    let Some(a) = cfg.account(account) else {
        return Vec::new();
    };
    audit_events(
        cfg.seed,
        account,
        a.events_per_hour,
        us_of(since),
        us_of(before),
    )
    .iter()
    .filter(|e| e.logged_by_v2())
    .map(audit_id_v2)
    .collect()
}

/// The `http_requests` records of `zone` with received time in `[start, end)`, in time order, as
/// Cloudflare delivers them both ways — a Logpush job with `field_names = fields` and
/// `timestamp_format = ts`, and Logpull with the same `fields` and `timestamps` (the same request
/// log: the simulated pusher sends these, `/logs/received` answers them).
pub fn http_requests_records(
    cfg: &SimulatorConfig,
    zone: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    fields: &[&str],
    ts: crate::data::TimestampFormat,
) -> Vec<String> {
    let Some(z) = cfg.zone(zone) else {
        return Vec::new();
    };
    let mut v = Vec::new();
    let mut buf = Vec::new();
    for_each_record(
        cfg.seed,
        zone,
        z.records_per_minute,
        ns_of(start),
        ns_of(end),
        |t, h| {
            buf.clear();
            crate::data::write_record(&mut buf, zone, t, h, fields, ts);
            v.push(String::from_utf8_lossy(&buf).into_owned());
        },
    );
    v
}
