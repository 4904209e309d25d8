//! Helpers of the end-to-end tests: real Elasticsearch from the environment, the simulator
//! in-process, the `cfship` binary as a child process.
#![allow(dead_code)]

use cfship_cloudflare::{AuditCursor, LogpullCursor, SourceId};
use cfship_cloudflare_sim::{
    self as simulator, Faults, SimAccount, SimCredentials, SimZone, SimulatorConfig,
};
use cfship_state::CursorStore;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_cfship");
pub const TOKEN: &str = "e2e-sim-token-7f3a9c";

/// The URL of a real search engine from `var`; `None` (after a loud SKIPPED line) when unset,
/// except under `CI=true` where a missing engine fails the test.
pub fn engine_url(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) if !u.trim().is_empty() => Some(u.trim().trim_end_matches('/').to_string()),
        _ => {
            if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
                panic!("{test}: {var} is not set and CI=true: start it with scripts/search-engine.sh and export {var}");
            }
            eprintln!("\n*** SKIPPED: {test}: {var} is not set (start one with scripts/search-engine.sh start es8) ***\n");
            None
        }
    }
}

/// A unique lowercase namespace for one test run.
pub fn unique_ns(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}{}{}", std::process::id(), n % 1_000_000_000)
}

/// Simulator: `zones` zones, one account, faults as given.
pub fn sim_config(
    seed: u64,
    zones: usize,
    rpm: u32,
    audit_per_hour: u32,
    faults: Faults,
) -> SimulatorConfig {
    SimulatorConfig {
        seed,
        zones: (0..zones)
            .map(|i| SimZone {
                id: format!("{:032x}", 0xe2e0_0000u64 + i as u64),
                retention_enabled: true,
                records_per_minute: rpm,
                bot_management: false,
            })
            .collect(),
        accounts: vec![SimAccount {
            id: "e2e0000000000000000000000000acc1".into(),
            events_per_hour: audit_per_hour,
        }],
        credentials: SimCredentials {
            tokens: vec![TOKEN.into()],
            keys: vec![],
        },
        faults,
        ..Default::default()
    }
}

pub async fn start_sim(cfg: SimulatorConfig) -> simulator::SimulatorHandle {
    simulator::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts")
}

/// Whole seconds.
pub fn floor(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap()
}

/// Writes cursors so that every source starts at `t0` (the ground truth's start).
pub fn seed_cursors(state: &Path, cfg: &SimulatorConfig, t0: DateTime<Utc>) {
    seed_cursors_in(&CursorStore::open(state).unwrap(), cfg, t0)
}

/// [`seed_cursors`] into any cursor store (e.g. the Elasticsearch backend).
pub fn seed_cursors_in(store: &CursorStore, cfg: &SimulatorConfig, t0: DateTime<Utc>) {
    for z in &cfg.zones {
        let k = SourceId::Logpull {
            zone_id: z.id.clone(),
        }
        .state_key();
        store.save(&k, &LogpullCursor { next_start: t0 }).unwrap();
    }
    for a in &cfg.accounts {
        let k = SourceId::Audit {
            account_id: a.id.clone(),
        }
        .state_key();
        store
            .save(
                &k,
                &AuditCursor {
                    when: t0,
                    ids: BTreeSet::new(),
                },
            )
            .unwrap();
    }
}

/// Ground truth from `t0` to the saved cursors: (ray ids, audit ids), sorted.
pub fn ground_truth(
    state: &Path,
    cfg: &SimulatorConfig,
    t0: DateTime<Utc>,
) -> (Vec<String>, Vec<String>) {
    ground_truth_in(&CursorStore::open(state).unwrap(), cfg, t0)
}

/// [`ground_truth`] from any cursor store.
pub fn ground_truth_in(
    store: &CursorStore,
    cfg: &SimulatorConfig,
    t0: DateTime<Utc>,
) -> (Vec<String>, Vec<String>) {
    let mut rays = Vec::new();
    for z in &cfg.zones {
        let k = SourceId::Logpull {
            zone_id: z.id.clone(),
        }
        .state_key();
        let c: LogpullCursor = store.load(&k).unwrap().expect("logpull cursor");
        assert!(c.next_start > t0, "zone {} made no progress", z.id);
        rays.extend(simulator::expected_logpull_ray_ids(
            cfg,
            &z.id,
            t0,
            c.next_start,
        ));
    }
    let mut audits = Vec::new();
    for a in &cfg.accounts {
        let k = SourceId::Audit {
            account_id: a.id.clone(),
        }
        .state_key();
        let c: AuditCursor = store.load(&k).unwrap().expect("audit cursor");
        audits.extend(simulator::expected_audit_ids(
            cfg,
            &a.id,
            t0,
            c.when + chrono::Duration::microseconds(1),
        ));
    }
    rays.sort();
    audits.sort();
    (rays, audits)
}

