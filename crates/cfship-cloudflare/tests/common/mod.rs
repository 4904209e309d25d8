#![allow(dead_code)]
//! Shared helpers for the integration tests: a recording sink and simulator/client setup.

use bytes::Bytes;
use cfship_cloudflare::{
    ClientConfig, CloudflareClient, RecordSink, RetryPolicy, SinkError, SourceId, Unit, UnitOutcome,
};
use cfship_cloudflare_sim::{
    self as simulator, SimAccount, SimCredentials, SimZone, SimulatorConfig, SimulatorHandle,
};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const TOKEN: &str = "test-token-Zx81";
pub const EMAIL: &str = "ops@example.com";
pub const KEY: &str = "0123456789abcdef0123456789abcdef01234";

pub type CommitHook = Box<dyn Fn(u64) + Send + Sync>;
pub type Gap = (SourceId, DateTime<Utc>, DateTime<Utc>);

#[derive(Default)]
struct SinkState {
    /// Ids delivered in uncommitted units (backfills run several units of one source at once).
    pending: HashMap<Unit, Vec<String>>,
    /// Ids of committed windows/pages → how many times each was committed.
    committed: HashMap<SourceId, HashMap<String, u32>>,
    aborted: u64,
    committed_units: u64,
}

/// Records ids; only records of windows/pages whose delivery completed (UnitOutcome::Committed) count,
/// so the exactly-once assertion is exact (no dedupe hides duplicates).
#[derive(Default)]
pub struct TestSink {
    state: Mutex<SinkState>,
    pub deliveries: AtomicU64,
    pub records_delivered: AtomicU64,
    /// Fail every Nth deliver call (retryable), 0 = never.
    pub fail_every: AtomicU64,
    /// When `deliveries` reaches this value, the deliver call never returns (simulated hang/crash).
    pub hang_at: AtomicU64,
    pub hung: tokio::sync::Notify,
    /// Holes reported through `RecordSink::gap`.
    pub gaps: Mutex<Vec<Gap>>,
    /// Called after each committed unit.
    pub on_commit: Mutex<Option<CommitHook>>,
}

pub fn record_id(source: &SourceId, rec: &[u8]) -> String {
    assert!(
        !rec.is_empty() && rec[0] == b'{' && rec[rec.len() - 1] == b'}',
        "not one object: {:?}",
        String::from_utf8_lossy(rec)
    );
    let v: serde_json::Value = serde_json::from_slice(rec).expect("record is valid JSON");
    match source {
        SourceId::Logpull { .. } => v["RayID"].as_str().expect("RayID").to_string(),
        SourceId::Audit { .. } => v["id"].as_str().expect("id").to_string(),
    }
}

impl TestSink {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Committed ids of a source with their commit counts.
    pub fn committed(&self, source: &SourceId) -> HashMap<String, u32> {
        self.state
            .lock()
            .unwrap()
            .committed
            .get(source)
            .cloned()
            .unwrap_or_default()
    }

    pub fn pending_len(&self) -> usize {
        self.state
            .lock()
            .unwrap()
            .pending
            .values()
            .map(Vec::len)
            .sum()
    }

    pub fn aborted(&self) -> u64 {
        self.state.lock().unwrap().aborted
    }

    pub fn committed_units(&self) -> u64 {
        self.state.lock().unwrap().committed_units
    }

    /// What a process crash does to in-memory, unacknowledged work.
    pub fn discard_pending(&self) {
        self.state.lock().unwrap().pending.clear();
    }

    /// Asserts every expected id was committed exactly once and nothing else was committed.
    pub fn assert_exactly_once(&self, source: &SourceId, expected: &[String]) {
        let got = self.committed(source);
        let dups: Vec<_> = got.iter().filter(|(_, n)| **n != 1).collect();
        assert!(
            dups.is_empty(),
            "{source}: ids committed more than once: {:?}",
            &dups[..dups.len().min(5)]
        );
        let exp: std::collections::HashSet<&String> = expected.iter().collect();
        assert_eq!(exp.len(), expected.len(), "ground truth has duplicate ids");
        let missing: Vec<_> = expected
            .iter()
            .filter(|id| !got.contains_key(*id))
            .collect();
        let extra: Vec<_> = got.keys().filter(|id| !exp.contains(id)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{source}: {} missing (e.g. {:?}), {} unexpected (e.g. {:?}); expected {}, got {}",
            missing.len(),
            missing.first(),
            extra.len(),
            extra.first(),
            expected.len(),
            got.len()
        );
    }
}

