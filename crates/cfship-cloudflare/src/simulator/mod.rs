//! A strict Cloudflare API simulator (Logpull + audit logs v1/v2 + token verify + retention flag)
//! with deterministic data and fault knobs. Used by the tests, `cfship simulate` and `cfship demo`.
//!
//! Chosen where Cloudflare's documentation is silent (see the crate docs / final report):
//! * Logpull window errors are `400` envelopes with code 1002 and Cloudflare's `bad query: …` texts.
//! * A zone whose retention flag is off answers `204 No Content` on `/logs/received`.
//! * Licence-gated fields (Bot Management) answer `403` naming the fields.
//! * Audit v1 `per_page` default 100, max 1000; v2 `limit` default 100, max 1000; v2 omits view actions.

pub mod data;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use data::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SimZone {
    pub id: String,
    pub retention_enabled: bool,
    pub records_per_minute: u32,
    pub bot_management: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SimAccount {
    pub id: String,
    pub events_per_hour: u32,
}

impl Default for SimZone {
    fn default() -> Self {
        SimZone {
            id: String::new(),
            retention_enabled: true,
            records_per_minute: 60,
            bot_management: false,
        }
    }
}

impl Default for SimAccount {
    fn default() -> Self {
        SimAccount {
            id: String::new(),
            events_per_hour: 30,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SimCredentials {
    /// Valid API tokens (`Authorization: Bearer`).
    pub tokens: Vec<String>,
    /// Valid (email, global API key) pairs.
    pub keys: Vec<(String, String)>,
}

/// Fault knobs. Rates are fractions of the eligible requests (0.0–1.0), spread evenly with a
/// seed-dependent phase: 0.1 = every 10th request, so a test gets the faults it asks for on every run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    pub rate_429: f64,
    pub retry_after_secs: u64,
    pub rate_5xx: f64,
    /// Logpull: body cut short (half: connection reset, half: clean end mid-object / mid-gzip).
    pub rate_truncated: f64,
    /// Logpull: body ends with `Error streaming data` after some records.
    pub rate_error_trailer: f64,
    pub rate_slow: f64,
    /// Delay of a slow response (before the headers, and once more in the middle of a Logpull body).
    pub slow_ms: u64,
    /// Logpull: a response with more records than this ends with `Error streaming data` after that
    /// many records (Cloudflare's answer when a response hits its 10 GiB / 10 min limits). 0 = off.
    pub max_records_per_response: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SimulatorConfig {
    pub seed: u64,
    pub zones: Vec<SimZone>,
    pub accounts: Vec<SimAccount>,
    pub credentials: SimCredentials,
    pub faults: Faults,
    /// Simulator clock = real clock + offset (negative: server behind).
    pub clock_offset_secs: i64,
    /// `true`: NDJSON; `false`: objects back-to-back without newline (like Elastic's Go mock).
    pub newline_separated: bool,
    /// Compress Logpull bodies when the client sends `Accept-Encoding: gzip`.
    pub gzip: bool,
    /// Largest accepted audit `per_page` / `limit` (Cloudflare publishes no maximum).
    pub audit_max_page_size: u64,
    /// Logpull answers `204 No Content` (instead of `200` with an empty body) for a window without
    /// records, as some users report Cloudflare doing.
    pub no_content_when_empty: bool,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            seed: 1,
            zones: Vec::new(),
            accounts: Vec::new(),
            credentials: SimCredentials::default(),
            faults: Faults::default(),
            clock_offset_secs: 0,
            newline_separated: true,
            gzip: true,
            audit_max_page_size: 1000,
            no_content_when_empty: false,
        }
    }
}

impl SimulatorConfig {
    /// A ready-to-use configuration for demos: two zones, one account, a token and a key.
    pub fn demo(seed: u64) -> Self {
        SimulatorConfig {
            seed,
            zones: vec![
                SimZone {
                    id: "023e105f4ecef8ad9ca31a8372d0c353".into(),
                    retention_enabled: true,
                    records_per_minute: 60,
                    bot_management: true,
                },
                SimZone {
                    id: "9a7806061c88ada191ed06f989cc3dac".into(),
                    retention_enabled: true,
                    records_per_minute: 20,
                    bot_management: false,
                },
            ],
            accounts: vec![SimAccount {
                id: "01a7362d577a6c3019a474fd6f485823".into(),
                events_per_hour: 30,
            }],
            credentials: SimCredentials {
                tokens: vec!["sim-token".into()],
                keys: vec![("user@example.com".into(), "sim-global-key".into())],
            },
            ..Default::default()
        }
    }

