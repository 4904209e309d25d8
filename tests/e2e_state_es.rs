//! `state.backend: elasticsearch` (issue 14, item 1) end to end: `run` refuses a missing state index,
//! `setup` creates it, `cfship run` (the real binary, the simulator with faults on) keeps its cursors
//! as documents there (no cursor file in `state.dir`), and Elasticsearch ends with every record of
//! the range exactly once; a restart goes on from the cursors in the index.

mod common;
use cfship_cloudflare::{LogpullCursor, SourceId};
use cfship_state::{CursorStore, EsStore};
use common::*;
use std::time::{Duration, Instant};

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
    let marker = format!("state:\n  dir: {}\n", state.display());
    assert!(yaml.contains(&marker));
    let yaml = yaml.replace(
        &marker,
        &format!("{marker}  backend: elasticsearch\n  index: {index}\n"),
    );
    std::fs::write(&conf, yaml).unwrap();
    let conf_s = conf.to_str().unwrap().to_string();
    let log = dir.path().join("cfship.log");
    let es_cfg = cfship_elasticsearch::EsConfig {
        hosts: vec![es.clone()],
        ..Default::default()
    };

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
        let out = std::process::Command::new(BIN)
            .args(["setup", "--config", &conf_s])
            .env("CFSHIP_E2E_TOKEN", TOKEN)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("state index {index} (format 3): {want}")),
            "{stdout}"
        );
    }

    // every source starts at t0 (cursors written through the same backend)
    let t0 = floor(chrono::Utc::now() - chrono::Duration::minutes(90));
    let (ec, ix, sc) = (es_cfg.clone(), index.clone(), sim_cfg.clone());
    tokio::task::spawn_blocking(move || {
        let store: CursorStore = EsStore::open(&ec, &ix).unwrap().into();
        seed_cursors_in(&store, &sc, t0);
    })
    .await
    .unwrap();

    // run, SIGTERM half-way, run again until caught up
    let (c2, l2, ec, ix, sc) = (
        conf_s.clone(),
        log.clone(),
        es_cfg.clone(),
        index.clone(),
        sim_cfg.clone(),
    );
    tokio::task::spawn_blocking(move || {
        let child = spawn_running(&["run", "--config", &c2], &l2, &[]);
        std::thread::sleep(Duration::from_secs(2));
        sigterm(&child);
        let mut child = child;
        let st = wait_for(&mut child, Duration::from_secs(90), "first run", &l2);
        assert!(st.success(), "{}", tail(&l2, 40));
        let mut child = spawn(&["run", "--config", &c2], &l2, &[]);
        let store: CursorStore = EsStore::open(&ec, &ix).unwrap().into();
        let target = floor(chrono::Utc::now() - chrono::Duration::seconds(61));
        let t = Instant::now();
        loop {
            assert!(child.try_wait().unwrap().is_none(), "{}", tail(&l2, 40));
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
            assert!(
                t.elapsed() < Duration::from_secs(150),
                "not caught up; log:\n{}",
                tail(&l2, 40)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        std::thread::sleep(Duration::from_secs(3));
        sigterm(&child);
        let st = wait_for(&mut child, Duration::from_secs(90), "second run", &l2);
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
        es_cfg.clone(),
        index.clone(),
        sim_cfg.clone(),
    );
    let (want_rays, want_audit, got_rays, got_audit, docs) =
        tokio::task::spawn_blocking(move || {
            let store: CursorStore = EsStore::open(&ec, &ix).unwrap().into();
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
        let out = std::process::Command::new(BIN)
            .args(["status", "--config", conf])
            .env("CFSHIP_E2E_TOKEN", TOKEN)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, text) = status(&conf_s);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("state: elasticsearch index {index}")),
        "{text}"
    );
    let (ec, ix, sc) = (es_cfg.clone(), index.clone(), sim_cfg.clone());
    let cursors = tokio::task::spawn_blocking(move || {
        let store: CursorStore = EsStore::open(&ec, &ix).unwrap().into();
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
