//! Proof 2 of issue 5: `cfship run` against the simulator (2 zones, 1 account, faults on) is killed
//! with SIGKILL at 20 random moments and restarted each time; at the end Elasticsearch holds exactly
//! the simulator's records, each once (ids compared, duplicates counted) — and so does the file
//! output (its write journal makes it exactly-once across SIGKILL too). Without `CFSHIP_ES8_URL`
//! (and not under CI=true) only the file output is checked.

mod common;
use common::*;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_20_random_moments_loses_and_duplicates_nothing() {
    let es = engine_url(
        "CFSHIP_ES8_URL",
        "crash safety (SIGKILL x20) into Elasticsearch; file output still checked",
    );
    let started = Instant::now();
    let sim_cfg = sim_config(20261125, 2, 150, 120, faults_on());
    let sim = start_sim(sim_cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let ns = unique_ns("crash");
    let t0 = floor(chrono::Utc::now() - chrono::Duration::hours(2));
    seed_cursors(&state, &sim_cfg, t0);
    let conf = dir.path().join("cfship.yml");
    TestConfig {
        api_url: sim.url(),
        sim: sim_cfg.clone(),
        state: state.clone(),
        es: es.clone().map(|u| (u, ns.clone())),
        file: Some(dir.path().join("out/{dataset}.ndjson")),
        interval: "2s",
        max_window: "15m",
        per_page: 25,
        metrics: "off".into(),
        token_expr: "${CFSHIP_E2E_TOKEN}".into(),
    }
    .write(&conf);
    let log = dir.path().join("cfship.log");
    let conf_s = conf.to_str().unwrap().to_string();
    let log2 = log.clone();
    let mut rng = Rng::new(0x5eed ^ std::process::id() as u64);
    let kills = tokio::task::spawn_blocking(move || {
        let mut killed_while_running = 0;
        for _ in 0..20 {
            let mut child = spawn_running(&["run", "--config", &conf_s], &log2, &[]);
            std::thread::sleep(rng.range_ms(10, 2000));
            if child.try_wait().unwrap().is_none() {
                killed_while_running += 1;
            }
            child.kill().unwrap_or(()); // SIGKILL
            let _ = child.wait();
        }
        killed_while_running
    })
    .await
    .unwrap();
    assert!(
        kills >= 18,
        "cfship exited on its own before most kills; log:\n{}",
        tail(&log, 40)
    );
    // Finish: catch up to now with faults still on, stop gracefully, then compare.
    let (c2, s2, l2, sc) = (conf.clone(), state.clone(), log.clone(), sim_cfg.clone());
    tokio::task::spawn_blocking(move || {
        finish_with_daemon(&c2, &s2, &sc, &l2, Duration::from_secs(120))
    })
    .await
    .unwrap();
    let (want_rays, want_audit) = ground_truth(&state, &sim_cfg, t0);
    assert!(
        want_rays.len() > 1000,
        "too little data: {}",
        want_rays.len()
    );
    assert!(!want_audit.is_empty());
    assert_same_ids(
        "Logpull RayIDs in the file output",
        &file_values(&dir.path().join("out/logpull.ndjson"), "cloudflare.ray_id"),
        &want_rays,
    );
    assert_same_ids(
        "audit ids in the file output",
        &file_values(&dir.path().join("out/audit.ndjson"), "event.id"),
        &want_audit,
    );
    if let Some(es2) = es.clone() {
        let ns2 = ns.clone();
        let (got_rays, got_audit) = tokio::task::spawn_blocking(move || {
            (
                all_values(
                    &es2,
                    &format!("logs-cloudflare.logpull-{ns2}"),
                    "cloudflare.ray_id",
                ),
                all_values(&es2, &format!("logs-cloudflare.audit-{ns2}"), "event.id"),
            )
        })
        .await
        .unwrap();
        assert_same_ids("Logpull RayIDs in Elasticsearch", &got_rays, &want_rays);
        assert_same_ids("audit ids in Elasticsearch", &got_audit, &want_audit);
    }
    let faults = sim.requests().iter().filter(|r| r.fault.is_some()).count();
    assert!(faults > 0, "the simulator injected no fault");
    eprintln!(
        "crash safety: {} Logpull + {} audit records exact after 20 SIGKILLs ({kills} while running), {faults} injected faults, {:.0}s",
        want_rays.len(),
        want_audit.len(),
        started.elapsed().as_secs_f64()
    );
}
