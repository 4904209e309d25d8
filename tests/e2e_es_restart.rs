//! Proof 3 of issue 5: Elasticsearch stopped and started again while `cfship run` indexes; at the
//! end it holds exactly the simulator's records, each once. Uses a dedicated instance started with
//! `scripts/search-engine.sh start es8 --name e2e-restart --port 9230` (stopped at the end).

mod common;
use cfship_cloudflare_sim::Faults;
use common::*;
use std::time::{Duration, Instant};

const NAME: &str = "e2e-restart";
const PORT: u16 = 9230;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn elasticsearch_restart_mid_run_loses_and_duplicates_nothing() {
    // Needs the engines of scripts/search-engine.sh (as the other real-engine tests do).
    if engine_url("CFSHIP_ES8_URL", "Elasticsearch restart during a run").is_none() {
        return;
    }
    let started = Instant::now();
    let node = std::sync::Arc::new(
        tokio::task::spawn_blocking(|| DedicatedEs::start(NAME, PORT))
            .await
            .unwrap(),
    );
    let es = node.url();
    let sim_cfg = sim_config(4242, 2, 60, 120, Faults::default());
    let sim = start_sim(sim_cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let ns = unique_ns("restart");
    let t0 = floor(chrono::Utc::now() - chrono::Duration::hours(3));
    seed_cursors(&state, &sim_cfg, t0);
    let conf = dir.path().join("cfship.yml");
    TestConfig {
        api_url: sim.url(),
        sim: sim_cfg.clone(),
        state: state.clone(),
        es: Some((es.clone(), ns.clone())),
        file: None,
        interval: "2s",
        max_window: "20m",
        per_page: 25,
        metrics: "off".into(),
        token_expr: "${CFSHIP_E2E_TOKEN}".into(),
    }
    .write(&conf);
    let log = dir.path().join("cfship.log");
    let (c2, s2, l2, sc) = (conf.clone(), state.clone(), log.clone(), sim_cfg.clone());
    let es2 = es.clone();
    let ns2 = ns.clone();
    let node2 = node.clone();
    tokio::task::spawn_blocking(move || {
        let child = Killed(spawn(&["run", "--config", c2.to_str().unwrap()], &l2, &[]));
        // let it index for a moment, then pull the plug
        let t = Instant::now();
        while count(&es2, &format!("logs-cloudflare.logpull-{ns2}"), "*") == 0 {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "nothing indexed; log:\n{}",
                tail(&l2, 30)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        node2.down();
        std::thread::sleep(Duration::from_secs(5));
        node2.up();
        catch_up_then_sigterm(child, &s2, &sc, &l2, Duration::from_secs(180));
    })
    .await
    .unwrap();
    let logtext = std::fs::read_to_string(&log).unwrap();
    assert!(
        logtext.contains("bulk request failed; will retry"),
        "the outage hit bulk requests in flight (they were retried); log:\n{}",
        tail(&log, 30)
    );
    let (want_rays, want_audit) = ground_truth(&state, &sim_cfg, t0);
    let es2 = es.clone();
    let (got_rays, got_audit) = tokio::task::spawn_blocking(move || {
        (
            all_values(
                &es2,
                &format!("logs-cloudflare.logpull-{ns}"),
                "cloudflare.ray_id",
            ),
            all_values(&es2, &format!("logs-cloudflare.audit-{ns}"), "event.id"),
        )
    })
    .await
    .unwrap();
    assert_same_ids("Logpull RayIDs after the restart", &got_rays, &want_rays);
    assert_same_ids("audit ids after the restart", &got_audit, &want_audit);
    eprintln!(
        "es restart: {} Logpull + {} audit records exact; {} log lines mention retries; {:.0}s",
        want_rays.len(),
        want_audit.len(),
        logtext.matches("retry").count() + logtext.matches("retrying").count(),
        started.elapsed().as_secs_f64()
    );
}
