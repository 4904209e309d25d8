//! `cfship run` with a configuration of only Logpush sources — the HTTPS destination (`logpush:`)
//! and a bucket (`logpush_bucket:`, a real S3 server: s3s-fs) — into a real Elasticsearch and the
//! file output: batches pushed as Cloudflare does (gzip, the secret header, a re-delivered batch,
//! a wrong secret, a body that is not gzip), objects across two days; /metrics and /healthz show
//! each Logpush source; SIGTERM exits 0; `run --once` reads new objects to the end and exits, and
//! a second `--once` finds nothing new (the bucket checkpoint is in the state store). Every record
//! is in Elasticsearch and in the file exactly once.

mod common;

use common::*;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStoreExt, PutPayload};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const KEY: &str = "cfshipe2ekey";
const SECRET: &str = "cfshipe2esecret";
const PUSH_SECRET: &str = "push s3cret&x";

/// `n` firewall events (what the HTTPS destination receives here).
fn firewall(from: usize, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in from..from + n {
        let _ = writeln!(
            out,
            r#"{{"Action":"block","ClientIP":"192.0.2.{}","ClientRequestHost":"example.com","Datetime":"2026-12-01T00:{:02}:00Z","RayID":"fw{i:012x}","Source":"firewallrules"}}"#,
            i % 250,
            i % 60
        );
    }
    out
}

/// `n` HTTP requests (what the bucket's objects hold).
fn requests(from: usize, n: usize) -> Vec<u8> {
    http_request_lines("bk", from, n)
}

