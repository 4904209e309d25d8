//! Issue 14 item 2: replicas of `cfship run` (the real binary) on one state index, against the
//! simulator with faults on. A takes every source; B, started next, takes none (no double
//! ownership); SIGKILL A → B takes every source over after the lease TTL; C starts, B is paused
//! with SIGSTOP until C has taken over; after SIGCONT B writes nothing (every cursor document
//! stays C's, B logs the lost leases); at the end Elasticsearch holds every record exactly once.

mod common;
use cfship_cloudflare::{LogpullCursor, SourceId};
use cfship_state::{CursorStore, EsStore};
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn owners(es: &str, index: &str) -> BTreeMap<String, String> {
    refresh(es, index);
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
        .map(|h| {
            (
                h["_id"].as_str().unwrap_or("").to_string(),
                h["_source"]["owner"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn wait_owned_by(es: &str, index: &str, who: &str, n: usize, log: &std::path::Path) {
    let t = Instant::now();
    loop {
        let o = owners(es, index);
        if o.len() == n && o.values().all(|v| v == who) {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "sources not all owned by {who}: {o:?}; log:\n{}",
            tail(log, 40)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_sources_through_leases() {
    let Some(es) = engine_url("CFSHIP_ES8_URL", "replicas with leases") else {
        return;
    };
    let sim_cfg = sim_config(20261203, 2, 120, 90, faults_on());
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
    let t0 = floor(chrono::Utc::now() - chrono::Duration::minutes(90));
    let (es2, ix, sc, d) = (
        es.clone(),
        index.clone(),
        sim_cfg.clone(),
        dir.path().to_path_buf(),
    );
    let want_n = sim_cfg.zones.len() + sim_cfg.accounts.len();
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
        let (la, lb, lc) = (d.join("a.log"), d.join("b.log"), d.join("c.log"));
        let run = ["run", "--config", conf_s.as_str()];
        let mut a = spawn_running(&run, &la, &[("CFSHIP_REPLICA_ID", "a")]);
        wait_owned_by(&es2, &ix, "a", want_n, &la);
        let mut b = spawn_running(&run, &lb, &[("CFSHIP_REPLICA_ID", "b")]);
        std::thread::sleep(Duration::from_secs(4)); // more than the TTL: A renews, B takes nothing
        let o = owners(&es2, &ix);
        assert!(
            o.values().all(|v| v == "a"),
            "B took a source A holds: {o:?}"
        );
        a.kill().unwrap(); // SIGKILL mid-run
        let _ = a.wait();
        wait_owned_by(&es2, &ix, "b", want_n, &lb);
        let mut c = spawn_running(&run, &lc, &[("CFSHIP_REPLICA_ID", "c")]);
        signal(&b, "-STOP");
        wait_owned_by(&es2, &ix, "c", want_n, &lc);
        signal(&b, "-CONT");
        std::thread::sleep(Duration::from_secs(5));
        let o = owners(&es2, &ix);
        assert!(
            o.values().all(|v| v == "c"),
            "B wrote after losing its leases: {o:?}"
        );
        let blog = std::fs::read_to_string(&lb).unwrap();
        assert!(blog.contains("lease lost"), "{}", tail(&lb, 30));
        // `cfship status` shows the ownership from the state index
        let out = std::process::Command::new(BIN)
            .args(["status", "--config", &conf_s])
            .env("CFSHIP_E2E_TOKEN", TOKEN)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{text}");
        assert!(text.contains("replicas holding leases: c\n"), "{text}");
        let owned = text
            .lines()
            .filter(|l| l.contains(" c (lease until "))
            .count();
        assert_eq!(owned, want_n, "{text}");
        // C catches up
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
            assert!(t.elapsed() < Duration::from_secs(150), "{}", tail(&lc, 40));
            std::thread::sleep(Duration::from_millis(300));
        }
        std::thread::sleep(Duration::from_secs(3));
        for (ch, l) in [(&mut c, &lc), (&mut b, &lb)] {
            sigterm(ch);
            let st = wait_for(ch, Duration::from_secs(90), "replica after SIGTERM", l);
            assert!(st.success(), "{}", tail(l, 30));
        }
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
        eprintln!(
            "replicas: {} Logpull + {} audit records exact through SIGKILL and SIGSTOP",
            want_rays.len(),
            want_audit.len()
        );
    })
    .await
    .unwrap();
    let faults = sim.requests().iter().filter(|r| r.fault.is_some()).count();
    assert!(faults > 0);
}
