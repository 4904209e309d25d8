//! Logpull: `/zones/{id}/logs/received` (the streamed NDJSON body, with Cloudflare's validation
//! texts and the body faults), `/logs/received/fields` and `/logs/control/retention/flag`.

use super::auth::{check_auth, Authn};
use super::{envelope_error, envelope_ok, json_response, unknown_object};
use crate::config::SimZone;
use crate::data::{
    for_each_record, record_at, records_in_minute, write_record, TimestampFormat,
    BOT_MANAGEMENT_FIELDS, CLOUDFLARE_DEFAULT_FIELDS, KNOWN_FIELDS, NS_PER_HOUR, NS_PER_MIN,
    NS_PER_SEC,
};
use crate::faults::{common_faults, FaultKind};
use crate::oracle::ns_of;
use crate::state::Shared;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// Bytes of NDJSON (before gzip) gathered before a chunk is sent.
const CHUNK: usize = 64 * 1024;

fn bad_query(msg: &str) -> Response {
    envelope_error(StatusCode::BAD_REQUEST, 1002, &format!("bad query: {msg}"))
}

/// Parses a Logpull time: unix seconds, unix nanoseconds or RFC3339.
fn parse_logpull_time(v: &str) -> Option<i64> {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = v.parse().ok()?;
        return Some(if v.len() > 12 {
            n
        } else {
            n.checked_mul(NS_PER_SEC)?
        });
    }
    DateTime::parse_from_rfc3339(v)
        .ok()
        .and_then(|d| d.with_timezone(&Utc).timestamp_nanos_opt())
}

fn count_records(seed: u64, zone: &str, rpm: u32, start: i64, end: i64) -> u64 {
    let mut n = 0u64;
    for_each_record(seed, zone, rpm, start, end, |_, _| n += 1);
    n
}

/// A validated `/logs/received` query.
struct LogpullQuery {
    /// `[start, end)` in unix nanoseconds.
    start: i64,
    end: i64,
    fields: Vec<String>,
    ts: TimestampFormat,
    sample: f64,
    count: u64,
}

/// Validates the query in Cloudflare's order: parameters, then the time range, then the fields.
fn parse_query(
    q: &HashMap<String, String>,
    now: i64,
    z: &SimZone,
) -> Result<LogpullQuery, Response> {
    let (Some(start_s), Some(end_s)) = (q.get("start"), q.get("end")) else {
        return Err(bad_query(
            "error parsing time: both start and end are required",
        ));
    };
    let start = parse_logpull_time(start_s).ok_or_else(|| {
        bad_query(&format!(
            "error parsing time: invalid start time {start_s:?}"
        ))
    })?;
    let end = parse_logpull_time(end_s)
        .ok_or_else(|| bad_query(&format!("error parsing time: invalid end time {end_s:?}")))?;
    if start >= end {
        return Err(bad_query(
            "error parsing time: invalid time range: start must be earlier than end",
        ));
    }
    if end - start > NS_PER_HOUR {
        return Err(bad_query(
            "error parsing time: invalid time range: too long: time range must not exceed 1h0m0s",
        ));
    }
    if start < now - 168 * NS_PER_HOUR {
        return Err(bad_query("error parsing time: invalid time range: too early: logs older than 168h0m0s are not available"));
    }
    if end > now - NS_PER_MIN {
        return Err(bad_query("error parsing time: invalid time range: too late: logs newer than 1m0s are not available"));
    }
    let fields: Vec<String> = match q.get("fields") {
        None => CLOUDFLARE_DEFAULT_FIELDS
            .iter()
            .map(|f| f.to_string())
            .collect(),
        Some(f) => {
            if f.chars().any(char::is_whitespace) {
                return Err(bad_query(
                    "invalid fields: the list must not contain whitespace",
                ));
            }
            f.split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        }
    };
    let unknown: Vec<&str> = fields
        .iter()
        .map(String::as_str)
        .filter(|f| !KNOWN_FIELDS.contains(f))
        .collect();
    if !unknown.is_empty() {
        return Err(bad_query(&format!("unknown fields: {}", unknown.join(","))));
    }
    if !z.bot_management {
        let gated: Vec<&str> = fields
            .iter()
            .map(String::as_str)
            .filter(|f| BOT_MANAGEMENT_FIELDS.contains(f))
            .collect();
        if !gated.is_empty() {
            return Err(envelope_error(
                StatusCode::FORBIDDEN,
                1002,
                &format!(
                    "fields not allowed for this zone (requires Bot Management): {}",
                    gated.join(",")
                ),
            ));
        }
    }
    let ts_param = q.get("timestamps").map(String::as_str);
    let Some(ts) = TimestampFormat::from_param(ts_param) else {
        return Err(bad_query(&format!(
            "invalid timestamps format {:?}: use unixnano, unix or rfc3339",
            ts_param.unwrap_or_default()
        )));
    };
    let sample = match q.get("sample") {
        None => 1.0,
        Some(v) => match v.parse::<f64>() {
            Ok(x) if x > 0.0 && x <= 1.0 => x,
            _ => return Err(bad_query("invalid sample: must be > 0.0 and <= 1.0")),
        },
    };
    let count = match q.get("count") {
        None => u64::MAX,
        Some(v) => match v.parse::<u64>() {
            Ok(x) if x > 0 => x,
            _ => return Err(bad_query("invalid count: must be a positive integer")),
        },
    };
    Ok(LogpullQuery {
        start,
        end,
        fields,
        ts,
        sample,
        count,
    })
}