/// The config file of a test.
pub struct TestConfig {
    pub api_url: String,
    pub sim: SimulatorConfig,
    pub state: PathBuf,
    pub es: Option<(String, String)>,
    pub file: Option<PathBuf>,
    pub interval: &'static str,
    pub max_window: &'static str,
    pub per_page: u32,
    pub metrics: String,
    pub token_expr: String,
}

impl TestConfig {
    pub fn yaml(&self) -> String {
        let zones: Vec<String> = self
            .sim
            .zones
            .iter()
            .map(|z| format!("\"{}\"", z.id))
            .collect();
        let accounts: Vec<String> = self
            .sim
            .accounts
            .iter()
            .map(|a| format!("\"{}\"", a.id))
            .collect();
        let mut y = format!(
            "cloudflare:\n  api_url: {}\n  api_token: {}\naudit:\n  accounts: [{}]\n  interval: {}\n  per_page: {}\nlogpull:\n  zones: [{}]\n  interval: {}\n  max_window: {}\nstate:\n  dir: {}\nmetrics:\n  listen: \"{}\"\n",
            self.api_url,
            self.token_expr,
            accounts.join(", "),
            self.interval,
            self.per_page,
            zones.join(", "),
            self.interval,
            self.max_window,
            self.state.display(),
            self.metrics,
        );
        if let Some((url, ns)) = &self.es {
            y.push_str(&format!(
                "elasticsearch:\n  hosts: [\"{url}\"]\n  namespace: {ns}\n  dead_letter_path: {}\n",
                self.state.join("dead-letter.ndjson").display()
            ));
        }
        if let Some(f) = &self.file {
            y.push_str(&format!("file:\n  path: {}\n", f.display()));
        }
        y
    }

    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.yaml()).unwrap();
    }
}

/// Starts `cfship <args>` with stderr appended to `log`.
pub fn spawn(args: &[&str], log: &Path, envs: &[(&str, &str)]) -> Child {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut c = Command::new(BIN);
    c.args(args)
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .env("CFSHIP_E2E_TOKEN", TOKEN)
        .env("RUST_LOG", "info");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.spawn().expect("cfship starts")
}

/// Waits for a child at most `limit`; kills it and panics on timeout.
pub fn wait_for(
    child: &mut Child,
    limit: Duration,
    what: &str,
    log: &Path,
) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} did not finish within {limit:?}; log:\n{}",
                tail(log, 60)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn tail(log: &Path, n: usize) -> String {
    let t = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = t.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub fn sigterm(child: &Child) {
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// A small deterministic PRNG (xorshift) for random moments.
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn range_ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo))
    }
}

// ---- Elasticsearch ------------------------------------------------------------------------------

pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

pub fn refresh(es: &str, index: &str) {
    let _ = http().post(format!("{es}/{index}/_refresh")).send();
}

/// Every value of `field` (a keyword) over all documents of `index`, with multiplicity, sorted.
pub fn all_values(es: &str, index: &str, field: &str) -> Vec<String> {
    refresh(es, index);
    let c = http();
    let r = c
        .post(format!("{es}/{index}/_search?scroll=2m"))
        .json(&json!({"size": 5000, "_source": [field], "query": {"match_all": {}}}))
        .send()
        .unwrap();
    if r.status().as_u16() == 404 {
        return Vec::new();
    }
    let mut body: Value = r.json().unwrap();
    let mut out = Vec::new();
    loop {
        let hits = body["hits"]["hits"].as_array().cloned().unwrap_or_default();
        if hits.is_empty() {
            break;
        }
        for h in hits {
            let mut v = &h["_source"];
            for k in field.split('.') {
                v = &v[k];
            }
            out.push(match v {
                Value::String(s) => s.clone(),
                Value::Null => "<missing>".to_string(),
                other => other.to_string(),
            });
        }
        let sid = body["_scroll_id"].as_str().unwrap_or_default().to_string();
        body = c
            .post(format!("{es}/_search/scroll"))
            .json(&json!({"scroll": "2m", "scroll_id": sid}))
            .send()
            .unwrap()
            .json()
            .unwrap();
    }
    out.sort();
    out
}

pub fn count(es: &str, index: &str, q: &str) -> u64 {
    refresh(es, index);
    let r: Value = http()
        .get(format!("{es}/{index}/_count"))
        .query(&[("q", q)])
        .send()
        .unwrap()
        .json()
        .unwrap();
    r["count"].as_u64().unwrap_or(0)
}

