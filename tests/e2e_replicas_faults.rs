//! Issue 14 tests of replicas against their environment, with the real binary, real Elasticsearch
//! and the simulator (lease TTL 3 s, 6 sources: 5 zones and 1 account, 3 replicas):
//!
//! * the Cloudflare rate limit: three replicas together stay within one user's budget (a small
//!   `cloudflare.requests_per_5min`, so the budget binds within seconds) and each zone's 15
//!   Logpull requests per minute, as the simulator counted them per user and per zone;
//! * Elasticsearch frozen (SIGSTOP: requests hang), then stopped, while the replicas collect: each
//!   time every replica stops its sources before its leases can expire (the simulator sees no
//!   request from then until Elasticsearch is back), they take the leases again afterwards, no
//!   cursor ever moved without its lease, and Elasticsearch ends with every record of the range
//!   exactly once.
//!
//! The two tests run one after the other (each runs three replicas on two cores).

mod common;
use cfship_cloudflare_sim::Faults;
use common::*;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The lease TTL of [`write_replica_config`].
const TTL: Duration = Duration::from_secs(3);

/// `cloudflare.requests_per_5min` of the rate-limit test: 0.57 requests a second for the three
/// replicas together, well below what 5 zones an hour behind in one-minute windows ask for (14 a
/// minute each, the per-zone budget), so the user budget is what limits them.
const USER_BUDGET: u32 = 180;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_stay_within_the_cloudflare_budgets() {
    let _serial = SERIAL.lock().await;
    let Some(es) = engine_url("CFSHIP_ES8_URL", "replicas sharing the Cloudflare budget") else {
        return;
    };
    let sim_cfg = sim_config(20261206, 5, 60, 60, Faults::default());
    let sim = start_sim(sim_cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let ns = unique_ns("replrate");
    let index = format!("cfship-state-{ns}");
    let conf = write_replica_config(dir.path(), sim.url(), &sim_cfg, &es, &ns, &index, |y| {
        // one-minute windows: an hour behind, every zone has 60 windows to ask for
        y.replace(
            "cloudflare:\n",
            &format!("cloudflare:\n  requests_per_5min: {USER_BUDGET}\n"),
        )
        .replace("max_window: 15m", "max_window: 1m")
    });
    let (es2, ix, sc, d) = (
        es.clone(),
        index.clone(),
        sim_cfg.clone(),
        dir.path().to_path_buf(),
    );
    let t0 = floor(chrono::Utc::now() - chrono::Duration::minutes(60));
    let n = state_keys(&sim_cfg).len();
    let (want, got) = tokio::task::spawn_blocking(move || {
        let conf_s = conf.to_str().unwrap();
        let (code, out, err) = cfship(&["setup", "--config", conf_s], &[]);
        assert_eq!(code, Some(0), "{out}{err}");
        let store = es_store(&es2, &ix);
        seed_cursors_in(&store, &sc, t0);
        let (la, lb, lc) = (d.join("a.log"), d.join("b.log"), d.join("c.log"));
        let mut a = spawn_replica(&conf, "a", &la);
        let mut b = spawn_replica(&conf, "b", &lb);
        let mut c = spawn_replica(&conf, "c", &lc);
        let logs = [la.as_path(), lb.as_path(), lc.as_path()];
        for l in logs {
            wait_log(l, "cfship running", Duration::from_secs(60));
        }
        wait_spread(&es2, &ix, &["a", "b", "c"], n, &[2, 2, 2], &logs);
        // collect for a while under the shared budget (the assertions are on what the simulator
        // saw in any window, not on how long anything took)
        std::thread::sleep(Duration::from_secs(30));
        stop_replicas(&mut [(&mut a, &la), (&mut b, &lb), (&mut c, &lc)], true);
        for l in logs {
            let text = std::fs::read_to_string(l).unwrap_or_default();
            assert!(text.contains("lease taken"), "{}", tail(l, 30));
        }
        // whatever was collected is in Elasticsearch exactly once
        let (want, _) = ground_truth_in(&store, &sc, t0);
        let got = all_values(
            &es2,
            &format!("logs-cloudflare.logpull-{ns}"),
            "cloudflare.ray_id",
        );
        let _ = http().delete(format!("{es2}/{ix}")).send();
        (want, got)
    })
    .await
    .unwrap();
    assert_same_ids("Logpull RayIDs in Elasticsearch", &got, &want);
    let reqs = sim.requests();
    let budgets = assert_cloudflare_budgets(&reqs, USER_BUDGET, 3);
    assert_eq!(
        budgets.user_total.keys().collect::<Vec<_>>(),
        ["token #0"],
        "every request under the one configured token: {budgets:?}"
    );
    assert_eq!(budgets.zone_per_min.len(), 5, "{budgets:?}");
    eprintln!(
        "rate limit, 3 replicas, budget {USER_BUDGET}/5 min: {} Logpull records; {budgets:?}",
        want.len()
    );
}

/// The dedicated Elasticsearch node of the restart test (never one of the shared engines).
const RESTART_NODE: &str = "replicas";
const RESTART_PORT: u16 = 9295;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_stop_before_their_leases_expire_while_elasticsearch_is_down() {
    let _serial = SERIAL.lock().await;
    // needs the engines of scripts/search-engine.sh, as the other real-engine tests do
    if engine_url(
        "CFSHIP_ES8_URL",
        "replicas through an Elasticsearch restart",
    )
    .is_none()
    {
        return;
    }
    let started = Instant::now();
    let node = Arc::new(
        tokio::task::spawn_blocking(|| DedicatedEs::start(RESTART_NODE, RESTART_PORT))
            .await
            .unwrap(),
    );
    let es = node.url();
    let sim_cfg = sim_config(20261207, 5, 60, 60, Faults::default());
    let sim = Arc::new(start_sim(sim_cfg.clone()).await);
    let dir = tempfile::tempdir().unwrap();
    let ns = unique_ns("replrestart");
    let index = format!("cfship-state-{ns}");
    let conf = write_replica_config(dir.path(), sim.url(), &sim_cfg, &es, &ns, &index, |y| y);
    let (es2, ix, sc, d, sim2) = (
        es.clone(),
        index.clone(),
        sim_cfg.clone(),
        dir.path().to_path_buf(),
        sim.clone(),
    );
    let t0 = floor(chrono::Utc::now() - chrono::Duration::minutes(40));
    let n = state_keys(&sim_cfg).len();
    tokio::task::spawn_blocking(move || {
        let conf_s = conf.to_str().unwrap();
        let (code, out, err) = cfship(&["setup", "--config", conf_s], &[]);
        assert_eq!(code, Some(0), "{out}{err}");
        let store = es_store(&es2, &ix);
        seed_cursors_in(&store, &sc, t0);
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = watch_leases(es2.clone(), ix.clone(), state_keys(&sc), stop.clone());
        let (la, lb, lc) = (d.join("a.log"), d.join("b.log"), d.join("c.log"));
        let mut a = spawn_replica(&conf, "a", &la);
        let mut b = spawn_replica(&conf, "b", &lb);
        let mut c = spawn_replica(&conf, "c", &lc);
        let logs = [la.as_path(), lb.as_path(), lc.as_path()];
        for l in logs {
            wait_log(l, "cfship running", Duration::from_secs(60));
        }
        wait_spread(&es2, &ix, &["a", "b", "c"], n, &[2, 2, 2], &logs);
        let t = Instant::now();
        while count(&es2, &format!("logs-cloudflare.logpull-{ns}"), "*") == 0 {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "{}",
                tails(&logs, 20)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let stopping = "stopping the source before the lease can expire";
        // every replica gives its sources up (two each) when it cannot renew
        let all_stopped = |before: &[usize]| {
            for (l, b) in logs.iter().zip(before) {
                let t = Instant::now();
                while count_in(l, stopping) < b + 2 {
                    assert!(t.elapsed() < Duration::from_secs(30), "{}", tail(l, 30));
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        };
        let quiet = |from: chrono::DateTime<chrono::Utc>, until: chrono::DateTime<chrono::Utc>| {
            let during: Vec<_> = sim2
                .requests()
                .into_iter()
                .filter(|r| r.at >= from && r.at < until)
                .collect();
            assert!(
                during.is_empty(),
                "{} Cloudflare requests while no replica could hold a lease, e.g. {:?}",
                during.len(),
                during.first()
            );
        };
        let ttl = chrono::Duration::from_std(TTL).unwrap();
        // frozen first (SIGSTOP): requests hang instead of failing, and the replicas must still
        // stop before their leases can expire
        let before: Vec<usize> = logs.iter().map(|l| count_in(l, stopping)).collect();
        node.freeze();
        let froze = chrono::Utc::now();
        all_stopped(&before);
        std::thread::sleep(TTL + Duration::from_secs(1));
        let thawed = chrono::Utc::now();
        node.thaw();
        quiet(froze + ttl, thawed);
        wait_spread(&es2, &ix, &["a", "b", "c"], n, &[2, 2, 2], &logs);
        // then pull the plug while they collect
        let before: Vec<usize> = logs.iter().map(|l| count_in(l, stopping)).collect();
        node.down();
        let down = chrono::Utc::now();
        all_stopped(&before);
        // down for a while longer than a lease
        std::thread::sleep(TTL + Duration::from_secs(2));
        let up = chrono::Utc::now();
        let taken_before: Vec<usize> = logs.iter().map(|l| count_in(l, "lease taken")).collect();
        node.up();
        // the leases outlived by at most a TTL the last renewal, which was before `down`: from
        // then on, nothing asked Cloudflare until Elasticsearch was back
        quiet(down + ttl, up);
        let before_down = sim2.requests().iter().filter(|r| r.at < down).count();
        // they take the leases again and catch up
        wait_spread(&es2, &ix, &["a", "b", "c"], n, &[2, 2, 2], &logs);
        let retaken: usize = logs
            .iter()
            .zip(&taken_before)
            .map(|(l, b)| count_in(l, "lease taken") - b)
            .sum();
        assert!(retaken >= n, "{retaken} leases taken after the restart");
        let target = floor(chrono::Utc::now() - chrono::Duration::seconds(61));
        wait_cursors(&store, &sc, target, Duration::from_secs(90), &logs);
        std::thread::sleep(Duration::from_secs(3));
        stop_replicas(&mut [(&mut a, &la), (&mut b, &lb), (&mut c, &lc)], true);
        stop.store(true, Ordering::Relaxed);
        let history = watcher.join().unwrap();
        let moves = assert_cursor_moves_leased(&history);
        let (changes, versions) = assert_one_owner_at_a_time(&history, TTL.as_millis() as u64);
        assert!(moves > 0, "no cursor move observed: {history:?}");
        let (want_rays, want_audit) = ground_truth_in(&store, &sc, t0);
        let got_rays = all_values(
            &es2,
            &format!("logs-cloudflare.logpull-{ns}"),
            "cloudflare.ray_id",
        );
        let got_audit = all_values(&es2, &format!("logs-cloudflare.audit-{ns}"), "event.id");
        assert_same_ids("Logpull RayIDs after the restart", &got_rays, &want_rays);
        assert_same_ids("audit ids after the restart", &got_audit, &want_audit);
        let after_up = sim2.requests().iter().filter(|r| r.at >= up).count();
        eprintln!(
            "replicas through an Elasticsearch freeze and restart: frozen {:.1} s, 0 Cloudflare \
             requests from freeze + TTL until thawed; down {:.1} s; {before_down} Cloudflare \
             requests before, 0 from down + TTL until up, {after_up} after; {retaken} leases \
             taken again; {moves} cursor moves checked (each under its lease), {changes} owner \
             changes in {versions} versions; {} Logpull + {} audit records exactly once; {:.0} s",
            (thawed - froze).num_milliseconds() as f64 / 1000.0,
            (up - down).num_milliseconds() as f64 / 1000.0,
            want_rays.len(),
            want_audit.len(),
            started.elapsed().as_secs_f64()
        );
    })
    .await
    .unwrap();
}

/// How many lines of `log` contain `needle`.
fn count_in(log: &Path, needle: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}
