//! Issue 14 items 2 and 3: replicas of `cfship run` (the real binary) on one state index, against
//! the simulator with faults on, 6 sources (5 zones, 1 account), lease TTL 3 s. A, B and C started
//! at the same instant split the sources 2/2/2 (never two owners: a lease is one document); SIGKILL
//! C → A and B take its sources (3/3); D joins → 2/2/2 again; B is paused with SIGSTOP until A and D
//! have taken its sources over, then SIGCONT: B never moves a cursor back (every cursor only moves
//! forward, sampled throughout), logs the lost leases, and later gets its share back; `cfship
//! status` shows the replicas and owners; the simulator never saw more than a zone's 15 Logpull
//! requests in a minute; at the end Elasticsearch holds every record exactly once.

mod common;
use cfship_cloudflare::SourceId;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_spread_rebalance_and_fence() {
    let Some(es) = engine_url("CFSHIP_ES8_URL", "replicas with leases") else {
        return;
    };
    let sim_cfg = sim_config(20261203, 5, 60, 90, faults_on());
    let sim = start_sim(sim_cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let ns = unique_ns("repl");
    let index = format!("cfship-state-{ns}");
    let conf = write_replica_config(dir.path(), sim.url(), &sim_cfg, &es, &ns, &index, |y| y);
    let conf_s = conf.to_str().unwrap().to_string();
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
        let (code, out, err) = cfship(&["setup", "--config", &conf_s], &[]);
        assert_eq!(code, Some(0), "{out}{err}");
        let store = es_store(&es2, &ix);
        seed_cursors_in(&store, &sc, t0);
        let log = |r: &str| d.join(format!("{r}.log"));
        let (la, lb, lc, ld) = (log("a"), log("b"), log("c"), log("d"));
        // three replicas at the same instant (each killed if an assert fails)
        let start = |id: &str, l: &std::path::Path| spawn_replica(&conf, id, l);
        // the lease documents' history, from before the start to the end
        let keys = state_keys(&sc);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = watch_leases(es2.clone(), ix.clone(), keys, stop.clone());
        let (mut a, mut b, mut c) = (start("a", &la), start("b", &lb), start("c", &lc));
        for l in [&la, &lb, &lc] {
            wait_log(l, "cfship running", Duration::from_secs(60));
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
        c.0.kill().unwrap();
        let _ = c.0.wait();
        let takeover = wait_spread(&es2, &ix, &["a", "b"], n, &[3, 3], &[&la, &lb]);
        // D joins: rebalanced
        let mut dd = start("d", &ld);
        wait_log(&ld, "cfship running", Duration::from_secs(60));
        let join = wait_spread(&es2, &ix, &["a", "b", "d"], n, &[2, 2, 2], &[&la, &lb, &ld]);
        assert_forward_only(&es2, &ix, &mut seen, Duration::from_secs(1));
        // SIGSTOP B until its sources are A's and D's; after SIGCONT it moves no cursor back
        signal(&b.0, "-STOP");
        let paused = wait_spread(&es2, &ix, &["a", "d"], n, &[3, 3], &[&la, &ld]);
        assert_forward_only(&es2, &ix, &mut seen, Duration::from_secs(1));
        signal(&b.0, "-CONT");
        assert_forward_only(&es2, &ix, &mut seen, Duration::from_secs(4));
        let blog = std::fs::read_to_string(&lb).unwrap();
        assert!(blog.contains("lease lost"), "{}", tail(&lb, 30));
        // B registers again and gets its share back
        let back = wait_spread(&es2, &ix, &["a", "b", "d"], n, &[2, 2, 2], &[&la, &lb, &ld]);
        // `cfship status` shows the replicas and the ownership from the state index
        let (code, text, _) = cfship(&["status", "--config", &conf_s], &[]);
        assert_eq!(code, Some(0), "{text}");
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
            let (_, text, _) = cfship(&["status", "--config", &conf_s], &[]);
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
        wait_cursors(
            &store,
            &sc,
            target,
            Duration::from_secs(90),
            &[&la, &lb, &ld],
        );
        std::thread::sleep(Duration::from_secs(3));
        stop_replicas(&mut [(&mut a, &la), (&mut b, &lb), (&mut dd, &ld)], true);
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
    // the per-zone Logpull budget (15 a minute) held across owners and hand-overs, and the
    // per-user one (the default 1200 per 5 minutes)
    let budgets = assert_cloudflare_budgets(&reqs, 1200, 3);
    assert_eq!(
        budgets.zone_per_min.len(),
        sim_cfg.zones.len(),
        "{budgets:?}"
    );
    eprintln!(
        "replicas: {} Cloudflare requests in {:?}; {budgets:?}",
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
    let ns = unique_ns("replst");
    let index = format!("cfship-state-{ns}");
    let bad = "0badbadbadbadbadbadbadbadbad0bad";
    let conf = write_replica_config(dir.path(), sim.url(), &sim_cfg, &es, &ns, &index, |y| {
        y.replace("  zones: [", &format!("  zones: [\"{bad}\", "))
    });
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
            let (code, out, err) = cfship(args, &[]);
            (code == Some(0), out + &err)
        };
        let (ok, text) = cmd(&["setup", "--config", &conf_s]);
        assert!(ok, "{text}");
        assert!(text.contains("(format 3)"), "{text}");
        // the audit sweep starts 10 minutes back (one short sweep, then a success)
        seed_cursors_in(
            &es_store(&es2, &ix),
            &sc,
            floor(chrono::Utc::now() - chrono::Duration::minutes(10)),
        );
        let log = d.join("a.log");
        let mut a = spawn_replica(&conf, "a", &log);
        wait_log(&log, "cfship running", Duration::from_secs(60));
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
        stop_replicas(&mut [(&mut a, &log)], false);
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
    let ns = unique_ns("replfmt");
    let index = format!("cfship-state-{ns}");
    let conf = write_replica_config(dir.path(), sim.url(), &sim_cfg, &es, &ns, &index, |y| y);
    let conf_s = conf.to_str().unwrap().to_string();
    let (es2, ix, d, sc) = (
        es.clone(),
        index.clone(),
        dir.path().to_path_buf(),
        sim_cfg.clone(),
    );
    tokio::task::spawn_blocking(move || {
        let cmd = |args: &[&str]| {
            let (code, _, err) = cfship(args, &[("CFSHIP_REPLICA_ID", "b")]);
            (code, err)
        };
        let (code, text) = cmd(&["setup", "--config", &conf_s]);
        assert_eq!(code, Some(0), "{text}");
        let store = es_store(&es2, &ix);
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
        let mut a = spawn_replica(&conf, "a", &log);
        wait_log(&log, "cfship running", Duration::from_secs(60));
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
        assert!(a.0.try_wait().unwrap().is_none(), "{}", tail(&log, 30));

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
        stop_replicas(&mut [(&mut a, &log)], false);
        let _ = http().delete(format!("{es2}/{ix}")).send();
    })
    .await
    .unwrap();
}
