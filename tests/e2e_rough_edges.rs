//! The rough edges a new user hits (issue 13, items 10, 12, 14): a wrong token's error printed
//! once, the file output's journal empty after each clean exit, `transform` warning when the
//! records do not look like the chosen dataset.

mod common;
use cfship_cloudflare_sim::Faults;
use common::*;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

fn conf(
    dir: &std::path::Path,
    api_url: String,
    sim: &cfship_cloudflare_sim::SimulatorConfig,
    token: &str,
) -> std::path::PathBuf {
    let p = dir.join("cfship.yml");
    TestConfig {
        api_url,
        sim: sim.clone(),
        state: dir.join("state"),
        es: None,
        file: Some(dir.join("out/{dataset}.ndjson")),
        interval: "1s",
        max_window: "1h",
        per_page: 50,
        metrics: "off".into(),
        token_expr: token.into(),
    }
    .write(&p);
    p
}

/// Repeated `run --once` leave an empty journal after each clean exit: nothing is recovered (and
/// logged) at the next start, and the journal does not grow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_is_empty_after_each_clean_run_once() {
    let sim_cfg = sim_config(1310, 2, 20, 60, Faults::default());
    let sim = start_sim(sim_cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let t0 = floor(chrono::Utc::now() - chrono::Duration::hours(2));
    seed_cursors(&dir.path().join("state"), &sim_cfg, t0);
    let c = conf(dir.path(), sim.url(), &sim_cfg, "${CFSHIP_E2E_TOKEN}");
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let journal = d.join("state/file-output.journal");
        for i in 0..3 {
            let log = d.join(format!("run{i}.log"));
            let mut child = spawn(
                &["run", "--once", "--config", c.to_str().unwrap()],
                &log,
                &[],
            );
            let st = wait_for(&mut child, Duration::from_secs(180), "run --once", &log);
            assert!(st.success(), "{st}; log:\n{}", tail(&log, 20));
            let text = std::fs::read_to_string(&log).unwrap();
            assert!(
                !text.contains("documents of uncommitted units already written"),
                "run {i} recovered a journal after a clean exit:\n{text}"
            );
            let j = std::fs::read_to_string(&journal).unwrap_or_default();
            assert_eq!(
                j.lines().count(),
                0,
                "run {i}: journal left with entries:\n{j}"
            );
        }
        let lines = std::fs::read_to_string(d.join("out/logpull.ndjson")).unwrap();
        assert!(lines.lines().count() > 0);
    })
    .await
    .unwrap();
}

/// A wrong token: `run --once` names the error once per source (the exit report), not three times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_reported_once_per_source() {
    let sim_cfg = sim_config(1311, 1, 5, 5, Faults::default());
    let sim = start_sim(sim_cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let c = conf(dir.path(), sim.url(), &sim_cfg, "wrong-token-0000");
    let log = dir.path().join("run.log");
    let zone = sim_cfg.zones[0].id.clone();
    tokio::task::spawn_blocking(move || {
        let mut child = spawn(
            &["run", "--once", "--config", c.to_str().unwrap()],
            &log,
            &[],
        );
        let st = wait_for(&mut child, Duration::from_secs(120), "run --once", &log);
        assert_eq!(st.code(), Some(1), "log:\n{}", tail(&log, 20));
        let text = std::fs::read_to_string(&log).unwrap();
        let about_zone: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(&zone) && (l.contains("ERROR") || l.starts_with("cfship run:")))
            .collect();
        assert_eq!(
            about_zone.len(),
            1,
            "the zone's error more than once:\n{text}"
        );
        assert!(
            about_zone[0].starts_with("cfship run: logpull zone "),
            "{text}"
        );
    })
    .await
    .unwrap();
}

fn transform(dataset: &str, input: &str) -> String {
    let mut child = Command::new(BIN)
        .args(["transform", "--dataset", dataset])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("NO_COLOR", "1")
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `transform --dataset logpull` on audit records (and the reverse) warns, naming the dataset the
/// records look like; the right dataset gets no such warning.
#[test]
fn transform_warns_when_records_do_not_look_like_the_dataset() {
    let audit: String = (0..5)
        .map(|i| format!("{{\"id\":\"{i:08x}-aaaa-bbbb-cccc-dddddddddddd\",\"when\":\"2026-11-01T00:00:00Z\",\"action\":{{\"type\":\"login\",\"result\":true}},\"actor\":{{\"email\":\"a@example.com\",\"type\":\"user\",\"ip\":\"192.0.2.1\"}},\"owner\":{{\"id\":\"01a7362d577a6c3019a474fd6f485823\"}},\"resource\":{{\"type\":\"account\"}}}}\n"))
        .collect();
    let logpull: String = (0..5)
        .map(|i| format!("{{\"RayID\":\"r{i}\",\"EdgeStartTimestamp\":\"2026-11-01T00:00:00Z\",\"EdgeEndTimestamp\":\"2026-11-01T00:00:01Z\",\"ClientIP\":\"192.0.2.1\",\"ClientRequestHost\":\"example.com\"}}\n"))
        .collect();
    let e = transform("logpull", &audit);
    assert!(
        e.contains("5 of the first 5 records do not look like logpull records: they look like audit records: use --dataset audit"),
        "{e}"
    );
    let e = transform("audit", &logpull);
    assert!(e.contains("use --dataset logpull"), "{e}");
    assert!(!transform("audit", &audit).contains("do not look like"));
    assert!(!transform("logpull", &logpull).contains("do not look like"));
}