impl RecordSink for TestSink {
    fn deliver<'a>(
        &'a self,
        unit: &'a Unit,
        records: Vec<Bytes>,
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let n = self.deliveries.fetch_add(1, Ordering::SeqCst) + 1;
            let ids: Vec<String> = records.iter().map(|r| record_id(&unit.source, r)).collect();
            let hang = self.hang_at.load(Ordering::SeqCst);
            if hang != 0 && n >= hang {
                self.state
                    .lock()
                    .unwrap()
                    .pending
                    .entry(unit.clone())
                    .or_default()
                    .extend(ids);
                self.hung.notify_one();
                futures::future::pending::<()>().await;
                unreachable!();
            }
            let fe = self.fail_every.load(Ordering::SeqCst);
            if fe != 0 && n.is_multiple_of(fe) {
                return Err(SinkError::retryable("test sink: simulated bulk failure"));
            }
            self.records_delivered
                .fetch_add(ids.len() as u64, Ordering::SeqCst);
            self.state
                .lock()
                .unwrap()
                .pending
                .entry(unit.clone())
                .or_default()
                .extend(ids);
            Ok(())
        })
    }

    fn gap(&self, source: &SourceId, start: DateTime<Utc>, end: DateTime<Utc>) {
        self.gaps.lock().unwrap().push((source.clone(), start, end));
    }

    fn end_unit(&self, unit: &Unit, outcome: UnitOutcome) {
        let units = {
            let mut st = self.state.lock().unwrap();
            let pend = st.pending.remove(unit).unwrap_or_default();
            match outcome {
                // An audit sweep commits page by page (Progress) and ends with Committed: its
                // pages are the units counted here, a Logpull window is one.
                UnitOutcome::Committed | UnitOutcome::Progress => {
                    let c = st.committed.entry(unit.source.clone()).or_default();
                    for id in pend {
                        *c.entry(id).or_default() += 1;
                    }
                    let audit_end = outcome == UnitOutcome::Committed
                        && matches!(unit.source, SourceId::Audit { .. });
                    if audit_end {
                        None
                    } else {
                        st.committed_units += 1;
                        Some(st.committed_units)
                    }
                }
                UnitOutcome::Aborted => {
                    st.aborted += 1;
                    None
                }
            }
        };
        if let Some(u) = units {
            if let Some(f) = self.on_commit.lock().unwrap().as_ref() {
                f(u);
            }
        }
    }
}

pub fn zone(id: &str, rpm: u32) -> SimZone {
    SimZone {
        id: id.into(),
        retention_enabled: true,
        records_per_minute: rpm,
        bot_management: false,
    }
}

pub fn account(id: &str, per_hour: u32) -> SimAccount {
    SimAccount {
        id: id.into(),
        events_per_hour: per_hour,
    }
}

pub fn sim_config(seed: u64, zones: Vec<SimZone>, accounts: Vec<SimAccount>) -> SimulatorConfig {
    SimulatorConfig {
        seed,
        zones,
        accounts,
        credentials: SimCredentials {
            tokens: vec![TOKEN.into()],
            keys: vec![(EMAIL.into(), KEY.into())],
        },
        ..Default::default()
    }
}

pub async fn start_sim(cfg: SimulatorConfig) -> SimulatorHandle {
    simulator::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts")
}

/// A client for tests: fast retries, generous limits.
pub fn client(sim: &SimulatorHandle) -> CloudflareClient {
    let mut cfg = ClientConfig::with_api_url(&sim.url()).unwrap();
    cfg.retry = RetryPolicy {
        max_attempts: 30,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(100),
    };
    cfg.requests_per_5min = 1_000_000;
    cfg.logpull_requests_per_min = 1_000_000;
    cfg.logpull_requests_per_min_per_zone = 1_000_000;
    cfg.idle_body_timeout = Duration::from_secs(5);
    CloudflareClient::new(cfg).unwrap()
}

/// A whole minute a few minutes in the past (so every window is valid for the simulator).
pub fn pinned_now() -> DateTime<Utc> {
    let t = Utc::now() - chrono::Duration::minutes(3);
    DateTime::from_timestamp(t.timestamp() - t.timestamp().rem_euclid(60), 0).unwrap()
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .try_init();
}

pub fn logpull_requests(sim: &SimulatorHandle, zone: &str) -> Vec<simulator::RequestRecord> {
    let p = format!("/zones/{zone}/logs/received");
    sim.requests().into_iter().filter(|r| r.path == p).collect()
}

pub fn parse_t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}
