//! Proof 5 of issue 5: secrets given in the config or the environment never appear in logs (debug
//! level, human and JSON), errors, `--help`, `cfship check` output, `/metrics` or `/healthz`.

mod common;
use cfship_cloudflare_sim::Faults;
use common::*;
use std::process::Command;
use std::time::Duration;

const WRONG: &str = "WRONG-secret-token-5521";
const ES_KEY: &str = "e2eid:e2e-es-secret-key-91";

fn assert_clean(what: &str, text: &str) {
    for s in [TOKEN, WRONG, ES_KEY, "e2e-es-secret-key-91"] {
        assert!(
            !text.contains(s),
            "{what} contains the secret {s:?}:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secrets_never_leak() {
    let es = std::env::var("CFSHIP_ES8_URL")
        .ok()
        .filter(|s| !s.is_empty());
    let sim_cfg = sim_config(99, 1, 10, 60, Faults::default());
    let sim = start_sim(sim_cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    seed_cursors(
        &state,
        &sim_cfg,
        floor(chrono::Utc::now() - chrono::Duration::minutes(30)),
    );
    let port = free_port();
    let mk = |token_expr: &str, file: &str| {
        let mut y = TestConfig {
            api_url: sim.url(),
            sim: sim_cfg.clone(),
            state: state.clone(),
            es: None,
            file: Some(dir.path().join(file)),
            interval: "2s",
            max_window: "1h",
            per_page: 50,
            metrics: format!("127.0.0.1:{port}"),
            token_expr: token_expr.into(),
        }
        .yaml();
        if let Some(u) = &es {
            y.push_str(&format!(
                "elasticsearch:\n  hosts: [\"{u}\"]\n  api_key: ${{CFSHIP_E2E_ES_KEY}}\n  namespace: {}\n",
                unique_ns("secrets")
            ));
        }
        y
    };
    let good = dir.path().join("good.yml");
    std::fs::write(&good, mk("${CFSHIP_E2E_TOKEN}", "out.ndjson")).unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, mk("${CFSHIP_E2E_WRONG}", "bad.ndjson")).unwrap();
    let literal = dir.path().join("literal.yml");
    std::fs::write(&literal, mk(WRONG, "lit.ndjson")).unwrap();
    let broken = dir.path().join("broken.yml");
    std::fs::write(
        &broken,
        "cloudflare:\n  api_token: ${CFSHIP_E2E_TOKEN}\n  requests_per_5min: ${CFSHIP_E2E_TOKEN}\nlogpull:\n  zones: [023e105f4ecef8ad9ca31a8372d0c353]\nfile:\n  path: x\n",
    )
    .unwrap();
    let envs = [
        ("CFSHIP_E2E_WRONG", WRONG),
        ("CFSHIP_E2E_ES_KEY", ES_KEY),
        ("RUST_LOG", "debug"),
    ];
    let log = dir.path().join("all.log");
    let (good2, bad2, lit2, broken2, log2) = (
        good.clone(),
        bad.clone(),
        literal.clone(),
        broken.clone(),
        log.clone(),
    );
    let (metrics, healthz) = tokio::task::spawn_blocking(move || {
        // 1. the daemon with good credentials, debug logs, JSON logs; scrape /metrics and /healthz
        let mut child = spawn(
            &[
                "--log-format",
                "json",
                "run",
                "--config",
                good2.to_str().unwrap(),
            ],
            &log2,
            &envs,
        );
        let http = http();
        let mut metrics = String::new();
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(200));
            if let Ok(r) = http.get(format!("http://127.0.0.1:{port}/metrics")).send() {
                metrics = r.text().unwrap_or_default();
                if metrics.contains("cfship_events_collected_total{dataset=\"logpull\"") {
                    break;
                }
            }
        }
        let healthz = http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .map(|r| r.text().unwrap_or_default())
            .unwrap_or_default();
        sigterm(&child);
        let st = wait_for(&mut child, Duration::from_secs(60), "run", &log2);
        assert!(st.success());
        // 2. wrong token from env, and as a literal in the file: errors must not echo it
        for conf in [&bad2, &lit2] {
            let mut child = spawn(
                &["run", "--once", "--config", conf.to_str().unwrap()],
                &log2,
                &envs,
            );
            let st = wait_for(
                &mut child,
                Duration::from_secs(60),
                "run with a wrong token",
                &log2,
            );
            assert!(!st.success(), "a wrong token must fail the run");
        }
        // 3. check, config errors, --help of every command
        for args in [
            vec!["check", "--config", bad2.to_str().unwrap()],
            vec!["check", "--config", good2.to_str().unwrap()],
            vec!["run", "--config", broken2.to_str().unwrap()],
            vec!["--help"],
            vec!["run", "--help"],
            vec!["backfill", "--help"],
            vec!["check", "--help"],
            vec!["setup", "--help"],
            vec!["demo", "--help"],
            vec!["simulate", "--help"],
            vec!["transform", "--help"],
        ] {
            let o = Command::new(BIN)
                .args(&args)
                .env("CFSHIP_E2E_TOKEN", TOKEN)
                .env("CLOUDFLARE_API_TOKEN", TOKEN)
                .env("ES_API_KEY", ES_KEY)
                .envs(envs)
                .output()
                .unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            assert_clean(&format!("cfship {args:?}"), &text);
            if args.len() == 3 && args[0] == "check" && args[2].ends_with("bad.yml") {
                assert!(
                    !o.status.success(),
                    "check with a wrong token must fail:\n{text}"
                );
                assert!(text.contains("FAIL"), "{text}");
            }
            if args[0] == "run" && args.len() == 3 {
                assert!(!o.status.success());
                assert!(
                    text.contains("line 3"),
                    "config error names the line: {text}"
                );
            }
        }
        (metrics, healthz)
    })
    .await
    .unwrap();
    let logtext = std::fs::read_to_string(&log).unwrap();
    assert!(
        logtext.contains("DEBUG") || logtext.contains("\"level\":\"DEBUG\""),
        "debug logs were on"
    );
    assert!(
        logtext.contains("10000") || logtext.contains("401") || logtext.contains("403"),
        "the auth failure is reported: {}",
        tail(&log, 20)
    );
    assert_clean("logs", &logtext);
    assert!(
        metrics.contains("cfship_events_collected_total"),
        "metrics scraped: {metrics}"
    );
    assert!(metrics.contains("cfship_source_lag_seconds"), "{metrics}");
    assert_clean("/metrics", &metrics);
    assert!(healthz.contains("\"status\":\"ok\""), "{healthz}");
    assert_clean("/healthz", &healthz);
    for f in ["out.ndjson", "bad.ndjson", "lit.ndjson"] {
        assert_clean(
            f,
            &std::fs::read_to_string(dir.path().join(f)).unwrap_or_default(),
        );
    }
}
