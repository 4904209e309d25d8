//! Audit logs: v1 (`/accounts/{id}/audit_logs`, page numbers) and v2 (`/accounts/{id}/logs/audit`,
//! opaque cursors, no view actions). Both versions share authentication, faults and the query
//! grammar; they differ in how a page is chosen and how a record is rendered.

use super::auth::{check_auth, Authn};
use super::{envelope_error, envelope_ok, unknown_object};
use crate::data::{audit_events, audit_v1_json, audit_v2_json, mix, AuditEvent};
use crate::faults::common_faults;
use crate::oracle::us_of;
use crate::state::Shared;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// Audit events are kept about 18 months.
const RETENTION_US: i64 = 548 * 24 * 3_600_000_000;
const HOUR_US: i64 = 3_600_000_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    V1,
    V2,
}

impl Api {
    fn path(self, account: &str) -> String {
        match self {
            Api::V1 => format!("/accounts/{account}/audit_logs"),
            Api::V2 => format!("/accounts/{account}/logs/audit"),
        }
    }
    /// The page-size parameter.
    fn size_key(self) -> &'static str {
        match self {
            Api::V1 => "per_page",
            Api::V2 => "limit",
        }
    }
}

fn bad_request(msg: &str) -> Response {
    envelope_error(StatusCode::BAD_REQUEST, 1002, msg)
}

/// An audit time: RFC3339 or `yyyy-mm-dd`, in unix microseconds.
fn parse_api_time(v: &str) -> Option<i64> {
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(v) {
        return Some(d.with_timezone(&chrono::Utc).timestamp_micros());
    }
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp_micros())
}

/// A validated audit query, the range clamped to the retention and to now.
struct AuditQuery {
    per_hour: u32,
    since: i64,
    before: i64,
    asc: bool,
    size: u64,
}

/// Parses `key` as a time; v2 requires it, v1 falls back to `default`.
fn time_param(
    q: &HashMap<String, String>,
    key: &str,
    api: Api,
    default: i64,
) -> Result<i64, Response> {
    match q.get(key) {
        Some(v) => parse_api_time(v)
            .ok_or_else(|| bad_request(&format!("invalid {key} {v:?}: use RFC3339 or yyyy-mm-dd"))),
        None if api == Api::V2 => Err(bad_request(&format!("{key} is required"))),
        None => Ok(default),
    }
}

fn parse_query(
    s: &Shared,
    account: &str,
    q: &HashMap<String, String>,
    path: &str,
    api: Api,
) -> Result<AuditQuery, Response> {
    let Some(a) = s.cfg.account(account) else {
        return Err(unknown_object(path));
    };
    let now_us = us_of(s.now());
    let since = time_param(q, "since", api, now_us - 7 * 24 * HOUR_US)?;
    let before = time_param(q, "before", api, now_us)?;
    let asc = match q.get("direction").map(String::as_str) {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(o) => {
            return Err(bad_request(&format!(
                "invalid direction {o:?}: asc or desc"
            )))
        }
    };
    let size_key = api.size_key();
    let max = s.cfg.audit_max_page_size;
    let size = match q.get(size_key) {
        None => 100,
        Some(v) => match v.parse::<u64>() {
            Ok(x) if (1..=max).contains(&x) => x,
            _ => {
                return Err(bad_request(&format!(
                    "invalid {size_key} {v:?}: must be between 1 and {max}"
                )))
            }
        },
    };
    Ok(AuditQuery {
        per_hour: a.events_per_hour,
        since: since.max(now_us - RETENTION_US),
        before: before.min(now_us + 1),
        asc,
        size,
    })
}

fn events(s: &Shared, account: &str, aq: &AuditQuery, api: Api) -> Vec<AuditEvent> {
    let mut ev = audit_events(s.cfg.seed, account, aq.per_hour, aq.since, aq.before);
    if api == Api::V2 {
        ev.retain(AuditEvent::logged_by_v2);
    }
    if !aq.asc {
        ev.reverse();
    }
    ev
}

