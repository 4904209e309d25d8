//! The state one running simulator shares between its handlers: configuration, fault knobs, the
//! per-request random stream and the request log.

use crate::config::{Faults, SimulatorConfig};
use crate::data::{mix, Rng};
use crate::faults::{FaultDice, FaultKind};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

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
    /// Whose budget the request counts against (Cloudflare's rate limits are per user): `token #i`
    /// for the i-th configured API token, `key <email>` for an email + global API key; `None`
    /// when the request carried no valid credentials. Never the secret itself.
    pub user: Option<String>,
}

/// The request log keeps at most this many entries (the oldest half is dropped when full).
pub const REQUEST_LOG_MAX: usize = 200_000;

/// A poisoned lock still holds consistent data here (every critical section is one assignment).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

pub(crate) struct Shared {
    pub(crate) cfg: SimulatorConfig,
    faults: Mutex<Faults>,
    counter: AtomicU64,
    dice: FaultDice,
    log: Mutex<Vec<RequestRecord>>,
}

impl Shared {
    pub(crate) fn new(cfg: SimulatorConfig) -> Self {
        Shared {
            faults: Mutex::new(cfg.faults.clone()),
            dice: FaultDice::new(cfg.seed),
            cfg,
            counter: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
        }
    }

    /// Simulator clock: real clock + `clock_offset_secs`.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(self.cfg.clock_offset_secs)
    }

    /// A random stream for one request (deterministic in the order requests arrive).
    pub(crate) fn roll(&self) -> Rng {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        Rng::new(mix(self.cfg.seed
            ^ 0xFA017
            ^ n.wrapping_mul(0x2545_F491_4F6C_DD1D)))
    }

    /// Logs an answered request. `fault` "slow+truncated" is logged as fault "truncated", slow.
    pub(crate) fn record(
        &self,
        h: &axum::http::HeaderMap,
        path: &str,
        q: &HashMap<String, String>,
        status: u16,
        fault: Option<&str>,
    ) {
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
            user: self.user_of(h),
        };
        let mut l = lock(&self.log);
        // Bounded for long-running `cfship simulate` / demo processes: keep the newest requests.
        if l.len() >= REQUEST_LOG_MAX {
            l.drain(..REQUEST_LOG_MAX / 2);
        }
        l.push(r);
    }

    /// The user label of a request's valid credentials (see [`RequestRecord::user`]).
    fn user_of(&self, h: &axum::http::HeaderMap) -> Option<String> {
        let creds = &self.cfg.credentials;
        if let Some(a) = h.get("authorization") {
            let tok = a.to_str().ok()?.strip_prefix("Bearer ")?;
            let i = creds.tokens.iter().position(|t| t == tok)?;
            return Some(format!("token #{i}"));
        }
        let email = h.get("x-auth-email")?.to_str().ok()?;
        let key = h.get("x-auth-key")?.to_str().ok()?;
        creds
            .keys
            .iter()
            .any(|(e, k)| e == email && k == key)
            .then(|| format!("key {email}"))
    }

    pub(crate) fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.log).clone()
    }

    /// Whether fault `kind` fires for this request.
    pub(crate) fn fault_hit(&self, kind: FaultKind, rate: f64) -> bool {
        self.dice.hit(kind, rate)
    }

    /// The current fault knobs (they change at run time, see `SimulatorHandle::set_faults`).
    pub(crate) fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    pub(crate) fn set_faults(&self, f: Faults) {
        *lock(&self.faults) = f;
    }
}
