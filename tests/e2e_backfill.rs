//! `cfship backfill`: an explicit range is collected exactly (file output, ids compared with the
//! simulator's ground truth), with plain log lines when stderr is not a terminal, and the daemon's
//! cursors are not touched.

mod common;
use cfship_cloudflare_sim::Faults;
use common::*;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backfill_collects_the_range_exactly_and_moves_no_cursor() {
    let faults = Faults {
        rate_5xx: 0.05,
        rate_truncated: 0.05,
        ..Default::default()
    };
    let sim_cfg = sim_config(31337, 2, 20, 120, faults);
    let sim = start_sim(sim_cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let conf = dir.path().join("cfship.yml");
    TestConfig {
        api_url: sim.url(),
        sim: sim_cfg.clone(),
        state: state.clone(),
        es: None,
        file: Some(dir.path().join("out/{dataset}.ndjson")),
        interval: "5m",
        max_window: "1h",
        per_page: 50,
        metrics: "off".into(),
        token_expr: "${CFSHIP_E2E_TOKEN}".into(),
    }
    .write(&conf);
    let until = floor(chrono::Utc::now() - chrono::Duration::minutes(10));
    let since = until - chrono::Duration::hours(5) - chrono::Duration::seconds(17);
    // the daemon's cursors, which backfill must leave alone
    let t_daemon = floor(chrono::Utc::now() - chrono::Duration::hours(1));
    seed_cursors(&state, &sim_cfg, t_daemon);
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (s, u, c) = (fmt(since), fmt(until), conf.clone());
    let o = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args([
                "backfill",
                "--config",
                c.to_str().unwrap(),
                "--since",
                &s,
                "--until",
                &u,
            ])
            .env("CFSHIP_E2E_TOKEN", TOKEN)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("window done"),
        "plain progress lines off a terminal:\n{stderr}"
    );
    assert!(stderr.contains("cfship backfill:"), "{stderr}");
    let mut want_rays: Vec<String> = sim_cfg
        .zones
        .iter()
        .flat_map(|z| {
            cfship_cloudflare_sim::expected_logpull_ray_ids(&sim_cfg, &z.id, since, until)
        })
        .collect();
    want_rays.sort();
    let mut want_audit =
        cfship_cloudflare_sim::expected_audit_ids(&sim_cfg, &sim_cfg.accounts[0].id, since, until);
    want_audit.sort();
    assert_same_ids(
        "backfilled RayIDs",
        &file_values(&dir.path().join("out/logpull.ndjson"), "cloudflare.ray_id"),
        &want_rays,
    );
    assert_same_ids(
        "backfilled audit ids",
        &file_values(&dir.path().join("out/audit.ndjson"), "event.id"),
        &want_audit,
    );
    let store = cfship_state::CursorStore::open(&state).unwrap();
    for z in &sim_cfg.zones {
        let k = cfship_cloudflare::SourceId::Logpull {
            zone_id: z.id.clone(),
        }
        .state_key();
        let c: cfship_cloudflare::LogpullCursor = store.load(&k).unwrap().unwrap();
        assert_eq!(
            c.next_start, t_daemon,
            "backfill moved the daemon cursor of {}",
            z.id
        );
    }
    let k = cfship_cloudflare::SourceId::Audit {
        account_id: sim_cfg.accounts[0].id.clone(),
    }
    .state_key();
    let c: cfship_cloudflare::AuditCursor = store.load(&k).unwrap().unwrap();
    assert_eq!(c.when, t_daemon);
    assert!(c.ids.is_empty());
}