/// Values of `field` in an NDJSON file, sorted.
pub fn file_values(path: &Path, field: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out: Vec<String> = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("bad line in {}: {e}: {l}", path.display()));
            let mut x = &v;
            for k in field.split('.') {
                x = &x[k];
            }
            x.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| x.to_string())
        })
        .collect();
    out.sort();
    out
}

/// Asserts that `got` is exactly `want` (both sorted), with a readable diff summary.
pub fn assert_same_ids(what: &str, got: &[String], want: &[String]) {
    if got == want {
        return;
    }
    let g: BTreeSet<&String> = got.iter().collect();
    let w: BTreeSet<&String> = want.iter().collect();
    let missing: Vec<_> = w.difference(&g).take(5).collect();
    let extra: Vec<_> = g.difference(&w).take(5).collect();
    let dups = got.len() - g.len();
    panic!(
        "{what}: got {} ids ({} distinct, {dups} duplicates), want {}; missing e.g. {missing:?}, unexpected e.g. {extra:?}",
        got.len(),
        g.len(),
        want.len()
    );
}

pub fn faults_on() -> Faults {
    Faults {
        rate_429: 0.05,
        retry_after_secs: 1,
        rate_5xx: 0.08,
        rate_truncated: 0.08,
        rate_error_trailer: 0.08,
        rate_slow: 0.1,
        slow_ms: 400,
        ..Default::default()
    }
}

/// Runs the daemon until every Logpull cursor has reached (now − 61s) as of the call and the audit
/// cursors exist, then stops it with SIGTERM and expects exit code 0. (`run --once` is not used to
/// finish: with faults on it can keep chasing "now"; see the final report.)
pub fn finish_with_daemon(
    conf: &Path,
    state: &Path,
    cfg: &SimulatorConfig,
    log: &Path,
    limit: Duration,
) {
    let child = spawn(&["run", "--config", conf.to_str().unwrap()], log, &[]);
    catch_up_then_sigterm(child, state, cfg, log, limit);
}

/// Waits until every Logpull cursor reached (now − 61s) as of the call, then SIGTERM; expects exit 0.
pub fn catch_up_then_sigterm(
    mut child: Child,
    state: &Path,
    cfg: &SimulatorConfig,
    log: &Path,
    limit: Duration,
) {
    let target = floor(Utc::now() - chrono::Duration::seconds(61));
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            panic!("cfship run exited early ({s}); log:\n{}", tail(log, 40));
        }
        let store = CursorStore::open(state).unwrap();
        let lp_done = cfg.zones.iter().all(|z| {
            let k = SourceId::Logpull {
                zone_id: z.id.clone(),
            }
            .state_key();
            matches!(store.load::<LogpullCursor>(&k), Ok(Some(c)) if c.next_start >= target)
        });
        if lp_done {
            break;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!(
                "cfship did not catch up within {limit:?}; log:\n{}",
                tail(log, 40)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // one more audit sweep
    std::thread::sleep(Duration::from_secs(3));
    sigterm(&child);
    let st = wait_for(
        &mut child,
        Duration::from_secs(90),
        "cfship run after SIGTERM",
        log,
    );
    assert!(
        st.success(),
        "cfship run did not exit 0 after SIGTERM ({st}); log:\n{}",
        tail(log, 40)
    );
}

/// Spawns `cfship run …` and returns once it logged "cfship running" (collectors started; the
/// startup — Elasticsearch connection, templates, user-agent regexes — is over).
pub fn spawn_running(args: &[&str], log: &Path, envs: &[(&str, &str)]) -> Child {
    let before = std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches("cfship running")
        .count();
    let mut child = spawn(args, log, envs);
    let t = Instant::now();
    loop {
        let n = std::fs::read_to_string(log)
            .unwrap_or_default()
            .matches("cfship running")
            .count();
        if n > before {
            return child;
        }
        if let Some(s) = child.try_wait().unwrap() {
            panic!(
                "cfship exited during startup ({s}); log:\n{}",
                tail(log, 30)
            );
        }
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "cfship did not start; log:\n{}",
            tail(log, 30)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A free TCP port on 127.0.0.1 (bound, read and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// A child process killed (SIGKILL) and reaped when dropped, so a failing test leaves no daemon.
pub struct Killed(pub Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `b` gzipped (fast level), as Cloudflare's pusher sends a batch.
pub fn gz(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).expect("gzip");
    e.finish().expect("gzip")
}
