//! Health and progress an operator can trust (issue 13, items 1–4), with the real binary against
//! the simulator: `/healthz` not ready while Elasticsearch is unreachable, `run --once --timeout`,
//! every configured source listed (with its saved cursor's lag) from the start, one log line per
//! unit, a periodic summary, "caught up" only when true, the stall watchdog and sources stopped by
//! an error retrying cannot fix.

mod common;
use cfship_cloudflare_sim::Faults;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// A closed port: connecting is refused at once.
const DEAD_ES: &str = "http://127.0.0.1:9";

fn config(
    dir: &Path,
    api_url: String,
    sim: &cfship_cloudflare_sim::SimulatorConfig,
    es: Option<&str>,
    metrics: &str,
    extra_metrics: &str,
) -> std::path::PathBuf {
    let conf = dir.join("cfship.yml");
    let y = TestConfig {
        api_url,
        sim: sim.clone(),
        state: dir.join("state"),
        es: es.map(|u| (u.to_string(), unique_ns("health"))),
        file: Some(dir.join("out/{dataset}.ndjson")),
        interval: "1s",
        max_window: "1h",
        per_page: 50,
        metrics: metrics.into(),
        token_expr: "${CFSHIP_E2E_TOKEN}".into(),
    }
    .yaml()
    .replace("metrics:\n", &format!("metrics:\n{extra_metrics}"));
    std::fs::write(&conf, y).unwrap();
    conf
}