/// How one body is served (decided before the first byte).
struct BodyPlan {
    seed: u64,
    zone: String,
    rpm: u32,
    q: LogpullQuery,
    gzip: bool,
    newline: bool,
    /// Cut the body short after `cut_at` records: half an object, then a reset or a clean end.
    truncate: bool,
    /// End with `Error streaming data` after `cut_at` records.
    trailer: bool,
    cut_at: u64,
    /// A truncated body ends with a connection reset (else a clean end mid-object / mid-gzip).
    reset: bool,
    /// Stall once in the middle of the body for `slow_ms`.
    slow_mid: bool,
    slow_ms: u64,
}

/// Either hands `raw` to the gzip encoder and takes what it produced, or takes `raw` itself.
fn take_chunk(enc: &mut Option<flate2::write::GzEncoder<Vec<u8>>>, raw: &mut Vec<u8>) -> Vec<u8> {
    match enc.as_mut() {
        Some(e) => {
            let _ = e.write_all(raw);
            raw.clear();
            std::mem::take(e.get_mut())
        }
        None => std::mem::take(raw),
    }
}

/// The NDJSON body, streamed in chunks of about [`CHUNK`] bytes.
fn body(p: BodyPlan) -> Body {
    Body::from_stream(async_stream::stream! {
        let field_refs: Vec<&str> = p.q.fields.iter().map(String::as_str).collect();
        let (start, end, ts) = (p.q.start, p.q.end, p.q.ts);
        let mut enc = if p.gzip { Some(flate2::write::GzEncoder::new(Vec::with_capacity(CHUNK), flate2::Compression::fast())) } else { None };
        let mut raw: Vec<u8> = Vec::with_capacity(2 * CHUNK);
        let mut emitted = 0u64;
        let mut seen = 0u64;
        let first = start.div_euclid(NS_PER_MIN);
        let last = (end - 1).div_euclid(NS_PER_MIN);
        let mut slept_mid = false;
        'outer: for m in first..=last {
            let n = records_in_minute(p.seed, &p.zone, p.rpm, m);
            for i in 0..n {
                let (t, hh) = record_at(p.seed, &p.zone, m, i, n);
                if t < start || t >= end { continue; }
                if p.q.sample < 1.0 && ((hh >> 7) % 1_000_000) as f64 >= p.q.sample * 1_000_000.0 { continue; }
                if emitted >= p.q.count { break 'outer; }
                if (p.truncate || p.trailer) && seen == p.cut_at { break 'outer; }
                seen += 1;
                write_record(&mut raw, &p.zone, t, hh, &field_refs, ts);
                if p.newline { raw.push(b'\n'); }
                emitted += 1;
                if raw.len() >= CHUNK {
                    let chunk = take_chunk(&mut enc, &mut raw);
                    if !chunk.is_empty() { yield Ok::<Bytes, std::io::Error>(Bytes::from(chunk)); }
                    if p.slow_mid && !slept_mid {
                        // One stall in the middle of the body (after the first chunk).
                        slept_mid = true;
                        tokio::time::sleep(Duration::from_millis(p.slow_ms)).await;
                    }
                }
            }
        }
        if p.truncate {
            // Half an object, then either a reset connection or a clean end mid-object / mid-gzip.
            let mut obj = Vec::new();
            write_record(&mut obj, &p.zone, start, 0x7777, &field_refs, ts);
            raw.extend_from_slice(&obj[..obj.len() / 2]);
            let chunk = match enc.as_mut() {
                Some(e) => { let _ = e.write_all(&raw); let _ = e.flush(); std::mem::take(e.get_mut()) }
                None => std::mem::take(&mut raw),
            };
            if !chunk.is_empty() { yield Ok(Bytes::from(chunk)); }
            if p.reset {
                yield Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "simulated connection reset"));
            }
            return;
        }
        if p.trailer {
            raw.extend_from_slice(b"Error streaming data\n");
        }
        let chunk = match enc.take() {
            Some(mut e) => { let _ = e.write_all(&raw); e.finish().unwrap_or_default() }
            None => std::mem::take(&mut raw),
        };
        if !chunk.is_empty() { yield Ok(Bytes::from(chunk)); }
    })
}