    fn zone(&self, id: &str) -> Option<&SimZone> {
        self.zones.iter().find(|z| z.id == id)
    }
    fn account(&self, id: &str) -> Option<&SimAccount> {
        self.accounts.iter().find(|a| a.id == id)
    }
}

/// One request the simulator answered.
#[derive(Clone, Debug, Serialize)]
pub struct RequestRecord {
    pub path: String,
    pub query: HashMap<String, String>,
    pub status: u16,
    /// Fault injected, if any: "429", "5xx", "truncated", "trailer" or "slow" (a slow response that
    /// also failed is labelled with the failure; see `slow`).
    pub fault: Option<String>,
    /// The response was delayed (`rate_slow`).
    pub slow: bool,
    pub at: DateTime<Utc>,
}

/// The request log keeps at most this many entries (the oldest half is dropped when full).
pub const REQUEST_LOG_MAX: usize = 200_000;

struct Shared {
    cfg: SimulatorConfig,
    faults: Mutex<Faults>,
    counter: AtomicU64,
    /// Fault accumulators (429, 5xx, slow, truncated, trailer): a fault fires each time the running
    /// sum of its rate crosses 1, so a rate of 0.1 means exactly every 10th eligible request (with a
    /// seed-dependent phase). Tests get the faults they ask for, every run.
    fault_acc: Mutex<[f64; 5]>,
    log: Mutex<Vec<RequestRecord>>,
}

impl Shared {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(self.cfg.clock_offset_secs)
    }
    fn roll(&self) -> Rng {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        Rng::new(mix(self.cfg.seed
            ^ 0xFA017
            ^ n.wrapping_mul(0x2545_F491_4F6C_DD1D)))
    }
    fn record(&self, path: &str, q: &HashMap<String, String>, status: u16, fault: Option<&str>) {
        // "slow+truncated" → fault "truncated", slow: true.
        let (slow, fault) = match fault {
            Some(f) => match f.strip_prefix("slow+") {
                Some(rest) => (true, Some(rest)),
                None => (f == "slow", Some(f)),
            },
            None => (false, None),
        };
        let r = RequestRecord {
            path: path.to_string(),
            query: q.clone(),
            status,
            fault: fault.map(str::to_string),
            slow,
            at: Utc::now(),
        };
        let mut l = match self.log.lock() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        };
        // Bounded for long-running `cfship simulate` / demo processes: keep the newest requests.
        if l.len() >= REQUEST_LOG_MAX {
            l.drain(..REQUEST_LOG_MAX / 2);
        }
        l.push(r);
    }
    /// Whether fault `kind` fires for this request (see `fault_acc`).
    fn fault_hit(&self, kind: usize, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        let mut g = match self.fault_acc.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g[kind] += rate.min(1.0);
        if g[kind] >= 1.0 {
            g[kind] -= 1.0;
            true
        } else {
            false
        }
    }
    fn faults(&self) -> Faults {
        match self.faults.lock() {
            Ok(f) => f.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// A running simulator.
pub struct SimulatorHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SimulatorHandle {
    /// Base URL, ending with `/client/v4`.
    pub fn url(&self) -> String {
        format!("http://{}/client/v4", self.addr)
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn config(&self) -> &SimulatorConfig {
        &self.shared.cfg
    }
    /// Requests answered so far (the newest [`REQUEST_LOG_MAX`] at most).
    pub fn requests(&self) -> Vec<RequestRecord> {
        match self.shared.log.lock() {
            Ok(l) => l.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
    /// Changes the fault knobs at run time.
    pub fn set_faults(&self, f: Faults) {
        match self.shared.faults.lock() {
            Ok(mut g) => *g = f,
            Err(p) => *p.into_inner() = f,
        }
    }
    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
    /// Blocks until the server stops (for `cfship simulate`).
    pub async fn wait(mut self) {
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
    /// A token to stop the server from elsewhere.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }
}

impl Drop for SimulatorHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Starts the simulator on `addr` (port 0 = any free port).
pub async fn start(
    cfg: SimulatorConfig,
    addr: SocketAddr,
) -> Result<SimulatorHandle, SimulatorError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| SimulatorError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| SimulatorError::Bind { addr, source })?;
    let seed_for_phase = cfg.seed;
    let shared = Arc::new(Shared {
        faults: Mutex::new(cfg.faults.clone()),
        cfg,
        counter: AtomicU64::new(0),
        fault_acc: Mutex::new(std::array::from_fn(|i| {
            (mix(seed_for_phase ^ i as u64) >> 11) as f64 / (1u64 << 53) as f64
        })),
        log: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .route("/client/v4/user/tokens/verify", get(verify))
        .route("/client/v4/user", get(user))
        .route(
            "/client/v4/accounts/{account}/tokens/verify",
            get(verify_account),
        )
        .route("/client/v4/zones/{zone}/logs/received", get(logpull))
        .route("/client/v4/zones/{zone}/logs/received/fields", get(fields))
        .route(
            "/client/v4/zones/{zone}/logs/control/retention/flag",
            get(retention),
        )
        .route("/client/v4/accounts/{account}/audit_logs", get(audit_v1))
        .route("/client/v4/accounts/{account}/logs/audit", get(audit_v2))
        .fallback(fallback)
        .with_state(shared.clone());
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    let task = tokio::spawn(async move {
        let r = axum::serve(listener, app)
            .with_graceful_shutdown(async move { c2.cancelled().await })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "simulator server stopped");
        }
    });
    tracing::info!(url = %format!("http://{local}/client/v4"), "Cloudflare API simulator listening");
    Ok(SimulatorHandle {
        addr: local,
        shared,
        cancel,
        task: Some(task),
    })
}

// ---------------------------------------------------------------------------------------------
// Ground truth

fn ns_of(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}
fn us_of(t: DateTime<Utc>) -> i64 {
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
    .filter(|e| !AUDIT_KINDS[e.kind].5)
    .map(audit_id_v2)
    .collect()
}

// ---------------------------------------------------------------------------------------------
// Responses

fn envelope_error(status: StatusCode, code: i64, message: &str) -> Response {
    let body = json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null});
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn envelope_ok(result: serde_json::Value, result_info: Option<serde_json::Value>) -> Response {
    let mut body = json!({"success": true, "errors": [], "messages": [], "result": result});
    if let Some(ri) = result_info {
        body["result_info"] = ri;
    }
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

enum Authn {
    Ok,
    Fail(Response),
}

fn check_auth(s: &Shared, h: &HeaderMap, verify_endpoint: bool) -> Authn {
    let creds = &s.cfg.credentials;
    if let Some(a) = h.get("authorization") {
        let a = a.to_str().unwrap_or("");
        let Some(tok) = a.strip_prefix("Bearer ") else {
            let body = json!({"success": false, "errors": [{"code": 6003, "message": "Invalid request headers",
                "error_chain": [{"code": 6111, "message": "Invalid format for Authorization header"}]}],
                "messages": [], "result": null});
            return Authn::Fail(
                (
                    StatusCode::BAD_REQUEST,
                    [("content-type", "application/json")],
                    body.to_string(),
                )
                    .into_response(),
            );
        };
        if creds.tokens.iter().any(|t| t == tok) {
            return Authn::Ok;
        }
        if verify_endpoint {
            return Authn::Fail(envelope_error(
                StatusCode::UNAUTHORIZED,
                1000,
                "Invalid API Token",
            ));
        }
        return Authn::Fail(envelope_error(
            StatusCode::FORBIDDEN,
            10000,
            "Authentication error",
        ));
    }
    let email = h.get("x-auth-email").and_then(|v| v.to_str().ok());
    let key = h.get("x-auth-key").and_then(|v| v.to_str().ok());
    match (email, key) {
        (Some(e), Some(k)) => {
            if creds.keys.iter().any(|(ce, ck)| ce == e && ck == k) {
                Authn::Ok
            } else {
                Authn::Fail(envelope_error(
                    StatusCode::FORBIDDEN,
                    10000,
                    "Authentication error",
                ))
            }
        }
        (Some(_), None) | (None, Some(_)) => {
            let body = json!({"success": false, "errors": [{"code": 6003, "message": "Invalid request headers",
                "error_chain": [{"code": 6103, "message": "Invalid format for X-Auth-Key header"}]}],
                "messages": [], "result": null});
            Authn::Fail(
                (
                    StatusCode::BAD_REQUEST,
                    [("content-type", "application/json")],
                    body.to_string(),
                )
                    .into_response(),
            )
        }
        (None, None) => Authn::Fail(envelope_error(
            StatusCode::UNAUTHORIZED,
            10000,
            "Authentication error",
        )),
    }
}

/// Injects 429 / 5xx / slow faults common to every data endpoint.
async fn common_faults(s: &Shared, rng: &mut Rng) -> (Option<Response>, Option<&'static str>) {
    let f = s.faults();
    if s.fault_hit(0, f.rate_429) {
        let body = json!({"success": false, "errors": [{"code": 971, "message": "Please wait and consider throttling your request speed"}], "messages": [], "result": null});
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            [("content-type", "application/json")],
            body.to_string(),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&f.retry_after_secs.to_string()) {
            r.headers_mut().insert("retry-after", v);
        }
        return (Some(r), Some("429"));
    }
    if s.fault_hit(1, f.rate_5xx) {
        let r = match rng.below(3) {
            0 => envelope_error(StatusCode::INTERNAL_SERVER_ERROR, 10001, "Internal server error"),
            1 => (
                StatusCode::BAD_GATEWAY,
                [("content-type", "text/html")],
                "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>",
            )
                .into_response(),
            _ => envelope_error(StatusCode::SERVICE_UNAVAILABLE, 10043, "Service temporarily unavailable"),
        };
        return (Some(r), Some("5xx"));
    }
    if s.fault_hit(2, f.rate_slow) {
        tokio::time::sleep(Duration::from_millis(f.slow_ms)).await;
        return (None, Some("slow"));
    }
    (None, None)
}

async fn verify(State(s): State<Arc<Shared>>, h: HeaderMap) -> Response {
    let q = HashMap::new();
    if let Authn::Fail(r) = check_auth(&s, &h, true) {
        s.record("/user/tokens/verify", &q, r.status().as_u16(), None);
        return r;
    }
    if h.get("authorization").is_none() {
        let r = envelope_error(StatusCode::BAD_REQUEST, 1000, "Invalid API Token");
        s.record("/user/tokens/verify", &q, 400, None);
        return r;
    }
    s.record("/user/tokens/verify", &q, 200, None);
    envelope_ok(
        json!({"id": format!("{:032x}", mix(s.cfg.seed)), "status": "active", "not_before": null, "expires_on": null}),
        None,
    )
}

async fn verify_account(
    State(s): State<Arc<Shared>>,
    Path(account): Path<String>,
    h: HeaderMap,
) -> Response {
    let path = format!("/accounts/{account}/tokens/verify");
    let q = HashMap::new();
    if s.cfg.account(&account).is_none() {
        s.record(&path, &q, 400, None);
        return unknown_object(&path);
    }
    if h.get("authorization").is_none() {
        s.record(&path, &q, 400, None);
        return envelope_error(StatusCode::BAD_REQUEST, 1000, "Invalid API Token");
    }
    if let Authn::Fail(r) = check_auth(&s, &h, true) {
        s.record(&path, &q, r.status().as_u16(), None);
        return r;
    }
    s.record(&path, &q, 200, None);
    envelope_ok(
        json!({"id": format!("{:032x}", mix(s.cfg.seed ^ fnv(&account))), "status": "active", "not_before": null, "expires_on": null}),
        None,
    )
}

async fn user(State(s): State<Arc<Shared>>, h: HeaderMap) -> Response {
    let q = HashMap::new();
    if let Authn::Fail(r) = check_auth(&s, &h, false) {
        s.record("/user", &q, r.status().as_u16(), None);
        return r;
    }
    s.record("/user", &q, 200, None);
    let email = h
        .get("x-auth-email")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("token-user@example.com");
    envelope_ok(
        json!({"id": format!("{:032x}", mix(s.cfg.seed ^ 5)), "email": email}),
        None,
    )
}

async fn retention(
    State(s): State<Arc<Shared>>,
    Path(zone): Path<String>,
    h: HeaderMap,
) -> Response {
    let path = format!("/zones/{zone}/logs/control/retention/flag");
    let q = HashMap::new();
    if let Authn::Fail(r) = check_auth(&s, &h, false) {
        s.record(&path, &q, r.status().as_u16(), None);
        return r;
    }
    let Some(z) = s.cfg.zone(&zone) else {
        s.record(&path, &q, 400, None);
        return unknown_object(&path);
    };
    s.record(&path, &q, 200, None);
    envelope_ok(json!({"flag": z.retention_enabled}), None)
}

async fn fields(State(s): State<Arc<Shared>>, Path(zone): Path<String>, h: HeaderMap) -> Response {
    let path = format!("/zones/{zone}/logs/received/fields");
    let q = HashMap::new();
    if let Authn::Fail(r) = check_auth(&s, &h, false) {
        s.record(&path, &q, r.status().as_u16(), None);
        return r;
    }
    if s.cfg.zone(&zone).is_none() {
        s.record(&path, &q, 400, None);
        return unknown_object(&path);
    }
    s.record(&path, &q, 200, None);
    let mut m = serde_json::Map::new();
    for f in KNOWN_FIELDS {
        m.insert((*f).to_string(), json!(format!("{f} (simulated field)")));
    }
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        serde_json::Value::Object(m).to_string(),
    )
        .into_response()
}

fn unknown_object(path: &str) -> Response {
    envelope_error(
        StatusCode::BAD_REQUEST,
        7003,
        &format!("Could not route to /client/v4{path}, perhaps your object identifier is invalid?"),
    )
}

async fn fallback(State(s): State<Arc<Shared>>, uri: axum::http::Uri) -> Response {
    s.record(uri.path(), &HashMap::new(), 400, None);
    envelope_error(StatusCode::BAD_REQUEST, 7000, "No route for that URI")
}

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

fn parse_api_time(v: &str) -> Option<i64> {
    if let Ok(d) = DateTime::parse_from_rfc3339(v) {
        return Some(d.with_timezone(&Utc).timestamp_micros());
    }
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp_micros())
}

async fn logpull(
    State(s): State<Arc<Shared>>,
    Path(zone): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    h: HeaderMap,
) -> Response {
    let path = format!("/zones/{zone}/logs/received");
    let done = |r: Response, fault: Option<&str>| {
        s.record(&path, &q, r.status().as_u16(), fault);
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
    // Validation (order as Cloudflare: parameters, then the time range, then fields).
    let (Some(start_s), Some(end_s)) = (q.get("start"), q.get("end")) else {
        return done(
            bad_query("error parsing time: both start and end are required"),
            None,
        );
    };
    let Some(start) = parse_logpull_time(start_s) else {
        return done(
            bad_query(&format!(
                "error parsing time: invalid start time {start_s:?}"
            )),
            None,
        );
    };
    let Some(end) = parse_logpull_time(end_s) else {
        return done(
            bad_query(&format!("error parsing time: invalid end time {end_s:?}")),
            None,
        );
    };
    let now = ns_of(s.now());
    if start >= end {
        return done(
            bad_query("error parsing time: invalid time range: start must be earlier than end"),
            None,
        );
    }
    if end - start > NS_PER_HOUR {
        return done(bad_query("error parsing time: invalid time range: too long: time range must not exceed 1h0m0s"), None);
    }
    if start < now - 168 * NS_PER_HOUR {
        return done(bad_query("error parsing time: invalid time range: too early: logs older than 168h0m0s are not available"), None);
    }
    if end > now - NS_PER_MIN {
        return done(bad_query("error parsing time: invalid time range: too late: logs newer than 1m0s are not available"), None);
    }
    let fields: Vec<String> = match q.get("fields") {
        None => DEFAULT_FIELDS.iter().map(|f| f.to_string()).collect(),
        Some(f) => {
            if f.chars().any(char::is_whitespace) {
                return done(
                    bad_query("invalid fields: the list must not contain whitespace"),
                    None,
                );
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
        return done(
            bad_query(&format!("unknown fields: {}", unknown.join(","))),
            None,
        );
    }
    if !z.bot_management {
        let gated: Vec<&str> = fields
            .iter()
            .map(String::as_str)
            .filter(|f| BOT_FIELDS.contains(f))
            .collect();
        if !gated.is_empty() {
            return done(
                envelope_error(
                    StatusCode::FORBIDDEN,
                    1002,
                    &format!(
                        "fields not allowed for this zone (requires Bot Management): {}",
                        gated.join(",")
                    ),
                ),
                None,
            );
        }
    }
    let ts = match q.get("timestamps").map(String::as_str) {
        None | Some("unixnano") => Timestamps::UnixNano,
        Some("unix") => Timestamps::Unix,
        Some("rfc3339") => Timestamps::Rfc3339,
        Some(other) => {
            return done(
                bad_query(&format!(
                    "invalid timestamps format {other:?}: use unixnano, unix or rfc3339"
                )),
                None,
            )
        }
    };
    let sample = match q.get("sample") {
        None => 1.0,
        Some(v) => match v.parse::<f64>() {
            Ok(x) if x > 0.0 && x <= 1.0 => x,
            _ => return done(bad_query("invalid sample: must be > 0.0 and <= 1.0"), None),
        },
    };
    let count = match q.get("count") {
        None => u64::MAX,
        Some(v) => match v.parse::<u64>() {
            Ok(x) if x > 0 => x,
            _ => return done(bad_query("invalid count: must be a positive integer"), None),
        },
    };
    if !z.retention_enabled {
        return done(StatusCode::NO_CONTENT.into_response(), None);
    }
    if s.cfg.no_content_when_empty {
        let mut any = false;
        for_each_record(
            s.cfg.seed,
            &zone,
            z.records_per_minute,
            start,
            end,
            |_, _| any = true,
        );
        if !any {
            return done(StatusCode::NO_CONTENT.into_response(), None);
        }
    }

    let faults = s.faults();
    let truncate = s.fault_hit(3, faults.rate_truncated);
    let mut trailer = !truncate && s.fault_hit(4, faults.rate_error_trailer);
    let mut limit_cut = None;
    if !truncate && faults.max_records_per_response > 0 {
        let mut n = 0u64;
        for_each_record(
            s.cfg.seed,
            &zone,
            z.records_per_minute,
            start,
            end,
            |_, _| n += 1,
        );
        if n > faults.max_records_per_response {
            trailer = true;
            limit_cut = Some(faults.max_records_per_response);
        }
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
        let mut n = 0u64;
        for_each_record(
            s.cfg.seed,
            &zone,
            z.records_per_minute,
            start,
            end,
            |_, _| n += 1,
        );
        n
    } else {
        0
    };
    let cut_at = limit_cut.unwrap_or(((total as f64) * cut_frac) as u64);
    let gzip = s.cfg.gzip
        && h.get("accept-encoding")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let newline = s.cfg.newline_separated;
    let seed = s.cfg.seed;
    let rpm = z.records_per_minute;
    let slow_ms = faults.slow_ms;
    let resp_fault = fault;
    let stream = async_stream::stream! {
        let field_refs: Vec<&str> = fields.iter().map(String::as_str).collect();
        let mut enc = if gzip { Some(flate2::write::GzEncoder::new(Vec::with_capacity(64 * 1024), flate2::Compression::fast())) } else { None };
        let mut raw: Vec<u8> = Vec::with_capacity(128 * 1024);
        let mut emitted = 0u64;
        let mut seen = 0u64;
        let first = start.div_euclid(NS_PER_MIN);
        let last = (end - 1).div_euclid(NS_PER_MIN);
        let mut stop = false;
        let mut slept_mid = false;
        'outer: for m in first..=last {
            let n = records_in_minute(seed, &zone, rpm, m);
            for i in 0..n {
                let (t, hh) = record_at(seed, &zone, m, i, n);
                if t < start || t >= end { continue; }
                if sample < 1.0 && ((hh >> 7) % 1_000_000) as f64 >= sample * 1_000_000.0 { continue; }
                if emitted >= count { stop = true; break 'outer; }
                if (truncate || trailer) && seen == cut_at { break 'outer; }
                seen += 1;
                write_record(&mut raw, &zone, t, hh, &field_refs, ts);
                if newline { raw.push(b'\n'); }
                emitted += 1;
                if raw.len() >= 64 * 1024 {
                    let chunk = match enc.as_mut() {
                        Some(e) => { let _ = e.write_all(&raw); raw.clear(); std::mem::take(e.get_mut()) }
                        None => std::mem::take(&mut raw),
                    };
                    if !chunk.is_empty() { yield Ok::<Bytes, std::io::Error>(Bytes::from(chunk)); }
                    if slow_mid && !slept_mid {
                        // One stall in the middle of the body (after the first chunk).
                        slept_mid = true;
                        tokio::time::sleep(Duration::from_millis(slow_ms)).await;
                    }
                }
            }
        }
        let _ = stop;
        if truncate {
            // Half an object, then either a reset connection or a clean end mid-object / mid-gzip.
            let mut obj = Vec::new();
            write_record(&mut obj, &zone, start, 0x7777, &field_refs, ts);
            raw.extend_from_slice(&obj[..obj.len() / 2]);
            let chunk = match enc.as_mut() {
                Some(e) => { let _ = e.write_all(&raw); let _ = e.flush(); std::mem::take(e.get_mut()) }
                None => std::mem::take(&mut raw),
            };
            if !chunk.is_empty() { yield Ok(Bytes::from(chunk)); }
            if reset {
                yield Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "simulated connection reset"));
            }
            return;
        }
        if trailer {
            raw.extend_from_slice(b"Error streaming data\n");
        }
        let chunk = match enc.take() {
            Some(mut e) => { let _ = e.write_all(&raw); e.finish().unwrap_or_default() }
            None => std::mem::take(&mut raw),
        };
        if !chunk.is_empty() { yield Ok(Bytes::from(chunk)); }
    };
    let mut resp = Response::new(Body::from_stream(stream));
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
    done(resp, resp_fault)
}

#[allow(clippy::result_large_err)]
fn audit_common(
    s: &Shared,
    account: &str,
    q: &HashMap<String, String>,
    path: &str,
    v2: bool,
) -> Result<(u32, i64, i64, bool, u64), Response> {
    let Some(a) = s.cfg.account(account) else {
        return Err(unknown_object(path));
    };
    let now_us = us_of(s.now());
    let retention_us = 548 * 24 * 3_600_000_000i64; // ~18 months
    let since = match q.get("since") {
        Some(v) => parse_api_time(v).ok_or_else(|| {
            envelope_error(
                StatusCode::BAD_REQUEST,
                1002,
                &format!("invalid since {v:?}: use RFC3339 or yyyy-mm-dd"),
            )
        })?,
        None if v2 => {
            return Err(envelope_error(
                StatusCode::BAD_REQUEST,
                1002,
                "since is required",
            ))
        }
        None => now_us - 7 * 24 * 3_600_000_000i64,
    };
    let before = match q.get("before") {
        Some(v) => parse_api_time(v).ok_or_else(|| {
            envelope_error(
                StatusCode::BAD_REQUEST,
                1002,
                &format!("invalid before {v:?}: use RFC3339 or yyyy-mm-dd"),
            )
        })?,
        None if v2 => {
            return Err(envelope_error(
                StatusCode::BAD_REQUEST,
                1002,
                "before is required",
            ))
        }
        None => now_us,
    };
    let asc = match q.get("direction").map(String::as_str) {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(o) => {
            return Err(envelope_error(
                StatusCode::BAD_REQUEST,
                1002,
                &format!("invalid direction {o:?}: asc or desc"),
            ))
        }
    };
    let size_key = if v2 { "limit" } else { "per_page" };
    let size = match q.get(size_key) {
        None => 100,
        Some(v) => match v.parse::<u64>() {
            Ok(x) if (1..=s.cfg.audit_max_page_size).contains(&x) => x,
            _ => {
                return Err(envelope_error(
                    StatusCode::BAD_REQUEST,
                    1002,
                    &format!(
                        "invalid {size_key} {v:?}: must be between 1 and {}",
                        s.cfg.audit_max_page_size
                    ),
                ))
            }
        },
    };
    let since = since.max(now_us - retention_us);
    let before = before.min(now_us + 1);
    Ok((a.events_per_hour, since, before, asc, size))
}

async fn audit_v1(
    State(s): State<Arc<Shared>>,
    Path(account): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    h: HeaderMap,
) -> Response {
    let path = format!("/accounts/{account}/audit_logs");
    let done = |r: Response, fault: Option<&str>| {
        s.record(&path, &q, r.status().as_u16(), fault);
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
    let (per_hour, since, before, asc, per_page) =
        match audit_common(&s, &account, &q, &path, false) {
            Ok(x) => x,
            Err(r) => return done(r, None),
        };
    let page = match q.get("page").map(|p| p.parse::<u64>()) {
        None => 1,
        Some(Ok(p)) if p >= 1 => p,
        _ => {
            return done(
                envelope_error(StatusCode::BAD_REQUEST, 1002, "invalid page: must be >= 1"),
                None,
            )
        }
    };
    let mut ev = audit_events(s.cfg.seed, &account, per_hour, since, before);
    if !asc {
        ev.reverse();
    }
    let total = ev.len() as u64;
    let from = ((page - 1) * per_page).min(total) as usize;
    let to = (page * per_page).min(total) as usize;
    let result: Vec<serde_json::Value> = ev[from..to]
        .iter()
        .map(|e| audit_v1_json(s.cfg.seed, &account, e))
        .collect();
    let info = json!({"page": page, "per_page": per_page, "count": result.len(), "total_count": total,
        "total_pages": total.div_ceil(per_page)});
    done(envelope_ok(json!(result), Some(info)), fault)
}

async fn audit_v2(
    State(s): State<Arc<Shared>>,
    Path(account): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    h: HeaderMap,
) -> Response {
    let path = format!("/accounts/{account}/logs/audit");
    let done = |r: Response, fault: Option<&str>| {
        s.record(&path, &q, r.status().as_u16(), fault);
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
    let (per_hour, since, before, asc, limit) = match audit_common(&s, &account, &q, &path, true) {
        Ok(x) => x,
        Err(r) => return done(r, None),
    };
    // Opaque cursor: "<offset>.<checksum of the query bounds>" in hex.
    let check = mix(since as u64 ^ mix(before as u64) ^ u64::from(asc)) & 0xffff_ffff;
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
                _ => {
                    return done(
                        envelope_error(StatusCode::BAD_REQUEST, 1002, "invalid cursor"),
                        None,
                    )
                }
            }
        }
    };
    let mut ev: Vec<AuditEvent> = audit_events(s.cfg.seed, &account, per_hour, since, before)
        .into_iter()
        .filter(|e| !AUDIT_KINDS[e.kind].5)
        .collect();
    if !asc {
        ev.reverse();
    }
    let total = ev.len() as u64;
    let from = offset.min(total) as usize;
    let to = (offset + limit).min(total) as usize;
    let result: Vec<serde_json::Value> = ev[from..to]
        .iter()
        .map(|e| audit_v2_json(s.cfg.seed, &account, e))
        .collect();
    let mut info = json!({"count": result.len().to_string()});
    if (to as u64) < total {
        info["cursor"] = json!(format!("{:x}.{:x}", to, check));
    }
    done(envelope_ok(json!(result), Some(info)), fault)
}
