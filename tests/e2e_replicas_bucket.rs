//! Issue 14: a Logpush bucket source is leased like a Logpull zone or an audit account. Two
//! replicas of `cfship run` (the real binary) on one state index (lease TTL 3 s), one bucket (a
//! real S3 server: s3s-fs) holding many objects of gzipped NDJSON over two days. Exactly one
//! replica reads it (the other's bucket counters stay at 0 and it never takes the lease); the
//! owner is SIGKILLed while objects remain; the other takes the lease over (the time is printed
//! next to TTL + the poll interval) and reads the rest from the owner's last checkpoint. Every
//! version of the cursor document that moved the cursor was written by the replica that already
//! held the lease, the cursor never moves back, the owners follow one another (never back);
//! `cfship status` shows the bucket's owner and checkpoint; at the end Elasticsearch holds every
//! record exactly once (by `_id` and in total).

mod common;
use common::*;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStoreExt, PutPayload};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const KEY: &str = "cfshipreplkey";
const SECRET: &str = "cfshipreplsecret";
const URL: &str = "s3://logs/cloudflare/http_requests/";
const DAYS: [&str; 2] = ["20261201", "20261202"];
const OBJECTS_PER_DAY: usize = 30;
const RECORDS_PER_OBJECT: usize = 200;
const TTL_MS: u64 = 3000;
const POLL_MS: u64 = 1000;

/// `n` HTTP requests from number `from`: one NDJSON line each, RayID `rb<12 hex digits>`.
fn requests(from: usize, n: usize) -> Vec<u8> {
    http_request_lines("rb", from, n)
}

fn ray(i: usize) -> String {
    format!("rb{i:012x}")
}

/// One observed version of the bucket's cursor document.
#[derive(Debug, Clone)]
struct Version {
    version: u64,
    owner: Option<String>,
    lease_expires_ms: u64,
    saved_at_ms: u64,
    /// Objects recorded as done.
    done: usize,
}

fn version_of(d: &Value) -> Option<Version> {
    let src = &d["_source"];
    Some(Version {
        version: d["_version"].as_u64()?,
        owner: src["owner"].as_str().map(str::to_string),
        lease_expires_ms: src["lease_expires_unix_ms"].as_u64().unwrap_or(0),
        saved_at_ms: src["saved_at_unix_ms"].as_u64().unwrap_or(0),
        done: src["cursor"]["done"]
            .as_object()
            .map(|m| m.values().map(|v| v.as_array().map_or(0, Vec::len)).sum())
            .unwrap_or(0),
    })
}

/// The cursor document now (a real-time get); `None` before it exists.
fn cursor_doc(es: &str, index: &str, key: &str) -> Option<Version> {
    let d: Value = http()
        .get(format!("{es}/{index}/_doc/{key}"))
        .send()
        .ok()?
        .json()
        .ok()?;
    if d["found"].as_bool() != Some(true) {
        return None;
    }
    version_of(&d)
}