/// v1: `page` (from 1) of `per_page` events, with page counts in `result_info`.
fn v1_page(
    s: &Shared,
    account: &str,
    q: &HashMap<String, String>,
    aq: &AuditQuery,
) -> Result<Response, Response> {
    let page = match q.get("page").map(|p| p.parse::<u64>()) {
        None => 1,
        Some(Ok(p)) if p >= 1 => p,
        _ => return Err(bad_request("invalid page: must be >= 1")),
    };
    let ev = events(s, account, aq, Api::V1);
    let total = ev.len() as u64;
    let per_page = aq.size;
    let from = ((page - 1) * per_page).min(total) as usize;
    let to = (page * per_page).min(total) as usize;
    let result: Vec<serde_json::Value> = ev[from..to]
        .iter()
        .map(|e| audit_v1_json(s.cfg.seed, account, e))
        .collect();
    let info = json!({"page": page, "per_page": per_page, "count": result.len(), "total_count": total,
        "total_pages": total.div_ceil(per_page)});
    Ok(envelope_ok(json!(result), Some(info)))
}

/// v2: `limit` events from the opaque `cursor` ("<offset>.<checksum of the query bounds>" in hex);
/// `result_info.cursor` is present while more events follow.
fn v2_page(
    s: &Shared,
    account: &str,
    q: &HashMap<String, String>,
    aq: &AuditQuery,
) -> Result<Response, Response> {
    let check = mix(aq.since as u64 ^ mix(aq.before as u64) ^ u64::from(aq.asc)) & 0xffff_ffff;
    let offset = match q.get("cursor").filter(|c| !c.is_empty()) {
        None => 0u64,
        Some(c) => {
            let parsed = c.split_once('.').and_then(|(o, k)| {
                Some((
                    u64::from_str_radix(o, 16).ok()?,
                    u64::from_str_radix(k, 16).ok()?,
                ))
            });
            match parsed {
                Some((o, k)) if k == check => o,
                _ => return Err(bad_request("invalid cursor")),
            }
        }
    };
    let ev = events(s, account, aq, Api::V2);
    let total = ev.len() as u64;
    let from = offset.min(total) as usize;
    let to = (offset + aq.size).min(total) as usize;
    let result: Vec<serde_json::Value> = ev[from..to]
        .iter()
        .map(|e| audit_v2_json(s.cfg.seed, account, e))
        .collect();
    let mut info = json!({"count": result.len().to_string()});
    if (to as u64) < total {
        info["cursor"] = json!(format!("{:x}.{:x}", to, check));
    }
    Ok(envelope_ok(json!(result), Some(info)))
}

async fn serve(
    s: Arc<Shared>,
    account: String,
    q: HashMap<String, String>,
    h: HeaderMap,
    api: Api,
) -> Response {
    let path = api.path(&account);
    let done = |r: Response, fault: Option<&str>| {
        s.record(&h, &path, &q, r.status().as_u16(), fault);
        r
    };
    if let Authn::Fail(r) = check_auth(&s, &h, false) {
        return done(r, None);
    }
    let mut rng = s.roll();
    let (fr, fault) = common_faults(&s, &mut rng).await;
    if let Some(r) = fr {
        return done(r, fault);
    }
    let aq = match parse_query(&s, &account, &q, &path, api) {
        Ok(x) => x,
        Err(r) => return done(r, None),
    };
    let page = match api {
        Api::V1 => v1_page(&s, &account, &q, &aq),
        Api::V2 => v2_page(&s, &account, &q, &aq),
    };
    match page {
        Ok(r) => done(r, fault),
        Err(r) => done(r, None),
    }
}

pub(crate) async fn audit_v1(
    State(s): State<Arc<Shared>>,
    Path(account): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    h: HeaderMap,
) -> Response {
    serve(s, account, q, h, Api::V1).await
}

pub(crate) async fn audit_v2(
    State(s): State<Arc<Shared>>,
    Path(account): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    h: HeaderMap,
) -> Response {
    serve(s, account, q, h, Api::V2).await
}
