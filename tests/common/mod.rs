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
/// The child is killed when an assertion fails.
pub fn catch_up_then_sigterm(
    child: impl Into<Killed>,
    state: &Path,
    cfg: &SimulatorConfig,
    log: &Path,
    limit: Duration,
) {
    let mut guard: Killed = child.into();
    let child = &mut guard.0;
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
    sigterm(child);
    let st = wait_for(
        child,
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
impl From<Child> for Killed {
    fn from(c: Child) -> Self {
        Killed(c)
    }
}
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

/// A free local address (`127.0.0.1:port`) for `metrics.listen`.
pub fn free_addr() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// Waits (at most `limit`) until `log` contains `needle`.
pub fn wait_log(log: &Path, needle: &str, limit: Duration) {
    let t = Instant::now();
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains(needle)
    {
        assert!(
            t.elapsed() < limit,
            "{needle:?} never logged; log:\n{}",
            tail(log, 30)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `cfship <args>` to its end: (exit code, stdout, stderr).
pub fn cfship(args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut c = Command::new(BIN);
    c.args(args).env("CFSHIP_E2E_TOKEN", TOKEN);
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = c.output().expect("cfship runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---- state in Elasticsearch, replicas -----------------------------------------------------------

/// `yaml` (of [`TestConfig::yaml`] with `state`) keeping its cursors in the Elasticsearch index
/// `index`, with leases of `lease_ttl` when given (replicas).
pub fn with_state_index(yaml: &str, state: &Path, index: &str, lease_ttl: Option<&str>) -> String {
    let marker = format!("state:\n  dir: {}\n", state.display());
    assert!(yaml.contains(&marker), "no state section in {yaml}");
    let ttl = lease_ttl
        .map(|t| format!("  lease_ttl: {t}\n"))
        .unwrap_or_default();
    yaml.replace(
        &marker,
        &format!("{marker}  backend: elasticsearch\n  index: {index}\n{ttl}"),
    )
}

/// The cursor store of the state index `index` on `es` (what the tests seed and read).
pub fn es_store(es: &str, index: &str) -> CursorStore {
    let cfg = cfship_elasticsearch::EsConfig {
        hosts: vec![es.to_string()],
        ..Default::default()
    };
    cfship_state::EsStore::open(&cfg, index)
        .expect("state index store")
        .into()
}

/// The state keys (cursor document ids) of every zone and account of `cfg`.
pub fn state_keys(cfg: &SimulatorConfig) -> Vec<String> {
    cfg.zones
        .iter()
        .map(|z| {
            SourceId::Logpull {
                zone_id: z.id.clone(),
            }
            .state_key()
        })
        .chain(cfg.accounts.iter().map(|a| {
            SourceId::Audit {
                account_id: a.id.clone(),
            }
            .state_key()
        }))
        .collect()
}

/// Waits (at most `limit`) until every Logpull cursor of `cfg` in `store` reached `target`.
pub fn wait_cursors(
    store: &CursorStore,
    cfg: &SimulatorConfig,
    target: DateTime<Utc>,
    limit: Duration,
    logs: &[&Path],
) {
    let t = Instant::now();
    loop {
        let done = cfg.zones.iter().all(|z| {
            let k = SourceId::Logpull {
                zone_id: z.id.clone(),
            }
            .state_key();
            matches!(store.load::<LogpullCursor>(&k), Ok(Some(c)) if c.next_start >= target)
        });
        if done {
            return;
        }
        assert!(
            t.elapsed() < limit,
            "not caught up to {target} within {limit:?}; logs:\n{}",
            tails(logs, 30)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The last `n` lines of each log, separated.
pub fn tails(logs: &[&Path], n: usize) -> String {
    logs.iter()
        .map(|l| format!("== {} ==\n{}", l.display(), tail(l, n)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each cursor document's owner while its lease is unexpired (`""` otherwise).
pub fn owners(es: &str, index: &str) -> std::collections::BTreeMap<String, String> {
    refresh(es, index);
    let r: Value = http()
        .get(format!("{es}/{index}/_search?q=kind:cursor&size=100"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let now = Utc::now().timestamp_millis();
    r["hits"]["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|h| {
            let live = h["_source"]["lease_expires_unix_ms"].as_i64().unwrap_or(0) > now;
            let o = h["_source"]["owner"]
                .as_str()
                .filter(|_| live)
                .unwrap_or("");
            (h["_id"].as_str().unwrap_or("").to_string(), o.to_string())
        })
        .collect()
}

/// Sources per owner (`""` = no live lease).
pub fn counts(
    o: &std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, usize> {
    let mut c = std::collections::BTreeMap::new();
    for v in o.values() {
        *c.entry(v.clone()).or_insert(0) += 1;
    }
    c
}

/// Waits until the `n` sources are owned by exactly `who`, `per` each; returns how long it took.
pub fn wait_spread(
    es: &str,
    index: &str,
    who: &[&str],
    n: usize,
    per: &[usize],
    logs: &[&Path],
) -> Duration {
    let t = Instant::now();
    loop {
        let o = owners(es, index);
        let c = counts(&o);
        let mut got: Vec<usize> = who
            .iter()
            .map(|w| c.get(*w).copied().unwrap_or(0))
            .collect();
        got.sort();
        let mut want = per.to_vec();
        want.sort();
        if o.len() == n && got == want && got.iter().sum::<usize>() == n {
            return t.elapsed();
        }
        assert!(
            t.elapsed() < Duration::from_secs(40),
            "sources not spread {per:?} over {who:?}: {c:?}; logs:\n{}",
            tails(logs, 25)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sends `sig` (e.g. "-STOP") to a child.
pub fn signal(child: &Child, sig: &str) {
    let st = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// One replica of `cfship run --config conf` with `CFSHIP_REPLICA_ID=id`, logging to `log`, killed
/// when dropped.
pub fn spawn_replica(conf: &Path, id: &str, log: &Path) -> Killed {
    Killed(spawn(
        &["run", "--config", conf.to_str().unwrap()],
        log,
        &[("CFSHIP_REPLICA_ID", id)],
    ))
}

/// SIGTERM to every replica; each must exit within 90 s, with 0 when `clean` (a replica with a
/// source stopped by an error exits 1).
pub fn stop_replicas(replicas: &mut [(&mut Killed, &Path)], clean: bool) {
    for (r, _) in replicas.iter() {
        sigterm(&r.0);
    }
    for (r, l) in replicas.iter_mut() {
        let st = wait_for(
            &mut r.0,
            Duration::from_secs(90),
            "replica after SIGTERM",
            l,
        );
        assert!(!clean || st.success(), "{st}; log:\n{}", tail(l, 30));
    }
}

// ---- a dedicated search engine ------------------------------------------------------------------

/// An own Elasticsearch 8 node of `scripts/search-engine.sh` (`--name`, `--port`), for tests that
/// stop and start it; stopped when dropped. Never one of the shared engines.
pub struct DedicatedEs {
    name: &'static str,
    port: u16,
}

impl DedicatedEs {
    /// Starts (or finds running) the instance; panics with the script's output when it fails.
    pub fn start(name: &'static str, port: u16) -> Self {
        assert!(
            ![9200, 9201, 9202].contains(&port),
            "the shared engines are never stopped by a test"
        );
        let es = DedicatedEs { name, port };
        es.up();
        es
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn script(&self, action: &str) -> (bool, String) {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/search-engine.sh");
        let port = self.port.to_string();
        let o = Command::new("bash")
            .args([path, action, "es8", "--name", self.name, "--port", &port])
            .output()
            .expect("run scripts/search-engine.sh");
        (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    }

    /// Starts the node (again) and waits for it to be healthy.
    pub fn up(&self) {
        let (ok, out) = self.script("start");
        assert!(ok, "Elasticsearch {} did not start:\n{out}", self.name);
    }

    /// Stops the node (SIGTERM, waits for the process to end).
    pub fn down(&self) {
        let (ok, out) = self.script("stop");
        assert!(ok, "Elasticsearch {} did not stop:\n{out}", self.name);
    }
}

impl DedicatedEs {
    /// The node's process id (its pid file).
    pub fn pid(&self) -> u32 {
        let work =
            std::env::var("CFSHIP_SEARCH_WORK").unwrap_or_else(|_| "/tmp/cfship-search".into());
        let f = format!("{work}/es8-{}/run/node.pid", self.name);
        std::fs::read_to_string(&f)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or_else(|| panic!("no pid in {f}"))
    }

    /// Freezes the node (SIGSTOP): connections are still accepted, requests get no answer.
    pub fn freeze(&self) {
        self.kill("-STOP");
    }

    /// Thaws a frozen node (SIGCONT).
    pub fn thaw(&self) {
        self.kill("-CONT");
    }

    fn kill(&self, sig: &str) {
        let st = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(st.success(), "kill {sig} of Elasticsearch {}", self.name);
    }
}

impl Drop for DedicatedEs {
    fn drop(&mut self) {
        // a frozen node would not stop
        let work =
            std::env::var("CFSHIP_SEARCH_WORK").unwrap_or_else(|_| "/tmp/cfship-search".into());
        if let Ok(pid) = std::fs::read_to_string(format!("{work}/es8-{}/run/node.pid", self.name)) {
            let _ = Command::new("kill").args(["-CONT", pid.trim()]).status();
        }
        let _ = self.script("stop");
    }
}

/// One observed version of a cursor document.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `_version` (per document, +1 per write; kept across an Elasticsearch restart).
    pub version: u64,
    pub owner: Option<String>,
    /// Lease expiry, Unix ms (0 = released).
    pub expires: u64,
    /// When the cursor was last saved (Unix ms).
    pub saved_at: u64,
    pub cursor: Value,
}

/// Polls the cursor documents `keys` (one real-time `_mget` every 50 ms; failures, e.g. while
/// Elasticsearch is down, are skipped) until `stop`, recording every new version of each.
pub fn watch_leases(
    es: String,
    index: String,
    keys: Vec<String>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<std::collections::BTreeMap<String, Vec<Seen>>> {
    std::thread::spawn(move || {
        let mut h: std::collections::BTreeMap<String, Vec<Seen>> = Default::default();
        let c = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let r = c
                .post(format!("{es}/{index}/_mget"))
                .json(&json!({ "ids": keys }))
                .send()
                .and_then(|r| r.json::<Value>());
            if let Ok(r) = r {
                for d in r["docs"].as_array().cloned().unwrap_or_default() {
                    let (Some(id), Some(v)) = (d["_id"].as_str(), d["_version"].as_u64()) else {
                        continue;
                    };
                    let s = &d["_source"];
                    let e = h.entry(id.to_string()).or_default();
                    if e.last().map(|l| l.version) != Some(v) {
                        e.push(Seen {
                            version: v,
                            owner: s["owner"].as_str().map(str::to_string),
                            expires: s["lease_expires_unix_ms"].as_u64().unwrap_or(0),
                            saved_at: s["saved_at_unix_ms"].as_u64().unwrap_or(0),
                            cursor: s["cursor"].clone(),
                        });
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        h
    })
}

/// Never two owners: in every pair of consecutive versions of a cursor document where the owner
/// changes from one replica to another, the previous lease was released (expiry 0) or had expired
/// when the new owner took it (the new expiry is the taker's now + TTL, so the old expiry is at most
/// new − TTL; one host, one clock). Returns (owner changes checked, versions seen).
pub fn assert_one_owner_at_a_time(
    h: &std::collections::BTreeMap<String, Vec<Seen>>,
    ttl_ms: u64,
) -> (usize, usize) {
    let mut checked = 0;
    for (k, seen) in h {
        for w in seen.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            if b.version != a.version + 1 || a.owner == b.owner || b.owner.is_none() {
                continue;
            }
            checked += 1;
            if let Some(o1) = &a.owner {
                assert!(
                    a.expires == 0 || a.expires <= b.expires.saturating_sub(ttl_ms),
                    "{k}: {o1:?} still held the lease (until {}) when {:?} took it (version {}, \
                     until {}); history: {seen:?}",
                    a.expires,
                    b.owner,
                    b.version,
                    b.expires
                );
            }
        }
    }
    (checked, h.values().map(Vec::len).sum())
}

/// No cursor moved without a lease: in every pair of consecutive versions of a cursor document
/// where the cursor changed, the writer was the owner named by the version before (fencing) and
/// that lease had not expired when the cursor was saved. Returns the cursor moves checked.
pub fn assert_cursor_moves_leased(h: &std::collections::BTreeMap<String, Vec<Seen>>) -> usize {
    let mut checked = 0;
    for (k, seen) in h {
        for w in seen.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            if b.version != a.version + 1 || a.cursor == b.cursor {
                continue;
            }
            checked += 1;
            assert!(
                b.owner.is_some() && a.owner == b.owner,
                "{k}: cursor moved by {:?} over a document owned by {:?} (version {}); history: \
                 {seen:?}",
                b.owner,
                a.owner,
                b.version
            );
            assert!(
                b.saved_at <= a.expires,
                "{k}: cursor saved at {} by {:?} after its lease expired at {} (version {}); \
                 history: {seen:?}",
                b.saved_at,
                b.owner,
                a.expires,
                b.version
            );
        }
    }
    checked
}

// ---- Cloudflare's rate limits as the simulator saw them -----------------------------------------

/// The most requests of `times` (sorted) in any window of `w`.
pub fn max_in_window(times: &[DateTime<Utc>], w: chrono::Duration) -> usize {
    let mut best = 0;
    let mut j = 0;
    for i in 0..times.len() {
        while j < times.len() && times[j] < times[i] + w {
            j += 1;
        }
        best = best.max(j - i);
    }
    best
}

/// What [`assert_cloudflare_budgets`] measured.
#[derive(Debug, Default)]
pub struct Budgets {
    /// Per zone: the most Logpull requests in any minute (budget 15).
    pub zone_per_min: std::collections::BTreeMap<String, usize>,
    /// Per user: requests in all, and the most in any 5 minutes (budget `requests_per_5min`).
    pub user_total: std::collections::BTreeMap<String, usize>,
    pub user_per_5min: std::collections::BTreeMap<String, usize>,
    /// Per user, for windows of 15, 30 and 60 s: (window s, most requests seen, the limiter's bound).
    pub user_windows: std::collections::BTreeMap<String, Vec<(i64, usize, f64)>>,
}

/// Asserts Cloudflare's budgets over every request the simulator answered: at most 15 Logpull
/// requests (`/zones/{id}/logs/received`) per zone in any minute, and per user (the credentials of
/// the request) at most `requests_per_5min` requests in any 5 minutes. A test runs for well under 5
/// minutes, so the user budget is also checked the way cfship's limiter spends it: a burst of 5% of
/// the budget and the rest spread evenly, so any window of `L` seconds holds at most
/// `5% · budget + budget · L / 300` requests (+ `slack`: requests recorded at their answer, not at
/// their send). Replicas that each spent a full budget instead of their share would exceed that.
pub fn assert_cloudflare_budgets(
    reqs: &[cfship_cloudflare_sim::RequestRecord],
    requests_per_5min: u32,
    slack: usize,
) -> Budgets {
    let mut b = Budgets::default();
    let mut zones: std::collections::BTreeMap<String, Vec<DateTime<Utc>>> = Default::default();
    let mut users: std::collections::BTreeMap<String, Vec<DateTime<Utc>>> = Default::default();
    for r in reqs {
        if let Some(z) = r
            .path
            .strip_prefix("/zones/")
            .and_then(|p| p.strip_suffix("/logs/received"))
        {
            zones.entry(z.to_string()).or_default().push(r.at);
        }
        if let Some(u) = &r.user {
            users.entry(u.clone()).or_default().push(r.at);
        }
    }
    for (z, mut at) in zones {
        at.sort();
        let m = max_in_window(&at, chrono::Duration::seconds(60));
        assert!(
            m <= 15,
            "zone {z}: {m} Logpull requests in a minute (budget 15)"
        );
        b.zone_per_min.insert(z, m);
    }
    let n = f64::from(requests_per_5min);
    for (u, mut at) in users {
        at.sort();
        let m = max_in_window(&at, chrono::Duration::seconds(300));
        assert!(
            m <= requests_per_5min as usize,
            "{u}: {m} requests in 5 minutes (budget {requests_per_5min})"
        );
        let mut ws = Vec::new();
        for l in [15i64, 30, 60] {
            let got = max_in_window(&at, chrono::Duration::seconds(l));
            let bound = (n * 0.05).max(1.0) + n * l as f64 / 300.0 + slack as f64;
            assert!(
                got as f64 <= bound,
                "{u}: {got} requests in {l} s, more than the budget's {bound:.1} \
                 ({requests_per_5min} per 5 min: 5% burst + an even rate)"
            );
            ws.push((l, got, bound));
        }
        b.user_total.insert(u.clone(), at.len());
        b.user_per_5min.insert(u.clone(), m);
        b.user_windows.insert(u, ws);
    }
    b
}

/// Writes `dir/cfship.yml` for replicas on the state index `index` of `es` (lease TTL 3 s, every
/// source every 2 s, windows of at most 15 min, data streams of namespace `ns` on `es`), after
/// `edit` changed the YAML; returns its path.
pub fn write_replica_config(
    dir: &Path,
    api_url: String,
    sim: &SimulatorConfig,
    es: &str,
    ns: &str,
    index: &str,
    edit: impl FnOnce(String) -> String,
) -> PathBuf {
    let state = dir.join("state");
    let yaml = TestConfig {
        api_url,
        sim: sim.clone(),
        state: state.clone(),
        es: Some((es.to_string(), ns.to_string())),
        file: None,
        interval: "2s",
        max_window: "15m",
        per_page: 25,
        metrics: "off".into(),
        token_expr: "${CFSHIP_E2E_TOKEN}".into(),
    }
    .yaml();
    let yaml = edit(with_state_index(&yaml, &state, index, Some("3s")));
    let conf = dir.join("cfship.yml");
    std::fs::write(&conf, yaml).unwrap();
    conf
}

/// A real S3 server (s3s-fs, bucket `logs`, under `dir`) and a Logpush bucket source of data
/// stream `ds` at `url` on it with the credentials `key`/`secret`, plus an object store to put
/// objects with: the set-up of the bucket tests.
pub struct TestBucket {
    pub s3: cfship_cloudflare_sim::s3s_fs::S3sFs,
    pub endpoint: String,
    pub config: cfship_logpush::BucketConfig,
    pub store: std::sync::Arc<dyn object_store::ObjectStore>,
}

impl TestBucket {
    pub fn start(
        bin: &Path,
        dir: &Path,
        url: &str,
        ds: &str,
        key: &str,
        secret: &str,
    ) -> TestBucket {
        let s3 = cfship_cloudflare_sim::s3s_fs::S3sFs::start(bin, dir, &["logs"], key, secret)
            .expect("start s3s-fs");
        let endpoint = s3.endpoint();
        let mut config = cfship_logpush::BucketConfig::new(
            url,
            cfship_logpush::datasets::find(ds).expect("data stream"),
        );
        config.endpoint = Some(endpoint.clone());
        config.access_key_id = Some(cfship_secret::Secret::new(key));
        config.secret_access_key = Some(cfship_secret::Secret::new(secret));
        let (store, _) = cfship_logpush::bucket::open_store(&config).expect("object store");
        TestBucket {
            s3,
            endpoint,
            config,
            store,
        }
    }
}

/// `n` Logpush `http_requests` records from number `from`, one NDJSON line each, RayID
/// `<tag><12 hex digits>` (so each test's records are its own): what the bucket tests' objects hold.
pub fn http_request_lines(tag: &str, from: usize, n: usize) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    for i in from..from + n {
        let _ = writeln!(
            out,
            r#"{{"ClientIP":"198.51.100.{}","ClientRequestHost":"example.com","ClientRequestURI":"/{tag}/{i}","EdgeResponseStatus":200,"EdgeStartTimestamp":"2026-12-01T00:00:{:02}Z","RayID":"{tag}{i:012x}"}}"#,
            i % 250,
            i % 60
        );
    }
    out
}
