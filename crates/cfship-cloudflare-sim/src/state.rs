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
        };
        let mut l = lock(&self.log);
        // Bounded for long-running `cfship simulate` / demo processes: keep the newest requests.
        if l.len() >= REQUEST_LOG_MAX {
            l.drain(..REQUEST_LOG_MAX / 2);
        }
        l.push(r);
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