/// GET /healthz → (status, body); `None` while nothing listens yet.
fn healthz(addr: &str) -> Option<(u16, Value)> {
    let r = http()
        .get(format!("http://{addr}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .ok()?;
    let st = r.status().as_u16();
    Some((st, r.json().ok()?))
}

/// Polls /healthz until `pred` holds (at most `limit`).
fn healthz_until(
    addr: &str,
    limit: Duration,
    log: &Path,
    pred: impl Fn(u16, &Value) -> bool,
) -> (u16, Value) {
    let t = Instant::now();
    let mut last = None;
    loop {
        if let Some((st, b)) = healthz(addr) {
            if pred(st, &b) {
                return (st, b);
            }
            last = Some((st, b));
        }
        assert!(
            t.elapsed() < limit,
            "/healthz never matched; last {last:?}; log:\n{}",
            tail(log, 30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn source<'a>(body: &'a Value, dataset: &str, id: &str) -> Option<&'a Value> {
    body["sources"]
        .as_array()?
        .iter()
        .find(|s| s["dataset"] == dataset && s["source"] == id)
}

/// Elasticsearch unreachable: `/healthz` is 503 "not ready: waiting for Elasticsearch since …"
/// and already lists every configured source with the lag of its saved cursor (a restart does not
/// hide the audit account until its next event).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_not_ready_while_elasticsearch_is_unreachable_and_lists_every_source() {
    let sim_cfg = sim_config(1301, 1, 10, 0, Faults::default());
    let sim = start_sim(sim_cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let t0 = floor(chrono::Utc::now() - chrono::Duration::minutes(30));
    seed_cursors(&dir.path().join("state"), &sim_cfg, t0);
    let addr = free_addr();
    let conf = config(dir.path(), sim.url(), &sim_cfg, Some(DEAD_ES), &addr, "");
    let log = dir.path().join("cfship.log");
    let (zone, account) = (sim_cfg.zones[0].id.clone(), sim_cfg.accounts[0].id.clone());
    tokio::task::spawn_blocking(move || {
        let mut child = spawn(&["run", "--config", conf.to_str().unwrap()], &log, &[]);
        let (st, body) = healthz_until(&addr, Duration::from_secs(60), &log, |_, b| {
            b["status"] == "not ready"
        });
        assert_eq!(st, 503, "{body}");
        let reason = body["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("waiting for Elasticsearch since "),
            "{body}"
        );
        for (ds, id) in [("logpull", &zone), ("audit", &account)] {
            let s = source(&body, ds, id).unwrap_or_else(|| panic!("{ds} {id} missing: {body}"));
            let lag = s["lag_seconds"].as_i64().expect("lag of the saved cursor");
            assert!(
                lag >= 30 * 60,
                "{ds}: lag {lag} from the cursor 30 min back"
            );
        }
        let metrics = http()
            .get(format!("http://{addr}/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(metrics.contains(&format!(
            "cfship_source_lag_seconds{{dataset=\"audit\",source=\"{account}\"}}"
        )));
        assert!(metrics.contains("cfship_ready 0"), "{metrics}");
        sigterm(&child);
        let st = wait_for(
            &mut child,
            Duration::from_secs(60),
            "run after SIGTERM",
            &log,
        );
        assert!(st.success(), "{st}; log:\n{}", tail(&log, 20));
    })
    .await
    .unwrap();
}

/// `run --once --timeout 3s` with Elasticsearch unreachable exits 1 with the reason (instead of
/// waiting forever). The bound below is generous: it proves the run ends, not how fast.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_timeout_exits_non_zero_with_the_reason() {
    let sim_cfg = sim_config(1302, 1, 10, 0, Faults::default());
    let sim = start_sim(sim_cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let conf = config(dir.path(), sim.url(), &sim_cfg, Some(DEAD_ES), "off", "");
    let log = dir.path().join("cfship.log");
    tokio::task::spawn_blocking(move || {
        let mut child = spawn(
            &[
                "run",
                "--once",
                "--timeout",
                "3s",
                "--config",
                conf.to_str().unwrap(),
            ],
            &log,
            &[],
        );
        let st = wait_for(&mut child, Duration::from_secs(60), "run --once", &log);
        assert_eq!(st.code(), Some(1), "log:\n{}", tail(&log, 20));
        let text = std::fs::read_to_string(&log).unwrap();
        let last = text.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("cfship run: error: timed out after 3s (--timeout): waiting for Elasticsearch since "),
            "{last}"
        );
        assert!(!text.contains("caught up"), "{text}");
    })
    .await
    .unwrap();
}

/// A catch-up logs one line per unit (source, range, records, duration) and a periodic summary;
/// a signal in the middle of `--once` is not reported as "caught up"; a full `--once` is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_are_logged_and_caught_up_is_only_said_when_true() {
    let faults = Faults {
        rate_slow: 1.0,
        slow_ms: 300,
        ..Default::default()
    };
    let sim_cfg = sim_config(1303, 1, 5, 30, faults);
    let sim = start_sim(sim_cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let t0 = floor(chrono::Utc::now() - chrono::Duration::hours(8));
    seed_cursors(&dir.path().join("state"), &sim_cfg, t0);
    let conf = config(dir.path(), sim.url(), &sim_cfg, None, "off", "");
    let log = dir.path().join("cfship.log");
    let zone = sim_cfg.zones[0].id.clone();
    tokio::task::spawn_blocking(move || {
        let c = conf.to_str().unwrap();
        let mut child = spawn(
            &["run", "--once", "--summary-every", "1s", "--config", c],
            &log,
            &[],
        );
        wait_log(&log, "Logpull window done", Duration::from_secs(60));
        wait_log(&log, "progress summary", Duration::from_secs(60));
        sigterm(&child);
        let st = wait_for(
            &mut child,
            Duration::from_secs(60),
            "run --once after SIGTERM",
            &log,
        );
        assert!(st.success(), "{st}; log:\n{}", tail(&log, 20));
        let text = std::fs::read_to_string(&log).unwrap();
        let unit = text
            .lines()
            .find(|l| l.contains("Logpull window done"))
            .unwrap();
        assert!(unit.contains(" INFO "), "{unit}");
        let src = format!("source=logpull zone {zone}");
        for k in [src.as_str(), "start=", "end=", "records=", "duration_ms="] {
            assert!(unit.contains(k), "{k} missing in {unit}");
        }
        assert!(
            text.contains("Logpull stopped before catching up"),
            "{}",
            tail(&log, 20)
        );
        assert!(!text.contains("Logpull caught up"), "{text}");
        // the same to its end: now it is true
        std::fs::write(&log, "").unwrap();
        let mut child = spawn(&["run", "--once", "--config", c], &log, &[]);
        let st = wait_for(&mut child, Duration::from_secs(300), "run --once", &log);
        assert!(st.success(), "{st}; log:\n{}", tail(&log, 20));
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("Logpull caught up"), "{}", tail(&log, 20));
        assert!(text.contains("audit sweep done"), "{}", tail(&log, 20));
        assert!(!text.contains("before catching up"), "{text}");
    })
    .await
    .unwrap();
}

/// Cloudflare answering 5xx to everything: after `metrics.stall_after` without a successful unit
/// the source is stalled, `/healthz` fails (503) and `cfship_source_stalled` is 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_without_success_is_stalled_and_fails_healthz() {
    let faults = Faults {
        rate_5xx: 1.0,
        ..Default::default()
    };
    let sim_cfg = sim_config(1304, 1, 5, 0, faults);
    let sim = start_sim(sim_cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let conf = config(
        dir.path(),
        sim.url(),
        &sim_cfg,
        None,
        &addr,
        "  stall_after: 2s\n",
    );
    let log = dir.path().join("cfship.log");
    let zone = sim_cfg.zones[0].id.clone();
    tokio::task::spawn_blocking(move || {
        let mut child = spawn(&["run", "--config", conf.to_str().unwrap()], &log, &[]);
        let (st, body) = healthz_until(&addr, Duration::from_secs(60), &log, |_, b| {
            source(b, "logpull", &zone).is_some_and(|s| s["state"] == "stalled")
        });
        assert_eq!(st, 503, "{body}");
        assert_eq!(body["status"], "failing", "{body}");
        let s = source(&body, "logpull", &zone).unwrap();
        assert!(
            s["reason"]
                .as_str()
                .unwrap()
                .starts_with("no successful unit since "),
            "{body}"
        );
        let metrics = http()
            .get(format!("http://{addr}/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(
            metrics.contains(&format!(
                "cfship_source_stalled{{dataset=\"logpull\",source=\"{zone}\",state=\"stalled\"}} 1"
            )),
            "{metrics}"
        );
        assert!(metrics.contains("cfship_up 0"));
        wait_log(&log, "source stalled", Duration::from_secs(30));
        sigterm(&child);
        wait_for(
            &mut child,
            Duration::from_secs(60),
            "run after SIGTERM",
            &log,
        );
    })
    .await
    .unwrap();
}

/// A Cloudflare error retrying cannot fix (Logpull retention off) stops the source and turns
/// `/healthz` failing with the reason, while the other sources go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_retryable_cloudflare_error_fails_healthz_with_its_reason() {
    let mut sim_cfg = sim_config(1305, 2, 5, 0, Faults::default());
    sim_cfg.zones[1].retention_enabled = false;
    let sim = start_sim(sim_cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let conf = config(dir.path(), sim.url(), &sim_cfg, None, &addr, "");
    let log = dir.path().join("cfship.log");
    let (good, off) = (sim_cfg.zones[0].id.clone(), sim_cfg.zones[1].id.clone());
    tokio::task::spawn_blocking(move || {
        let mut child = spawn(&["run", "--config", conf.to_str().unwrap()], &log, &[]);
        let (st, body) = healthz_until(&addr, Duration::from_secs(60), &log, |_, b| {
            source(b, "logpull", &off).is_some_and(|s| s["state"] == "stopped")
        });
        assert_eq!(st, 503, "{body}");
        assert_eq!(body["status"], "failing");
        let s = source(&body, "logpull", &off).unwrap();
        assert!(
            s["reason"].as_str().unwrap().contains("retention"),
            "{body}"
        );
        assert_eq!(source(&body, "logpull", &good).unwrap()["state"], "ok");
        sigterm(&child);
        wait_for(
            &mut child,
            Duration::from_secs(60),
            "run after SIGTERM",
            &log,
        );
    })
    .await
    .unwrap();
}