pub(crate) async fn logpull(
    State(s): State<Arc<Shared>>,
    Path(zone): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    h: HeaderMap,
) -> Response {
    let path = format!("/zones/{zone}/logs/received");
    let done = |r: Response, fault: Option<&str>| {
        s.record(&h, &path, &q, r.status().as_u16(), fault);
        r
    };
    if let Authn::Fail(r) = check_auth(&s, &h, false) {
        return done(r, None);
    }
    let Some(z) = s.cfg.zone(&zone).cloned() else {
        return done(unknown_object(&path), None);
    };
    let mut rng = s.roll();
    let (fault_resp, mut fault) = common_faults(&s, &mut rng).await;
    if let Some(r) = fault_resp {
        return done(r, fault);
    }
    let lq = match parse_query(&q, ns_of(s.now()), &z) {
        Ok(lq) => lq,
        Err(r) => return done(r, None),
    };
    let (seed, rpm) = (s.cfg.seed, z.records_per_minute);
    if !z.retention_enabled {
        return done(StatusCode::NO_CONTENT.into_response(), None);
    }
    if s.cfg.no_content_when_empty && count_records(seed, &zone, rpm, lq.start, lq.end) == 0 {
        return done(StatusCode::NO_CONTENT.into_response(), None);
    }

    let faults = s.faults();
    let truncate = s.fault_hit(FaultKind::Truncated, faults.rate_truncated);
    let mut trailer = !truncate && s.fault_hit(FaultKind::ErrorTrailer, faults.rate_error_trailer);
    let mut limit_cut = None;
    if !truncate
        && faults.max_records_per_response > 0
        && count_records(seed, &zone, rpm, lq.start, lq.end) > faults.max_records_per_response
    {
        trailer = true;
        limit_cut = Some(faults.max_records_per_response);
    }
    let slow_mid = fault == Some("slow");
    if truncate {
        fault = Some(if slow_mid {
            "slow+truncated"
        } else {
            "truncated"
        });
    } else if trailer {
        fault = Some(if slow_mid { "slow+trailer" } else { "trailer" });
    }
    let cut_frac = rng.unit();
    let reset = rng.chance(0.5);
    let total = if (truncate || trailer) && limit_cut.is_none() {
        count_records(seed, &zone, rpm, lq.start, lq.end)
    } else {
        0
    };
    let cut_at = limit_cut.unwrap_or(((total as f64) * cut_frac) as u64);
    let gzip = s.cfg.gzip
        && h.get("accept-encoding")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let plan = BodyPlan {
        seed,
        zone,
        rpm,
        q: lq,
        gzip,
        newline: s.cfg.newline_separated,
        truncate,
        trailer,
        cut_at,
        reset,
        slow_mid,
        slow_ms: faults.slow_ms,
    };
    let mut resp = Response::new(body(plan));
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-ndjson"),
    );
    if gzip {
        resp.headers_mut()
            .insert("content-encoding", HeaderValue::from_static("gzip"));
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{:016x}-SIM", rng.next_u64())) {
        resp.headers_mut().insert("cf-ray", v);
    }
    done(resp, fault)
}

pub(crate) async fn retention(
    State(s): State<Arc<Shared>>,
    Path(zone): Path<String>,
    h: HeaderMap,
) -> Response {
    let path = format!("/zones/{zone}/logs/control/retention/flag");
    let q = HashMap::new();
    if let Authn::Fail(r) = check_auth(&s, &h, false) {
        s.record(&h, &path, &q, r.status().as_u16(), None);
        return r;
    }
    let Some(z) = s.cfg.zone(&zone) else {
        s.record(&h, &path, &q, 400, None);
        return unknown_object(&path);
    };
    s.record(&h, &path, &q, 200, None);
    envelope_ok(json!({"flag": z.retention_enabled}), None)
}

pub(crate) async fn fields(
    State(s): State<Arc<Shared>>,
    Path(zone): Path<String>,
    h: HeaderMap,
) -> Response {
    let path = format!("/zones/{zone}/logs/received/fields");
    let q = HashMap::new();
    if let Authn::Fail(r) = check_auth(&s, &h, false) {
        s.record(&h, &path, &q, r.status().as_u16(), None);
        return r;
    }
    if s.cfg.zone(&zone).is_none() {
        s.record(&h, &path, &q, 400, None);
        return unknown_object(&path);
    }
    s.record(&h, &path, &q, 200, None);
    let mut m = serde_json::Map::new();
    for f in KNOWN_FIELDS {
        m.insert((*f).to_string(), json!(format!("{f} (simulated field)")));
    }
    json_response(StatusCode::OK, serde_json::Value::Object(m).to_string())
}
