//! Issue 14 items 2 and 3: replicas of `cfship run` (the real binary) on one state index, against
//! the simulator with faults on, 6 sources (5 zones, 1 account), lease TTL 3 s. A, B and C started
//! at the same instant split the sources 2/2/2 (never two owners: a lease is one document); SIGKILL
//! C → A and B take its sources (3/3); D joins → 2/2/2 again; B is paused with SIGSTOP until A and D
//! have taken its sources over, then SIGCONT: B never moves a cursor back (every cursor only moves
//! forward, sampled throughout), logs the lost leases, and later gets its share back; `cfship
//! status` shows the replicas and owners; the simulator never saw more than a zone's 15 Logpull
//! requests in a minute; at the end Elasticsearch holds every record exactly once.

mod common;
use cfship_cloudflare::{LogpullCursor, SourceId};
use cfship_state::{CursorStore, EsStore};
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Each cursor document's owner while its lease is unexpired (`""` otherwise).
fn owners(es: &str, index: &str) -> BTreeMap<String, String> {
    refresh(es, index);
    let r: Value = http()
        .get(format!("{es}/{index}/_search?q=kind:cursor&size=100"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
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
fn counts(o: &BTreeMap<String, String>) -> BTreeMap<String, usize> {
    let mut c = BTreeMap::new();
    for v in o.values() {
        *c.entry(v.clone()).or_insert(0) += 1;
    }
    c
}

/// Waits until the `n` sources are owned by exactly `who`, `per` each; returns how long it took.
fn wait_spread(
    es: &str,
    index: &str,
    who: &[&str],
    n: usize,
    per: &[usize],
    logs: &[&std::path::Path],
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
            logs.iter()
                .map(|l| tail(l, 25))
                .collect::<Vec<_>>()
                .join("\n----\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn signal(child: &std::process::Child, sig: &str) {
    let st = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// Waits until the replica logging to `log` is running (started up, sources spawned).
fn wait_running(log: &std::path::Path) {
    let t = Instant::now();
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains("cfship running")
    {
        assert!(t.elapsed() < Duration::from_secs(60), "{}", tail(log, 30));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every cursor's position (`next_start` or `when`) as a string that sorts like the time.
fn positions(es: &str, index: &str) -> BTreeMap<String, String> {
    let r: Value = http()
        .get(format!("{es}/{index}/_search?q=kind:cursor&size=100"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    r["hits"]["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|h| {
            let c = &h["_source"]["cursor"];
            let p = c["next_start"].as_str().or(c["when"].as_str())?;
            let t = chrono::DateTime::parse_from_rfc3339(p).ok()?;
            Some((
                h["_id"].as_str()?.to_string(),
                format!("{:020}", t.timestamp_millis()),
            ))
        })
        .collect()
}

/// Polls the cursors for `d` (real-time gets through a search after a refresh) and asserts none
/// ever moves backwards from `seen`.
fn assert_forward_only(es: &str, index: &str, seen: &mut BTreeMap<String, String>, d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        refresh(es, index);
        for (k, p) in positions(es, index) {
            if let Some(old) = seen.get(&k) {
                assert!(p >= *old, "cursor {k} moved back: {old} -> {p}");
            }
            seen.insert(k, p);
        }
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// One observed version of a cursor document: `_version` (per document, +1 per write), owner,
/// lease expiry (Unix ms; 0 = released).
type Seen = (u64, Option<String>, u64);

/// Polls the cursor documents `keys` (one real-time `_mget` every 50 ms) until `stop`, recording
/// every new version of each.
fn watch_leases(
    es: String,
    index: String,
    keys: Vec<String>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<BTreeMap<String, Vec<Seen>>> {
    std::thread::spawn(move || {
        let mut h: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
        let c = http();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let r = c
                .post(format!("{es}/{index}/_mget"))
                .json(&serde_json::json!({ "ids": keys }))
                .send()
                .and_then(|r| r.json::<Value>());
            if let Ok(r) = r {
                for d in r["docs"].as_array().cloned().unwrap_or_default() {
                    let (Some(id), Some(v)) = (d["_id"].as_str(), d["_version"].as_u64()) else {
                        continue;
                    };
                    let owner = d["_source"]["owner"].as_str().map(str::to_string);
                    let exp = d["_source"]["lease_expires_unix_ms"].as_u64().unwrap_or(0);
                    let e = h.entry(id.to_string()).or_default();
                    if e.last().map(|l| l.0) != Some(v) {
                        e.push((v, owner, exp));
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
fn assert_one_owner_at_a_time(h: &BTreeMap<String, Vec<Seen>>, ttl_ms: u64) -> (usize, usize) {
    let mut checked = 0;
    for (k, seen) in h {
        for w in seen.windows(2) {
            let ((v1, o1, e1), (v2, o2, e2)) = (&w[0], &w[1]);
            if *v2 != v1 + 1 || o1 == o2 || o2.is_none() {
                continue;
            }
            checked += 1;
            if let Some(o1) = o1 {
                assert!(
                    *e1 == 0 || *e1 <= e2.saturating_sub(ttl_ms),
                    "{k}: {o1:?} still held the lease (until {e1}) when {o2:?} took it \
                     (version {v2}, until {e2}); history: {seen:?}"
                );
            }
        }
    }
    (checked, h.values().map(Vec::len).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_spread_rebalance_and_fence() {
    let Some(es) = engine_url("CFSHIP_ES8_URL", "replicas with leases") else {
        return;
    };
    let sim_cfg = sim_config(20261203, 5, 60, 90, faults_on());
    let sim = start_sim(sim_cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let ns = unique_ns("repl");
    let index = format!("cfship-state-{ns}");
    let yaml = TestConfig {
        api_url: sim.url(),
        sim: sim_cfg.clone(),
        state: state.clone(),
        es: Some((es.clone(), ns.clone())),
        file: None,
        interval: "2s",
        max_window: "15m",
        per_page: 25,
        metrics: "off".into(),
        token_expr: "${CFSHIP_E2E_TOKEN}".into(),
    }
    .yaml();
    let marker = format!("state:\n  dir: {}\n", state.display());
    let yaml = yaml.replace(
        &marker,
        &format!("{marker}  backend: elasticsearch\n  index: {index}\n  lease_ttl: 3s\n"),
    );
    let conf = dir.path().join("cfship.yml");
    std::fs::write(&conf, yaml).unwrap();
    let conf_s = conf.to_str().unwrap().to_string();
    let es_cfg = cfship_elasticsearch::EsConfig {
        hosts: vec![es.clone()],
        ..Default::default()
    };
    let t0 = floor(chrono::Utc::now() - chrono::Duration::minutes(30));
    let (es2, ix, sc, d) = (
        es.clone(),
        index.clone(),
        sim_cfg.clone(),
        dir.path().to_path_buf(),
    );
    let n = sim_cfg.zones.len() + sim_cfg.accounts.len();
    assert_eq!(n, 6);
    let started = Instant::now();
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(BIN)
            .args(["setup", "--config", &conf_s])
            .env("CFSHIP_E2E_TOKEN", TOKEN)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let store: CursorStore = EsStore::open(&es_cfg, &ix).unwrap().into();
        seed_cursors_in(&store, &sc, t0);
        let log = |r: &str| d.join(format!("{r}.log"));
        let (la, lb, lc, ld) = (log("a"), log("b"), log("c"), log("d"));
        let run = ["run", "--config", conf_s.as_str()];
        // three replicas at the same instant
        let start = |id: &str, l: &std::path::Path| spawn(&run, l, &[("CFSHIP_REPLICA_ID", id)]);
        // the lease documents' history, from before the start to the end
        let keys: Vec<String> = sc
            .zones
            .iter()
            .map(|z| {
                SourceId::Logpull {
                    zone_id: z.id.clone(),
                }
                .state_key()
            })
            .chain(sc.accounts.iter().map(|a| {
                SourceId::Audit {
                    account_id: a.id.clone(),
                }
                .state_key()
            }))
            .collect();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = watch_leases(es2.clone(), ix.clone(), keys, stop.clone());
        let (mut a, mut b, mut c) = (start("a", &la), start("b", &lb), start("c", &lc));
        for l in [&la, &lb, &lc] {
            wait_running(l);
        }
        // timed from the moment all three run (start-up itself takes seconds in a debug build)
        let spread = wait_spread(&es2, &ix, &["a", "b", "c"], n, &[2, 2, 2], &[&la, &lb, &lc]);
        let mut seen = BTreeMap::new();
        assert_forward_only(&es2, &ix, &mut seen, Duration::from_secs(4));
        let o = owners(&es2, &ix);
        assert_eq!(
            counts(&o).values().copied().collect::<Vec<_>>(),
            [2, 2, 2],
            "the spread did not hold (thrashing): {o:?}"
        );
        // SIGKILL C mid-run: A and B take its sources over
        c.kill().unwrap();
        let _ = c.wait();
        let takeover = wait_spread(&es2, &ix, &["a", "b"], n, &[3, 3], &[&la, &lb]);
        // D joins: rebalanced
        let mut dd = start("d", &ld);
        wait_running(&ld);
        let join = wait_spread(&es2, &ix, &["a", "b", "d"], n, &[2, 2, 2], &[&la, &lb, &ld]);
        assert_forward_only(&es2, &ix, &mut seen, Duration::from_secs(1));
        // SIGSTOP B until its sources are A's and D's; after SIGCONT it moves no cursor back
        signal(&b, "-STOP");
        let paused = wait_spread(&es2, &ix, &["a", "d"], n, &[3, 3], &[&la, &ld]);
        assert_forward_only(&es2, &ix, &mut seen, Duration::from_secs(1));
        signal(&b, "-CONT");
        assert_forward_only(&es2, &ix, &mut seen, Duration::from_secs(4));
        let blog = std::fs::read_to_string(&lb).unwrap();
        assert!(blog.contains("lease lost"), "{}", tail(&lb, 30));
        // B registers again and gets its share back
        let back = wait_spread(&es2, &ix, &["a", "b", "d"], n, &[2, 2, 2], &[&la, &lb, &ld]);
        // `cfship status` shows the replicas and the ownership from the state index
        let out = std::process::Command::new(BIN)
            .args(["status", "--config", &conf_s])
            .env("CFSHIP_E2E_TOKEN", TOKEN)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{text}");
        for r in ["a", "b", "d"] {
            let owned = text
                .lines()
                .filter(|l| l.contains(&format!(" {r} (lease until ")))
                .count();
            assert_eq!(owned, 2, "{r}: {text}");
        }
        assert!(
            text.contains("replicas holding leases: a, b, d\n"),
            "{text}"
        );
        // each source's last success (and, faults on, some source's last error) reported by its
        // owners (a source whose windows all failed so far has none yet: status asked again)
        let t = Instant::now();
        let (text, errors) = loop {
            let out = std::process::Command::new(BIN)
                .args(["status", "--config", &conf_s])
                .env("CFSHIP_E2E_TOKEN", TOKEN)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let mut rows: Vec<String> = sc
                .zones
                .iter()
                .map(|z| status_rows(&text, &format!("logpull zone {} ", z.id)).1)
                .collect();
            rows.push(status_rows(&text, "audit account ").1);
            if rows.iter().all(|r| r.starts_with("    last success 20")) {
                break (
                    text,
                    rows.iter().filter(|r| r.contains("last error 20")).count(),
                );
            }
            assert!(t.elapsed() < Duration::from_secs(60), "{text}");
            std::thread::sleep(Duration::from_millis(500));
        };
        assert!(
            errors > 0,
            "no Logpull error reported with faults on: {text}"
        );
        assert!(!text.contains(TOKEN), "{text}");
        // caught up
        let target = floor(chrono::Utc::now() - chrono::Duration::seconds(61));
        let t = Instant::now();
        loop {
            let done = sc.zones.iter().all(|z| {
                let k = SourceId::Logpull {
                    zone_id: z.id.clone(),
                }
                .state_key();
                matches!(store.load::<LogpullCursor>(&k), Ok(Some(c)) if c.next_start >= target)
            });
            if done {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(90), "{}", tail(&la, 40));
            std::thread::sleep(Duration::from_millis(300));
        }
        std::thread::sleep(Duration::from_secs(3));
        for (ch, l) in [(&mut a, &la), (&mut b, &lb), (&mut dd, &ld)] {
            sigterm(ch);
            let st = wait_for(ch, Duration::from_secs(90), "replica after SIGTERM", l);
            assert!(st.success(), "{}", tail(l, 30));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let history = watcher.join().unwrap();
        let (changes, versions) = assert_one_owner_at_a_time(&history, 3000);
        // the start-up takes, the take-overs after SIGKILL and SIGSTOP, the hand-overs
        assert!(changes >= 8, "{changes} owner changes seen: {history:?}");
        let (want_rays, want_audit) = ground_truth_in(&store, &sc, t0);
        assert!(
            want_rays.len() > 1000,
            "too little data: {}",
            want_rays.len()
        );
        let got_rays = all_values(
            &es2,
            &format!("logs-cloudflare.logpull-{ns}"),
            "cloudflare.ray_id",
        );
        let got_audit = all_values(&es2, &format!("logs-cloudflare.audit-{ns}"), "event.id");
        assert_same_ids("Logpull RayIDs in Elasticsearch", &got_rays, &want_rays);
        assert_same_ids("audit ids in Elasticsearch", &got_audit, &want_audit);
        let _ = http().delete(format!("{es2}/{ix}")).send();
        if let Ok(keep) = std::env::var("CFSHIP_E2E_KEEP_LOGS") {
            for l in [&la, &lb, &lc, &ld] {
                let _ = std::fs::copy(l, std::path::Path::new(&keep).join(l.file_name().unwrap()));
            }
        }
        eprintln!(
            "replicas: spread 2/2/2 in {spread:?}, SIGKILL take-over 3/3 in {takeover:?}, join \
             2/2/2 in {join:?}, SIGSTOP take-over in {paused:?}, back to 2/2/2 in {back:?}; \
             {changes} owner changes in {versions} lease document versions, never two owners; {} \
             Logpull + {} audit records exactly once",
            want_rays.len(),
            want_audit.len()
        );
    })
    .await
    .unwrap();
    let reqs = sim.requests();
    assert!(reqs.iter().any(|r| r.fault.is_some()));
    // the per-zone Logpull budget (15 a minute) held across owners and hand-overs
    for z in &sim_cfg.zones {
        let mut at: Vec<_> = reqs
            .iter()
            .filter(|r| r.path.contains(&z.id) && r.path.contains("logs/received"))
            .map(|r| r.at)
            .collect();
        at.sort();
        for (i, t) in at.iter().enumerate() {
            let in_minute = at[i..]
                .iter()
                .take_while(|u| **u < *t + chrono::Duration::seconds(60))
                .count();
            assert!(
                in_minute <= 15,
                "zone {}: {in_minute} requests in a minute",
                z.id
            );
        }
    }
    eprintln!(
        "replicas: {} Cloudflare requests in {:?}",
        reqs.len(),
        started.elapsed()
    );
}

/// The `cfship status` lines of `text` starting with `prefix`, and the indented report line under it.
fn status_rows(text: &str, prefix: &str) -> (String, String) {
    let mut it = text.lines().skip_while(|l| !l.starts_with(prefix));
    let row = it
        .next()
        .unwrap_or_else(|| panic!("no line {prefix}: {text}"));
    let report = it.next().unwrap_or_default();
    (row.to_string(), report.to_string())
}

/// Issue 14 item 4: `cfship status` shows each source's last success and last error from the state
/// index: a replica collecting a good zone and a zone Cloudflare does not know (HTTP 400, code 7003:
/// an error retrying cannot fix) writes both into the sources' report documents; status run from
/// elsewhere shows the good zone's last success and the bad zone's last error with its message, and
/// never the API token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_last_success_and_last_error() {
    let Some(es) = engine_url("CFSHIP_ES8_URL", "status of a failing source") else {
        return;
    };
    let sim_cfg = sim_config(20261204, 1, 30, 30, Default::default());
    let sim = start_sim(sim_cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let ns = unique_ns("replst");
    let index = format!("cfship-state-{ns}");
    let bad = "0badbadbadbadbadbadbadbadbad0bad";
    let yaml = TestConfig {
        api_url: sim.url(),
        sim: sim_cfg.clone(),
        state: state.clone(),
        es: Some((es.clone(), ns.clone())),
        file: None,
        interval: "2s",
        max_window: "15m",
        per_page: 25,
        metrics: "off".into(),
        token_expr: "${CFSHIP_E2E_TOKEN}".into(),
    }
    .yaml()
    .replace("  zones: [", &format!("  zones: [\"{bad}\", "));
    let marker = format!("state:\n  dir: {}\n", state.display());
    let yaml = yaml.replace(
        &marker,
        &format!("{marker}  backend: elasticsearch\n  index: {index}\n  lease_ttl: 3s\n"),
    );
    let conf = dir.path().join("cfship.yml");
    std::fs::write(&conf, yaml).unwrap();
    let conf_s = conf.to_str().unwrap().to_string();
    let (es2, ix, d, sc) = (
        es.clone(),
        index.clone(),
        dir.path().to_path_buf(),
        sim_cfg.clone(),
    );
    let good = sim_cfg.zones[0].id.clone();
    tokio::task::spawn_blocking(move || {
        let cmd = |args: &[&str]| {
            let out = std::process::Command::new(BIN)
                .args(args)
                .env("CFSHIP_E2E_TOKEN", TOKEN)
                .output()
                .unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(&out.stderr),
            )
        };
        let (ok, text) = cmd(&["setup", "--config", &conf_s]);
        assert!(ok, "{text}");
        assert!(text.contains("(format 3)"), "{text}");
        // the audit sweep starts 10 minutes back (one short sweep, then a success)
        let es_cfg = cfship_elasticsearch::EsConfig {
            hosts: vec![es2.clone()],
            ..Default::default()
        };
        let store: CursorStore = EsStore::open(&es_cfg, &ix).unwrap().into();
        seed_cursors_in(
            &store,
            &sc,
            floor(chrono::Utc::now() - chrono::Duration::minutes(10)),
        );
        let log = d.join("a.log");
        let mut a = spawn(
            &["run", "--config", &conf_s],
            &log,
            &[("CFSHIP_REPLICA_ID", "a")],
        );
        wait_running(&log);
        // both reports written (the good zone's success after a renewal, the bad zone's error
        // when it stopped)
        let t = Instant::now();
        let text = loop {
            let (ok, text) = cmd(&["status", "--config", &conf_s]);
            assert!(ok, "{text}");
            let (_, g) = status_rows(&text, &format!("logpull zone {good}"));
            let (_, b) = status_rows(&text, &format!("logpull zone {bad}"));
            let (_, acc) = status_rows(&text, "audit account ");
            if g.contains("last success 20")
                && b.contains("last error 20")
                && acc.contains("last success 20")
            {
                break text;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "{text}\n{}",
                tail(&log, 30)
            );
            std::thread::sleep(Duration::from_millis(500));
        };
        let (_, g) = status_rows(&text, &format!("logpull zone {good}"));
        assert!(
            g.starts_with("    last success 20") && g.contains("(by a); last error -"),
            "{g}"
        );
        let (_, b) = status_rows(&text, &format!("logpull zone {bad}"));
        assert!(
            b.starts_with("    last success -; last error 20") && b.contains("(by a): "),
            "{b}"
        );
        assert!(b.contains("HTTP 400") && b.contains("7003"), "{b}");
        let (_, acc) = status_rows(&text, "audit account ");
        assert!(acc.contains("last success 20"), "{acc}");
        assert!(
            !text.contains(TOKEN),
            "the token leaked into status: {text}"
        );
        sigterm(&a);
        let _ = wait_for(
            &mut a,
            Duration::from_secs(60),
            "replica after SIGTERM",
            &log,
        );
        let _ = http().delete(format!("{es2}/{ix}")).send();
    })
    .await
    .unwrap();
}

/// Issue 14 tests: a replica with a newer state format than another. A newer cfship's cursor
/// document (envelope version above ours) stops that source on the running older replica with an
/// error naming it — the document is never overwritten — while its other sources go on; a state
/// index set up by a newer cfship (`_meta.format` above ours) makes `run` refuse to start, and one
/// of an older format makes it ask for `cfship setup` (the migration).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_replica_refuses_a_newer_state_format() {
    let Some(es) = engine_url("CFSHIP_ES8_URL", "replicas of different state formats") else {
        return;
    };
    let sim_cfg = sim_config(20261205, 1, 30, 30, Default::default());
    let sim = start_sim(sim_cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let ns = unique_ns("replfmt");
    let index = format!("cfship-state-{ns}");
    let yaml = TestConfig {
        api_url: sim.url(),
        sim: sim_cfg.clone(),
        state: state.clone(),
        es: Some((es.clone(), ns.clone())),
        file: None,
        interval: "2s",
        max_window: "15m",
        per_page: 25,
        metrics: "off".into(),
        token_expr: "${CFSHIP_E2E_TOKEN}".into(),
    }
    .yaml();
    let marker = format!("state:\n  dir: {}\n", state.display());
    let yaml = yaml.replace(
        &marker,
        &format!("{marker}  backend: elasticsearch\n  index: {index}\n  lease_ttl: 3s\n"),
    );
    let conf = dir.path().join("cfship.yml");
    std::fs::write(&conf, yaml).unwrap();
    let conf_s = conf.to_str().unwrap().to_string();
    let (es2, ix, d, sc) = (
        es.clone(),
        index.clone(),
        dir.path().to_path_buf(),
        sim_cfg.clone(),
    );
    tokio::task::spawn_blocking(move || {
        let cmd = |args: &[&str]| {
            let out = std::process::Command::new(BIN)
                .args(args)
                .env("CFSHIP_E2E_TOKEN", TOKEN)
                .env("CFSHIP_REPLICA_ID", "b")
                .output()
                .unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (code, text) = cmd(&["setup", "--config", &conf_s]);
        assert_eq!(code, Some(0), "{text}");
        let es_cfg = cfship_elasticsearch::EsConfig {
            hosts: vec![es2.clone()],
            ..Default::default()
        };
        let store: CursorStore = EsStore::open(&es_cfg, &ix).unwrap().into();
        let t0 = floor(chrono::Utc::now() - chrono::Duration::minutes(20));
        seed_cursors_in(&store, &sc, t0);
        let zk = SourceId::Logpull {
            zone_id: sc.zones[0].id.clone(),
        }
        .state_key();
        let ak = SourceId::Audit {
            account_id: sc.accounts[0].id.clone(),
        }
        .state_key();
        let log = d.join("a.log");
        let mut a = spawn(
            &["run", "--config", &conf_s],
            &log,
            &[("CFSHIP_REPLICA_ID", "a")],
        );
        wait_running(&log);
        let t = Instant::now();
        while counts(&owners(&es2, &ix)).get("a") != Some(&2) {
            assert!(t.elapsed() < Duration::from_secs(30), "{}", tail(&log, 30));
            std::thread::sleep(Duration::from_millis(200));
        }
        // a newer cfship wrote the zone's cursor in its format (and its lease ran out)
        let newer = serde_json::json!({
            "version": cfship_state::FORMAT_VERSION + 1, "key": zk, "kind": "cursor",
            "saved_at_unix_ms": chrono::Utc::now().timestamp_millis(),
            "cursor": { "next_start": "2026-12-03T00:00:00Z", "shape": "of the future" },
            "owner": "newer", "lease_expires_unix_ms": 1,
        });
        let r = http()
            .put(format!("{es2}/{ix}/_doc/{zk}"))
            .json(&newer)
            .send()
            .unwrap();
        assert!(r.status().is_success());
        let doc = |k: &str| -> Value {
            http()
                .get(format!("{es2}/{ix}/_doc/{k}"))
                .send()
                .unwrap()
                .json()
                .unwrap()
        };
        let written = doc(&zk)["_version"].as_u64().unwrap();
        let t = Instant::now();
        loop {
            let l = std::fs::read_to_string(&log).unwrap_or_default();
            if l.lines()
                .any(|l| l.contains("source stopped") && l.contains("newer cfship"))
            {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "{}", tail(&log, 30));
            std::thread::sleep(Duration::from_millis(200));
        }
        // never overwritten; the audit source goes on under a's lease
        let audit_before = doc(&ak)["_version"].as_u64().unwrap();
        std::thread::sleep(Duration::from_secs(4));
        let z = doc(&zk);
        assert_eq!(z["_version"].as_u64(), Some(written), "{z}");
        assert_eq!(z["_source"], newer);
        let au = doc(&ak);
        assert!(au["_version"].as_u64().unwrap() > audit_before, "{au}");
        assert_eq!(au["_source"]["owner"], "a");
        assert!(a.try_wait().unwrap().is_none(), "{}", tail(&log, 30));

        // a state index of another format: `run` refuses to start (exit 1), naming what to do
        let set_format = |f: u32| {
            let r = http()
                .put(format!("{es2}/{ix}/_mapping"))
                .json(&serde_json::json!({ "_meta": { "managed_by": "cfship", "format": f } }))
                .send()
                .unwrap();
            assert!(r.status().is_success());
        };
        set_format(cfship_state::STATE_MAPPING_VERSION + 1);
        let (code, text) = cmd(&["run", "--config", &conf_s]);
        assert_eq!(code, Some(1), "{text}");
        assert!(text.contains("newer cfship"), "{text}");
        set_format(cfship_state::STATE_MAPPING_VERSION - 1);
        let (code, text) = cmd(&["run", "--config", &conf_s]);
        assert_eq!(code, Some(1), "{text}");
        assert!(
            text.contains("cfship setup") && text.contains("migrate"),
            "{text}"
        );
        // `setup` migrates it; the document of the newer format is still untouched
        let (code, text) = cmd(&["setup", "--config", &conf_s]);
        assert_eq!(code, Some(0), "{text}");
        assert_eq!(doc(&zk)["_version"].as_u64(), Some(written));
        sigterm(&a);
        let _ = wait_for(
            &mut a,
            Duration::from_secs(60),
            "replica after SIGTERM",
            &log,
        );
        let _ = http().delete(format!("{es2}/{ix}")).send();
    })
    .await
    .unwrap();
}
