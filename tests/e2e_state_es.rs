//! `state.backend: elasticsearch` (issue 14, item 1) end to end: `run` refuses a missing state index,
//! `setup` creates it, `cfship run` (the real binary, the simulator with faults on) keeps its cursors
//! as documents there (no cursor file in `state.dir`), and Elasticsearch ends with every record of
//! the range exactly once; a restart goes on from the cursors in the index.

mod common;
use cfship_cloudflare::{LogpullCursor, SourceId};
use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cursors_in_the_state_index_exactly_once() {
    let Some(es) = engine_url("CFSHIP_ES8_URL", "state backend elasticsearch") else {
        return;
    };
    let sim_cfg = sim_config(20261202, 2, 120, 90, faults_on());
    let sim = start_sim(sim_cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let ns = unique_ns("stes");
    let index = format!("cfship-state-{ns}");
    let conf = dir.path().join("cfship.yml");
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
    std::fs::write(&conf, with_state_index(&yaml, &state, &index, None)).unwrap();
    let conf_s = conf.to_str().unwrap().to_string();
    let log = dir.path().join("cfship.log");

    // run before setup: a clear error, nothing collected
    let (c1, l1) = (conf_s.clone(), log.clone());
    let st = tokio::task::spawn_blocking(move || {
        let mut child = spawn(&["run", "--config", &c1], &l1, &[]);
        wait_for(
            &mut child,
            Duration::from_secs(60),
            "run without state index",
            &l1,
        )
    })
    .await
    .unwrap();
    assert!(!st.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(&format!("state index {index}")) && text.contains("cfship setup"),
        "{}",
        tail(&log, 20)
    );

    // setup creates the state index (and says so), a second setup leaves it alone
    for want in ["created", "already up to date"] {
        let (code, stdout, stderr) = cfship(&["setup", "--config", &conf_s], &[]);
        assert_eq!(code, Some(0), "{stdout}{stderr}");
        assert!(
            stdout.contains(&format!("state index {index} (format 3): {want}")),
            "{stdout}"
        );
    }

    // every source starts at t0 (cursors written through the same backend)
    let t0 = floor(chrono::Utc::now() - chrono::Duration::minutes(90));
    let (ec, ix, sc) = (es.clone(), index.clone(), sim_cfg.clone());
    tokio::task::spawn_blocking(move || {
        seed_cursors_in(&es_store(&ec, &ix), &sc, t0);
    })
    .await
    .unwrap();

    // run, SIGTERM half-way, run again until caught up
    let (c2, l2, ec, ix, sc) = (
        conf_s.clone(),
        log.clone(),
        es.clone(),
        index.clone(),
        sim_cfg.clone(),
    );
    tokio::task::spawn_blocking(move || {
        let mut child = Killed(spawn_running(&["run", "--config", &c2], &l2, &[]));
        std::thread::sleep(Duration::from_secs(2));
        sigterm(&child.0);
        let st = wait_for(&mut child.0, Duration::from_secs(90), "first run", &l2);
        assert!(st.success(), "{}", tail(&l2, 40));
        let mut child = Killed(spawn(&["run", "--config", &c2], &l2, &[]));
        let store = es_store(&ec, &ix);
        let target = floor(chrono::Utc::now() - chrono::Duration::seconds(61));
        wait_cursors(&store, &sc, target, Duration::from_secs(150), &[&l2]);
        assert!(child.0.try_wait().unwrap().is_none(), "{}", tail(&l2, 40));
        std::thread::sleep(Duration::from_secs(3));
        sigterm(&child.0);
        let st = wait_for(&mut child.0, Duration::from_secs(90), "second run", &l2);
        assert!(st.success(), "{}", tail(&l2, 40));
    })
    .await
    .unwrap();

    // no cursor file: the cursors are documents
    let files: Vec<String> = std::fs::read_dir(&state)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default();
    assert!(files.is_empty(), "cursor files in state.dir: {files:?}");

    let (es2, ns2, ec, ix, sc) = (
        es.clone(),
        ns.clone(),
        es.clone(),
        index.clone(),
        sim_cfg.clone(),
    );
    let (want_rays, want_audit, got_rays, got_audit, docs) =
        tokio::task::spawn_blocking(move || {
            let store = es_store(&ec, &ix);
            let (wr, wa) = ground_truth_in(&store, &sc, t0);
            refresh(&es2, &ix);
            (
                wr,
                wa,
                all_values(
                    &es2,
                    &format!("logs-cloudflare.logpull-{ns2}"),
                    "cloudflare.ray_id",
                ),
                all_values(&es2, &format!("logs-cloudflare.audit-{ns2}"), "event.id"),
                count(&es2, &ix, "kind:cursor"),
            )
        })
        .await
        .unwrap();
    assert_eq!(docs, 3, "one cursor document per source");

    // `cfship status` reads the same cursors from the state index
    let status = |conf: &str| {
        let (code, stdout, _) = cfship(&["status", "--config", conf], &[]);
        (code == Some(0), stdout)
    };
    let (ok, text) = status(&conf_s);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("state: elasticsearch index {index}")),
        "{text}"
    );
    let (ec, ix, sc) = (es.clone(), index.clone(), sim_cfg.clone());
    let cursors = tokio::task::spawn_blocking(move || {
        let store = es_store(&ec, &ix);
        sc.zones
            .iter()
            .map(|z| {
                let k = SourceId::Logpull {
                    zone_id: z.id.clone(),
                }
                .state_key();
                let c: LogpullCursor = store.load(&k).unwrap().unwrap();
                (format!("logpull zone {}", z.id), c.next_start)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for (name, c) in &cursors {
        let line = text
            .lines()
            .find(|l| l.starts_with(name.as_str()))
            .unwrap_or_else(|| panic!("{name} missing: {text}"));
        assert!(
            line.contains(&c.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            "{line}"
        );
    }
    let acc = &sim_cfg.accounts[0].id;
    assert!(
        text.lines()
            .any(|l| l.starts_with(&format!("audit account {acc}")) && l.contains('Z')),
        "{text}"
    );
    // a corrupt cursor document: status names it and exits non-zero (nothing is reset)
    let (es4, ix4, zk) = (
        es.clone(),
        index.clone(),
        SourceId::Logpull {
            zone_id: sim_cfg.zones[0].id.clone(),
        }
        .state_key(),
    );
    tokio::task::spawn_blocking(move || {
        let r = http()
            .put(format!("{es4}/{ix4}/_doc/{zk}"))
            .json(&serde_json::json!({"version": 1, "key": zk, "cursor": {"next_start": 5}}))
            .send()
            .unwrap();
        assert!(r.status().is_success());
    })
    .await
    .unwrap();
    let (ok, text) = status(&conf_s);
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!("logpull zone {} ", sim_cfg.zones[0].id))
            && text.contains("refusing to reset"),
        "{text}"
    );
    assert!(
        want_rays.len() > 1000,
        "too little data: {}",
        want_rays.len()
    );
    assert!(!want_audit.is_empty());
    assert_same_ids("Logpull RayIDs in Elasticsearch", &got_rays, &want_rays);
    assert_same_ids("audit ids in Elasticsearch", &got_audit, &want_audit);
    let faults = sim.requests().iter().filter(|r| r.fault.is_some()).count();
    assert!(faults > 0, "the simulator injected no fault");
    let (es3, ix3) = (es.clone(), index.clone());
    tokio::task::spawn_blocking(move || {
        let _ = http().delete(format!("{es3}/{ix3}")).send();
    })
    .await
    .unwrap();
    eprintln!(
        "state backend elasticsearch: {} Logpull + {} audit records exact, {faults} faults",
        want_rays.len(),
        want_audit.len()
    );
}