/// Polls the cursor document every 25 ms until `stop`, recording every new version.
fn watch(
    es: String,
    index: String,
    key: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<Version>> {
    std::thread::spawn(move || {
        let mut seen: Vec<Version> = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if let Some(v) = cursor_doc(&es, &index, &key) {
                if seen.last().map(|l| l.version) != Some(v.version) {
                    seen.push(v);
                }
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        seen
    })
}

fn metrics(port: u16) -> String {
    http()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default()
}

/// The bucket's `objects_done` counter on a replica's `/metrics` (`None`: not answering).
fn objects_done(port: u16) -> Option<u64> {
    let m = metrics(port);
    let line = format!("cfship_logpush_bucket_objects_done_total{{source=\"{URL}\"}} ");
    m.lines()
        .find_map(|l| l.strip_prefix(line.as_str()))
        .and_then(|v| v.trim().parse().ok())
}

/// Every `_id` of `index` (with multiplicity).
fn all_ids(es: &str, index: &str) -> Vec<String> {
    refresh(es, index);
    let c = http();
    let mut body: Value = c
        .post(format!("{es}/{index}/_search?scroll=2m"))
        .json(&serde_json::json!({"size": 5000, "_source": false, "query": {"match_all": {}}}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut out = Vec::new();
    loop {
        let hits = body["hits"]["hits"].as_array().cloned().unwrap_or_default();
        if hits.is_empty() {
            break;
        }
        out.extend(
            hits.iter()
                .filter_map(|h| h["_id"].as_str().map(str::to_string)),
        );
        let sid = body["_scroll_id"].as_str().unwrap_or_default().to_string();
        body = c
            .post(format!("{es}/_search/scroll"))
            .json(&serde_json::json!({"scroll": "2m", "scroll_id": sid}))
            .send()
            .unwrap()
            .json()
            .unwrap();
    }
    out
}

fn config(es: &str, ns: &str, index: &str, endpoint: &str, state: &Path, mport: u16) -> String {
    format!(
        r#"logpush_bucket:
  - url: {URL}
    dataset: http_requests
    endpoint: {endpoint}
    access_key_id: {KEY}
    secret_access_key: {SECRET}
    poll_interval: {}s
elasticsearch:
  hosts: ["{es}"]
  namespace: {ns}
  dead_letter_path: {}
state:
  dir: {}
  backend: elasticsearch
  index: {index}
  lease_ttl: {}s
metrics:
  listen: "127.0.0.1:{mport}"
"#,
        POLL_MS / 1000,
        state.join("dead-letter.ndjson").display(),
        state.display(),
        TTL_MS / 1000,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_reads_a_bucket_and_another_takes_it_over() {
    let test = "one_replica_reads_a_bucket_and_another_takes_it_over";
    let Some(es) = engine_url("CFSHIP_ES8_URL", test) else {
        return;
    };
    let Some(bin) = cfship_cloudflare_sim::s3s_fs::binary(test) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let TestBucket {
        s3,
        endpoint,
        config: bc,
        store,
    } = TestBucket::start(
        &bin,
        &tmp.path().join("s3"),
        URL,
        "http_request",
        KEY,
        SECRET,
    );
    let key = bc.state_key();
    let objects = DAYS.len() * OBJECTS_PER_DAY;
    let records = objects * RECORDS_PER_OBJECT;
    let mut n = 0;
    for day in DAYS {
        for o in 0..OBJECTS_PER_DAY {
            let k = format!(
                "cloudflare/http_requests/{day}/{day}T{:02}{:02}00Z_{day}T{:02}{:02}30Z_{o:08x}.log.gz",
                o / 60,
                o % 60,
                o / 60,
                o % 60
            );
            store
                .put(
                    &ObjPath::from(k.as_str()),
                    PutPayload::from(gz(&requests(n, RECORDS_PER_OBJECT))),
                )
                .await
                .expect("put");
            n += RECORDS_PER_OBJECT;
        }
    }
    assert_eq!(n, records);

    let ns = unique_ns("rbk");
    let index = format!("cfship-state-{ns}");
    let data = format!("logs-cloudflare_logpush.http_request-{ns}");
    let state = tmp.path().join("state");
    let ports = [free_port(), free_port()];
    let confs: Vec<String> = ["a", "b"]
        .iter()
        .zip(ports)
        .map(|(r, p)| {
            let c = tmp.path().join(format!("cfship-{r}.yml"));
            std::fs::write(&c, config(&es, &ns, &index, &endpoint, &state, p)).expect("config");
            c.to_str().expect("path").to_string()
        })
        .collect();
    let logs = [tmp.path().join("a.log"), tmp.path().join("b.log")];
    let started = Instant::now();
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(BIN)
            .args(["setup", "--config", &confs[0]])
            .output()
            .expect("setup");
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = watch(es.clone(), index.clone(), key.clone(), stop.clone());
        // both replicas at the same instant
        let mut replicas: Vec<Option<Killed>> = ["a", "b"]
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let c = spawn(
                    &["run", "--config", &confs[i]],
                    &logs[i],
                    &[("CFSHIP_REPLICA_ID", r)],
                );
                Some(Killed(c))
            })
            .collect();
        let logs_tail =
            |n: usize| format!("a:\n{}\n----\nb:\n{}", tail(&logs[0], n), tail(&logs[1], n));
        // the owner has checkpointed a few objects: it is read by one replica only
        let t = Instant::now();
        let first = loop {
            if let Some(v) = cursor_doc(&es, &index, &key).filter(|v| v.done >= 5) {
                break v;
            }
            assert!(
                t.elapsed() < Duration::from_secs(45),
                "no replica read the bucket; logs:\n{}",
                logs_tail(30)
            );
            std::thread::sleep(Duration::from_millis(25));
        };
        let owner = first.owner.clone().expect("the cursor names its owner");
        let (x, y) = match owner.as_str() {
            "a" => (0, 1),
            "b" => (1, 0),
            o => panic!("unknown owner {o}"),
        };
        let other = ["a", "b"][y];
        let done_by_owner = objects_done(ports[x]).expect("owner's /metrics");
        let done_by_other = objects_done(ports[y]).expect("other's /metrics");
        assert!(done_by_owner > 0, "owner {owner} counted no object");
        assert_eq!(
            done_by_other,
            0,
            "{other} read the bucket while {owner} held it; logs:\n{}",
            logs_tail(30)
        );
        // SIGKILL the owner while objects remain
        let before_kill = std::fs::read_to_string(&logs[y]).unwrap_or_default();
        if let Some(mut k) = replicas[x].take() {
            k.0.kill().expect("SIGKILL");
            let _ = k.0.wait();
        }
        let killed = Instant::now();
        let at_kill = cursor_doc(&es, &index, &key).expect("cursor");
        assert!(
            at_kill.done < objects,
            "every object was read before the kill: make the bucket larger"
        );
        assert!(
            !before_kill.contains("lease taken"),
            "{other} took the lease while {owner} held it:\n{before_kill}"
        );
        // the other replica takes the lease over
        let takeover = loop {
            let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
            if cursor_doc(&es, &index, &key)
                .is_some_and(|v| v.owner.as_deref() == Some(other) && v.lease_expires_ms > now)
            {
                break killed.elapsed();
            }
            assert!(
                killed.elapsed() < Duration::from_secs(30),
                "{other} did not take the bucket over; log:\n{}",
                tail(&logs[y], 30)
            );
            std::thread::sleep(Duration::from_millis(25));
        };
        println!(
            "bucket take-over after SIGKILL: {takeover:?} (lease TTL {TTL_MS} ms + poll interval \
             {POLL_MS} ms = {} ms); {} of {objects} objects were done at the kill",
            TTL_MS + POLL_MS,
            at_kill.done
        );
        // and reads every object left, from the owner's last checkpoint
        let t = Instant::now();
        loop {
            if cursor_doc(&es, &index, &key).is_some_and(|v| v.done == objects) {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(45),
                "{other} did not finish the bucket; log:\n{}",
                tail(&logs[y], 30)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let by_other = objects_done(ports[y]).expect("other's /metrics");
        assert!(by_other > 0, "{other} read nothing after the take-over");
        assert_eq!(
            by_other,
            (objects - at_kill.done) as u64,
            "{other} read {by_other} objects, not the {} left at the owner's last checkpoint",
            objects - at_kill.done
        );
        let other_log = std::fs::read_to_string(&logs[y]).unwrap_or_default();
        assert!(
            other_log.contains("lease taken") && other_log.contains("logpush bucket"),
            "{}",
            tail(&logs[y], 30)
        );

        // `cfship status` (from the state index): the bucket's owner and checkpoint, and the
        // last success its owner reported (at a renewal after the pass that read the last object)
        let t = Instant::now();
        let text = loop {
            let out = std::process::Command::new(BIN)
                .args(["status", "--config", &confs[y]])
                .output()
                .expect("status");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(out.status.success(), "{text}");
            if text.contains("    last success 20") {
                break text;
            }
            assert!(t.elapsed() < Duration::from_secs(20), "{text}");
            std::thread::sleep(Duration::from_millis(300));
        };
        let row: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with(&format!("logpush bucket {URL} http_request")))
            .take(2)
            .collect();
        assert_eq!(row.len(), 2, "{text}");
        assert!(
            row[0].contains(&format!("{objects} objects done after it"))
                && row[0].contains(&format!(" {other} (lease until ")),
            "{text}"
        );
        assert!(
            row[1].starts_with("    last success 20") && row[1].contains(&format!("(by {other})")),
            "{text}"
        );
        assert!(
            text.contains(&format!("replicas holding leases: {other}\n")),
            "{text}"
        );
        assert!(!text.contains(SECRET), "{text}");

        // SIGTERM: a clean exit that gives the lease up
        if let Some(mut k) = replicas[y].take() {
            sigterm(&k.0);
            let st = wait_for(
                &mut k.0,
                Duration::from_secs(30),
                "replica after SIGTERM",
                &logs[y],
            );
            assert!(st.success(), "{}", tail(&logs[y], 30));
        }
        std::thread::sleep(Duration::from_millis(100));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let history = watcher.join().expect("watcher");

        // the cursor document's history: the cursor only moves forward, and only under the lease
        // its writer already held; the owners follow one another and never come back
        assert!(history.len() >= 5, "{history:?}");
        let mut moved_checked = 0;
        for w in history.windows(2) {
            let (v1, v2) = (&w[0], &w[1]);
            assert!(
                v2.done >= v1.done,
                "the cursor moved back: {v1:?} -> {v2:?}"
            );
            if v2.done > v1.done && v2.version == v1.version + 1 {
                moved_checked += 1;
                assert!(
                    v1.owner.is_some() && v1.owner == v2.owner,
                    "the cursor was moved by {:?} while {:?} held the lease: {v1:?} -> {v2:?}",
                    v2.owner,
                    v1.owner
                );
                assert!(
                    v1.lease_expires_ms >= v2.saved_at_ms,
                    "the cursor was moved after the writer's lease expired: {v1:?} -> {v2:?}"
                );
            }
        }
        assert!(
            moved_checked > 0,
            "no consecutive versions seen: {history:?}"
        );
        let mut owners: Vec<&str> = history.iter().filter_map(|v| v.owner.as_deref()).collect();
        owners.dedup();
        assert_eq!(owners, [owner.as_str(), other], "{history:?}");
        assert_eq!(
            history.last().map(|v| v.lease_expires_ms),
            Some(0),
            "released at SIGTERM"
        );

        // Elasticsearch: every record exactly once
        let ids = all_ids(&es, &data);
        let mut distinct = ids.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(ids.len(), records, "documents in {data}");
        assert_eq!(distinct.len(), records, "distinct _ids in {data}");
        let got = all_values(&es, &data, "cloudflare_logpush.http_request.ray.id");
        let mut want: Vec<String> = (0..records).map(ray).collect();
        want.sort();
        assert_same_ids("RayIDs in Elasticsearch", &got, &want);
        println!(
            "{records} records in {objects} objects, {} cursor versions seen, {moved_checked} \
             cursor moves checked; test took {:?}",
            history.len(),
            started.elapsed()
        );
    })
    .await
    .expect("test body");
    drop(s3);
}