fn post(port: u16, secret: &str, encoding: Option<&str>, body: Vec<u8>) -> u16 {
    let mut r = http()
        .post(format!(
            "http://127.0.0.1:{port}/cloudflare_logpush/firewall_event"
        ))
        .header("X-Logpush-Secret", secret)
        .header("Content-Type", "application/json");
    if let Some(e) = encoding {
        r = r.header("Content-Encoding", e);
    }
    r.body(body)
        .send()
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn es_count(es: &str, index: &str) -> u64 {
    refresh(es, index);
    http()
        .get(format!("{es}/{index}/_count"))
        .send()
        .ok()
        .and_then(|r| r.json::<serde_json::Value>().ok())
        .and_then(|v| v["count"].as_u64())
        .unwrap_or(0)
}

fn wait_count(es: &str, index: &str, want: u64, log: &Path) {
    let t = Instant::now();
    loop {
        let n = es_count(es, index);
        assert!(n <= want, "{index}: {n} documents, more than {want}");
        if n == want {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "{index}: {n} of {want} documents; log:\n{}",
            tail(log, 40)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn file_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn metrics(port: u16) -> String {
    http()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default()
}

fn sample(text: &str, line_start: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_logpush_and_reads_a_bucket_exactly_once() {
    let test = "run_serves_logpush_and_reads_a_bucket_exactly_once";
    let Some(es) = engine_url("CFSHIP_ES8_URL", test) else {
        return;
    };
    let Some(bin) = cfship_cloudflare_sim::s3s_fs::binary(test) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let TestBucket {
        s3: _s3,
        endpoint,
        config: _,
        store,
    } = TestBucket::start(
        &bin,
        &tmp.path().join("s3"),
        "s3://logs/",
        "http_request",
        KEY,
        SECRET,
    );
    let put = |key: String, body: Vec<u8>| {
        let store = &store;
        async move {
            store
                .put(&ObjPath::from(key.as_str()), PutPayload::from(body))
                .await
                .expect("put");
        }
    };
    let ns = unique_ns("lprun");
    let fw_index = format!("logs-cloudflare_logpush.firewall_event-{ns}");
    let rq_index = format!("logs-cloudflare_logpush.http_request-{ns}");
    let state = tmp.path().join("state");
    let out = tmp.path().join("out");
    let (port, mport) = (free_port(), free_port());
    let conf = tmp.path().join("cfship.yml");
    std::fs::write(
        &conf,
        format!(
            r#"logpush:
  listen: "127.0.0.1:{port}"
  secret: {{ header: X-Logpush-Secret, value: "${{LP_SECRET}}" }}
logpush_bucket:
  - url: s3://logs/cloudflare/http_requests/
    dataset: http_requests
    endpoint: {endpoint}
    access_key_id: ${{R2_KEY_ID}}
    secret_access_key: ${{R2_SECRET}}
    poll_interval: 1s
elasticsearch:
  hosts: ["{es}"]
  namespace: {ns}
file:
  path: {}/{{dataset}}.ndjson
state:
  dir: {}
metrics:
  listen: "127.0.0.1:{mport}"
"#,
            out.display(),
            state.display()
        ),
    )
    .expect("config");
    let envs = [
        ("LP_SECRET", PUSH_SECRET),
        ("R2_KEY_ID", KEY),
        ("R2_SECRET", SECRET),
    ];
    let log = tmp.path().join("cfship.log");
    let conf_s = conf.to_str().expect("path");

    // two days of objects before the start
    let mut bucket_records = 0u64;
    for (day, o) in [("20261130", 0), ("20261130", 1), ("20261201", 2)] {
        put(
            format!(
                "cloudflare/http_requests/{day}/{day}T00{o:02}00Z_{day}T00{o:02}30Z_{o:08x}.log.gz"
            ),
            gz(&requests(o * 300, 300)),
        )
        .await;
        bucket_records += 300;
    }
    let child =
        tokio::task::block_in_place(|| spawn_running(&["run", "--config", conf_s], &log, &envs));
    let mut child = Killed(child);

    // pushes: 6 batches, one delivered twice; a wrong secret; a body that is not gzip
    let pushed = tokio::task::block_in_place(|| {
        let mut pushed = 0u64;
        for b in 0..6 {
            let body = gz(&firewall(b * 250, 250));
            assert_eq!(
                post(port, PUSH_SECRET, Some("gzip"), body.clone()),
                200,
                "batch {b}"
            );
            if b == 3 {
                assert_eq!(
                    post(port, PUSH_SECRET, Some("gzip"), body),
                    200,
                    "re-delivery"
                );
            }
            pushed += 250;
        }
        assert_eq!(post(port, "wrong", Some("gzip"), gz(&firewall(0, 5))), 401);
        assert_eq!(
            post(port, PUSH_SECRET, Some("gzip"), b"not gzip at all".to_vec()),
            400
        );
        pushed
    });
    tokio::task::block_in_place(|| {
        wait_count(&es, &fw_index, pushed, &log);
        wait_count(&es, &rq_index, bucket_records, &log);
    });
    // a new object while running
    put(
        "cloudflare/http_requests/20261201/20261201T010000Z_20261201T010030Z_new.log.gz".into(),
        gz(&requests(5000, 120)),
    )
    .await;
    bucket_records += 120;
    tokio::task::block_in_place(|| wait_count(&es, &rq_index, bucket_records, &log));

    // the object is counted done after its checkpoint is saved, which may come a little after its
    // documents are searchable: wait for the count, then read every metric from one scrape
    let bucket = "{source=\"s3://logs/cloudflare/http_requests/\"}";
    let done_metric = format!("cfship_logpush_bucket_objects_done_total{bucket}");
    let m = tokio::task::block_in_place(|| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let m = metrics(mport);
            if sample(&m, &done_metric) == Some(4) || Instant::now() > deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    assert_eq!(
        sample(&m, "cfship_logpush_requests_total{outcome=\"accepted\"}"),
        Some(7),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            "cfship_logpush_requests_total{outcome=\"unauthorized\"}"
        ),
        Some(1)
    );
    assert_eq!(
        sample(&m, "cfship_logpush_requests_total{outcome=\"bad_request\"}"),
        Some(1)
    );
    assert_eq!(sample(&m, "cfship_logpush_spool_full"), Some(0));
    assert_eq!(sample(&m, &done_metric), Some(4), "{m}");
    assert_eq!(
        sample(
            &m,
            "cfship_events_indexed_total{dataset=\"logpush\",source=\"receiver\"}"
        ),
        Some(pushed)
    );
    assert_eq!(
        sample(
            &m,
            "cfship_events_duplicate_total{dataset=\"logpush\",source=\"receiver\"}"
        ),
        Some(250),
        "the re-delivered batch is counted as duplicates"
    );
    assert_eq!(
        sample(
            &m,
            &format!("cfship_logpush_bucket_pending_objects{bucket}")
        ),
        Some(0),
        "caught up"
    );
    assert_eq!(
        sample(&m, &format!("cfship_logpush_bucket_lag_seconds{bucket}")),
        Some(0)
    );
    assert!(sample(
        &m,
        &format!("cfship_logpush_bucket_last_pass_timestamp_seconds{bucket}")
    )
    .is_some_and(|t| t > 1_700_000_000));
    assert!(!m.contains(PUSH_SECRET) && !m.contains(SECRET));
    let h: serde_json::Value = tokio::task::block_in_place(|| {
        http()
            .get(format!("http://127.0.0.1:{mport}/healthz"))
            .send()
            .and_then(|r| r.json())
    })
    .expect("healthz");
    assert_eq!(h["status"], "ok", "{h}");
    let lp = h["logpush"].as_array().cloned().unwrap_or_default();
    assert!(
        lp.iter()
            .any(|s| s["source"] == "receiver" && s["spool_full"] == false),
        "{h}"
    );
    assert!(lp.iter().any(|s| s["objects_done"] == 4), "{h}");

    tokio::task::block_in_place(|| {
        sigterm(&child.0);
        let st = wait_for(
            &mut child.0,
            Duration::from_secs(60),
            "cfship run after SIGTERM",
            &log,
        );
        assert!(st.success(), "exit {st}; log:\n{}", tail(&log, 30));
    });
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !text.contains(PUSH_SECRET) && !text.contains(SECRET),
        "a secret in the log"
    );

    // --once: the new objects (a new day), read to the end, then exit; again: nothing new
    put(
        "cloudflare/http_requests/20261202/20261202T000000Z_20261202T000030Z_d3.log.gz".into(),
        gz(&requests(7000, 200)),
    )
    .await;
    bucket_records += 200;
    for round in 0..2 {
        tokio::task::block_in_place(|| {
            let mut c = spawn(&["run", "--once", "--config", conf_s], &log, &envs);
            let st = wait_for(&mut c, Duration::from_secs(120), "cfship run --once", &log);
            assert!(
                st.success(),
                "--once round {round}: {st}; log:\n{}",
                tail(&log, 30)
            );
            assert_eq!(es_count(&es, &rq_index), bucket_records, "round {round}");
        });
    }
    tokio::task::block_in_place(|| assert_eq!(es_count(&es, &fw_index), pushed));
    // the file output holds each document once
    for (name, want) in [
        ("logpush-firewall_event", pushed),
        ("logpush-http_request", bucket_records),
    ] {
        let lines = file_lines(&out.join(format!("{name}.ndjson")));
        let mut rays: Vec<String> = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|mut v| {
                if let Some(e) = v.get_mut("event").and_then(|e| e.as_object_mut()) {
                    e.remove("ingested");
                }
                v.to_string()
            })
            .collect();
        assert_eq!(lines.len() as u64, want, "{name}");
        rays.sort();
        rays.dedup();
        assert_eq!(rays.len() as u64, want, "{name}: a line twice");
    }
}

#[test]
fn config_errors_name_the_line_and_hide_secrets() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let check = |yaml: &str, want: &str| {
        let conf = tmp.path().join("bad.yml");
        std::fs::write(&conf, yaml).expect("write");
        let out = Command::new(BIN)
            .args(["run", "--once", "--config", conf.to_str().expect("path")])
            .env("LP_SECRET", "hunter2-secret")
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{yaml}");
        assert!(err.contains(want), "want {want:?} in {err}");
        assert!(!err.contains("hunter2-secret"), "{err}");
    };
    let es = "elasticsearch:\n  hosts: [\"http://127.0.0.1:1\"]\n";
    check(
        &format!("logpush:\n  listen: \"nope\"\n{es}"),
        "line 2: `logpush.listen` \"nope\" is not host:port",
    );
    check(
        &format!("logpush:\n  listen: \"127.0.0.1:0\"\n  secret: {{ header: \"X Bad\", value: ${{LP_SECRET}} }}\n{es}"),
        "`logpush.secret.header`",
    );
    check(
        &format!("logpush_bucket:\n  - url: s3://b/p/\n    dataset: nope\n{es}"),
        "line 3: `logpush_bucket.dataset` \"nope\" is not a Logpush data stream",
    );
    check(
        &format!("logpush_bucket:\n  - url: s3://b/p/\n    dataset: dns\n  - url: s3://c/p/\n    dataset: dns\n    start_date: 2026-12-01\n{es}"),
        "line 6: `logpush_bucket.start_date` \"2026-12-01\" is not a date YYYYMMDD",
    );
    check(
        &format!("logpush_bucket: []\n{es}"),
        "`logpush_bucket` is empty",
    );
    check(
        &format!("logpush:\n  listen: \"127.0.0.1:0\"\n  secrte: x\n{es}"),
        "secrte",
    );
}

/// A simulated Cloudflare (the jobs API and its pusher) pointed at `cfship run`: jobs created with
/// `cfship logpush create` against the running receiver (Cloudflare's validation upload), batches
/// pushed as Cloudflare does land in Elasticsearch exactly once; then one job is disabled and one
/// fails: `/metrics` shows it per job, the run logs an ERROR, `cfship check` prints FAIL lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_health_in_metrics_and_check_and_the_pusher_delivers() {
    use cfship_cloudflare_sim::logpush::{LogpushSim, PushPolicy};
    let test = "jobs_health_in_metrics_and_check_and_the_pusher_delivers";
    let Some(es) = engine_url("CFSHIP_ES8_URL", test) else {
        return;
    };
    const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";
    let token = "jobs-e2e-token";
    let sim = LogpushSim::new(
        token,
        None,
        PushPolicy {
            attempts: 3,
            backoff: Duration::from_millis(50),
            ..PushPolicy::default()
        },
    );
    let (api, _t) = sim
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("sim");
    let tmp = tempfile::tempdir().expect("tempdir");
    let ns = unique_ns("lpjobs");
    let index = format!("logs-cloudflare_logpush.http_request-{ns}");
    let (port, mport) = (free_port(), free_port());
    let conf = tmp.path().join("cfship.yml");
    std::fs::write(
        &conf,
        format!(
            r#"cloudflare:
  api_url: {api}
  api_token: ${{CF_TOKEN}}
logpush:
  listen: "127.0.0.1:{port}"
  secret: {{ value: "${{LP_SECRET}}" }}
logpush_jobs:
  zones: ["{ZONE}"]
  interval: 1s
elasticsearch:
  hosts: ["{es}"]
  namespace: {ns}
state:
  dir: {}
metrics:
  listen: "127.0.0.1:{mport}"
"#,
            tmp.path().join("state").display()
        ),
    )
    .expect("config");
    let envs = [("LP_SECRET", PUSH_SECRET), ("CF_TOKEN", token)];
    let log = tmp.path().join("cfship.log");
    let conf_s = conf.to_str().expect("path").to_string();
    let child =
        tokio::task::block_in_place(|| spawn_running(&["run", "--config", &conf_s], &log, &envs));
    let mut child = Killed(child);
    let create = |name: &str| {
        let out = Command::new(BIN)
            .args([
                "logpush",
                "create",
                "--zone",
                ZONE,
                "--dataset",
                "http_requests",
            ])
            .args([
                "--destination",
                &format!("http://127.0.0.1:{port}"),
                "--name",
                name,
            ])
            .env("CLOUDFLARE_API_TOKEN", token)
            .env("CLOUDFLARE_API_URL", &api)
            .env("LOGPUSH_SECRET", PUSH_SECRET)
            .output()
            .expect("cfship logpush create");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
    };
    tokio::task::block_in_place(|| {
        create("first");
        create("second");
    });
    let jobs = sim.jobs(&format!("zones/{ZONE}"));
    assert_eq!(jobs.len(), 2);
    let ids: Vec<u64> = jobs.iter().filter_map(|j| j["id"].as_u64()).collect();
    // Cloudflare's pusher: 8 batches of 150 records, the third one twice (a re-delivery)
    for b in 0..8usize {
        let recs: Vec<String> = String::from_utf8(requests(10_000 + b * 150, 150))
            .expect("utf8")
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(sim.push_batch(ids[0], &recs).await, Ok(true), "batch {b}");
        if b == 2 {
            assert_eq!(sim.push_batch(ids[0], &recs).await, Ok(true));
        }
    }
    let unique = 8 * 150;
    tokio::task::block_in_place(|| wait_count(&es, &index, unique, &log));
    assert_eq!(
        sim.delivered_records
            .load(std::sync::atomic::Ordering::Relaxed),
        unique + 150
    );

    // the first job starts failing, the second is disabled
    let later = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    sim.update_job(ids[0], |j| {
        j["last_error"] = serde_json::json!(later);
        j["error_message"] = serde_json::json!("error uploading: 502 Bad Gateway");
    });
    sim.update_job(ids[1], |j| j["enabled"] = serde_json::json!(false));
    let labels = |id: u64, name: &str| {
        format!("{{scope=\"zone\",scope_id=\"{ZONE}\",job_id=\"{id}\",dataset=\"http_requests\",name=\"{name}\"}}")
    };
    tokio::task::block_in_place(|| {
        let t = Instant::now();
        loop {
            let m = metrics(mport);
            let failing = sample(
                &m,
                &format!("cfship_logpush_job_failing{}", labels(ids[0], "first")),
            );
            let enabled = sample(
                &m,
                &format!("cfship_logpush_job_enabled{}", labels(ids[1], "second")),
            );
            if failing == Some(1) && enabled == Some(0) {
                assert_eq!(
                    sample(
                        &m,
                        &format!("cfship_logpush_job_healthy{}", labels(ids[1], "second"))
                    ),
                    Some(0)
                );
                assert!(!m.contains(PUSH_SECRET));
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "job gauges not updated:\n{m}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let h: serde_json::Value = http()
            .get(format!("http://127.0.0.1:{mport}/healthz"))
            .send()
            .and_then(|r| r.json())
            .expect("healthz");
        let jobs = h["logpush_jobs"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            jobs.iter().filter(|j| j["healthy"] == false).count(),
            2,
            "{h}"
        );
    });
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("Cloudflare Logpush job is not delivering"),
        "no ERROR line; log:\n{}",
        tail(&log, 30)
    );
    assert!(!text.contains(PUSH_SECRET), "a secret in the log");

    let out = tokio::task::block_in_place(|| {
        let mut c = Command::new(BIN);
        c.args(["check", "--config", &conf_s]);
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().expect("cfship check")
    });
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("[FAIL] logpush job")
            && l.contains(&format!("job {}", ids[1]))
            && l.contains("DISABLED")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("[FAIL] logpush job")
            && l.contains(&format!("job {}", ids[0]))
            && l.contains("FAILING since")
            && l.contains("502 Bad Gateway")),
        "{text}"
    );
    assert!(text.contains("[ ok ] logpush spool"), "{text}");
    assert!(!text.contains(PUSH_SECRET), "{text}");

    tokio::task::block_in_place(|| {
        sigterm(&child.0);
        let st = wait_for(
            &mut child.0,
            Duration::from_secs(60),
            "cfship run after SIGTERM",
            &log,
        );
        assert!(st.success(), "exit {st}; log:\n{}", tail(&log, 30));
        assert_eq!(es_count(&es, &index), unique);
    });
}
