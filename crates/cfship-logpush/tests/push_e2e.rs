//! Logpush end to end with the simulator as Cloudflare: `create` through cfship's client (the
//! validation upload, the dataset's fields, API errors), `list`, job health, `delete`; then the
//! simulated pusher delivers thousands of records in many batches into the receiver, with
//! duplicated deliveries, Elasticsearch restarted in the middle (a private instance), a job with a
//! wrong secret (dropped after its retries, then disabled), and a full spool (503, Retry-After,
//! healthz). Every record the simulator counts as delivered is in Elasticsearch exactly once.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use cfship_cloudflare::{Auth, ClientConfig, CloudflareClient, JobHealth, JobScope, NewJob};
use cfship_cloudflare_sim::logpush::{LogpushSim, PushPolicy};
use cfship_elasticsearch::BulkDocs;
use cfship_logpush::{
    serve, DocSink, EcsTransform, RawTransform, ReceiverConfig, SecretHeader, Shape, Spool,
};
use cfship_secret::Secret;
use common::*;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "sim-token";
const SECRET: &str = "push-s3cr3t";

fn script() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/search-engine.sh")
}

fn engine(action: &str) -> String {
    let out = std::process::Command::new("bash")
        .arg(script())
        .args([action, "es8", "--name", "push", "--port", "9213"])
        .output()
        .expect("search-engine.sh");
    assert!(
        out.status.success(),
        "search-engine.sh {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The private instance is stopped when the test ends, pass or fail.
struct Private;
impl Drop for Private {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(script())
            .args(["stop", "es8", "--name", "push", "--port", "9213"])
            .output();
    }
}

fn client(api: &str) -> CloudflareClient {
    let mut cfg = ClientConfig::with_api_url(api).expect("url");
    cfg.retry.max_attempts = 1;
    CloudflareClient::new(cfg).expect("client")
}

fn new_job(dest: String) -> NewJob {
    NewJob {
        dataset: "http_requests".into(),
        name: "cfship-test".into(),
        destination_conf: dest,
        fields: Vec::new(),
        timestamp_format: "rfc3339".into(),
        ownership_challenge: None,
        max_upload_bytes: None,
        max_upload_records: None,
        max_upload_interval_seconds: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_cloudflare_pushes_exactly_once_through_faults() {
    let test = "simulated_cloudflare_pushes_exactly_once_through_faults";
    if engine_url("CFSHIP_ES8_URL", test).is_none() {
        return;
    }
    let _private = Private;
    let es = engine("start");
    let tmp = tempfile::tempdir().expect("tempdir");
    let ns = unique_namespace("lpe");
    let sink = sink(&es, &ns, tmp.path()).await;
    let spool = Spool::open(tmp.path().join("spool"), 256 << 20).expect("spool");
    let mut cfg = ReceiverConfig::new("127.0.0.1:0".parse().expect("addr"));
    cfg.secret = Some(SecretHeader {
        header: "X-Logpush-Secret".into(),
        value: Secret::new(SECRET),
    });
    let base =
        cfship_ecs::Transformer::new(cfship_ecs::Options::default(), None).expect("transformer");
    let cancel = CancellationToken::new();
    let rx = serve(
        cfg,
        spool.clone(),
        Arc::new(EcsTransform::new(&base, &ns, Shape::Http)),
        cancel.clone(),
    )
    .await
    .expect("serve");
    let sink: Arc<dyn DocSink> = Arc::new(sink);
    let (s2, c2) = (spool.clone(), cancel.clone());
    tokio::spawn(async move {
        s2.drain(sink, 500, 4 << 20, Duration::from_millis(200), c2)
            .await
    });

    let sim = LogpushSim::new(
        TOKEN,
        None,
        PushPolicy {
            attempts: 3,
            backoff: Duration::from_millis(20),
            disable_after_drops: 2,
            timeout: Duration::from_secs(30),
        },
    );
    let (api, _t) = sim
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("sim");
    let cf = client(&api);
    let auth = Auth::Token(Secret::new(TOKEN));
    let zone = JobScope::Zone("023e105f4ecef8ad9ca31a8372d0c353".into());
    let dest = |secret: &str| {
        format!(
            "http://{}/cloudflare_logpush/http_request?header_Content-Type=application%2Fjson&header_X-Logpush-Secret={secret}",
            rx.local_addr
        )
    };

    // create: the validation upload reaches the receiver (200, nothing indexed); all fields asked
    let job = cf
        .create_logpush_job(&auth, &zone, &new_job(dest(SECRET)))
        .await
        .expect("create");
    assert!(job.enabled);
    assert_eq!(rx.stats.probes.load(Ordering::Relaxed), 1);
    let fields = job
        .output_options
        .as_ref()
        .and_then(|o| o["field_names"].as_array())
        .map(|a| a.len());
    assert_eq!(
        fields,
        Some(
            cf.logpush_fields(&auth, &zone, "http_requests")
                .await
                .expect("fields")
                .len()
        )
    );
    // API errors: a destination that refuses the validation upload, an unknown dataset, a wrong token
    let e = cf
        .create_logpush_job(&auth, &zone, &new_job(dest("wrong")))
        .await
        .expect_err("refused");
    assert!(
        e.to_string().contains("error validating destination"),
        "{e}"
    );
    let mut bad = new_job(dest(SECRET));
    bad.dataset = "no_such_dataset".into();
    let e = cf
        .create_logpush_job(&auth, &zone, &bad)
        .await
        .expect_err("bad dataset");
    assert!(e.to_string().contains("no_such_dataset"), "{e}");
    assert!(cf
        .logpush_jobs(&Auth::Token(Secret::new("nope")), &zone)
        .await
        .is_err());

    // a job whose secret is wrong (the secret was rotated on the receiver): its batches fail
    let wrong_id = {
        let j = cf
            .create_logpush_job(&auth, &zone, &new_job(dest(SECRET)))
            .await
            .expect("create");
        sim.update_job(j.id, |v| {
            v["destination_conf"] = serde_json::json!(dest("rotated"))
        });
        j.id
    };

    // 40 batches x 100 records; every 5th delivered twice (a re-send after a lost response);
    // Elasticsearch is stopped after batch 15 and started again after batch 30
    let mut all = Vec::new();
    for b in 0..40usize {
        let recs = records("e2e", b * 100, 100);
        assert!(
            sim.push_batch(job.id, &recs).await.expect("push"),
            "batch {b}"
        );
        if b % 5 == 0 {
            assert!(sim.push_batch(job.id, &recs).await.expect("push"));
        }
        all.extend(recs);
        if b == 15 {
            engine("stop");
        }
        if b == 30 {
            assert!(
                spool.status().segments > 0,
                "batches wait in the spool while Elasticsearch is down"
            );
            engine("start");
        }
    }
    // the wrong-secret job: dropped after its retries, failing, then disabled
    assert!(!sim
        .push_batch(wrong_id, &records("lost", 0, 10))
        .await
        .expect("push"));
    let jobs = cf.logpush_jobs(&auth, &zone).await.expect("list");
    let w = jobs.iter().find(|j| j.id == wrong_id).expect("job");
    assert!(matches!(w.health(), JobHealth::Failing { .. }), "{w:?}");
    assert!(!sim
        .push_batch(wrong_id, &records("lost", 10, 10))
        .await
        .expect("push"));
    let jobs = cf.logpush_jobs(&auth, &zone).await.expect("list");
    assert_eq!(
        jobs.iter().find(|j| j.id == wrong_id).map(|j| j.health()),
        Some(JobHealth::Disabled)
    );
    assert_eq!(
        jobs.iter().find(|j| j.id == job.id).map(|j| j.health()),
        Some(JobHealth::Healthy)
    );
    assert!(rx.stats.unauthorized.load(Ordering::Relaxed) >= 6);

    // every record the simulator counts as delivered is in Elasticsearch exactly once
    let spool2 = spool.clone();
    wait_until("the spool to drain", 300, move || {
        spool2.status().segments == 0
    })
    .await;
    let index = format!("logs-cloudflare_logpush.http_request-{ns}");
    let delivered = sim.delivered();
    assert_eq!(delivered.len(), 4800);
    let mut uniq = delivered.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), all.len());
    assert_eq!(count(&es, &index, None).await, all.len() as u64);
    assert_eq!(sim.dropped_records.load(Ordering::Relaxed), 20);

    // delete
    cf.delete_logpush_job(&auth, &zone, wrong_id)
        .await
        .expect("delete");
    let e = cf
        .delete_logpush_job(&auth, &zone, wrong_id)
        .await
        .expect_err("gone");
    assert!(e.to_string().contains("not found"), "{e}");
    assert_eq!(cf.logpush_jobs(&auth, &zone).await.expect("list").len(), 1);
    cancel.cancel();
}

/// Never acknowledges (Elasticsearch down for good).
struct Down;
impl DocSink for Down {
    fn index(&self, _docs: BulkDocs) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Err("connection refused".to_string()) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_spool_answers_503_and_cloudflare_drops_after_its_retries() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(tmp.path(), 3 << 20).expect("spool");
    let cancel = CancellationToken::new();
    let rx = serve(
        ReceiverConfig::new("127.0.0.1:0".parse().expect("addr")),
        spool.clone(),
        Arc::new(RawTransform::new("t")),
        cancel.clone(),
    )
    .await
    .expect("serve");
    let (s2, c2) = (spool.clone(), cancel.clone());
    tokio::spawn(async move {
        s2.drain(Arc::new(Down), 100, 1 << 20, Duration::from_millis(50), c2)
            .await
    });
    let sim = LogpushSim::new(
        TOKEN,
        None,
        PushPolicy {
            attempts: 2,
            backoff: Duration::from_millis(10),
            disable_after_drops: 100,
            timeout: Duration::from_secs(30),
        },
    );
    let (api, _t) = sim
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("sim");
    let cf = client(&api);
    let auth = Auth::Token(Secret::new(TOKEN));
    let zone = JobScope::Zone("z1".into());
    let job = cf
        .create_logpush_job(
            &auth,
            &zone,
            &new_job(format!(
                "http://{}/cloudflare_logpush/http_request",
                rx.local_addr
            )),
        )
        .await
        .expect("create");
    let mut accepted = 0;
    let mut dropped = 0;
    for b in 0..200usize {
        if sim
            .push_batch(job.id, &records("full", b * 500, 500))
            .await
            .expect("push")
        {
            accepted += 1;
        } else {
            dropped += 1;
            break;
        }
    }
    assert!(accepted > 0 && dropped == 1, "{accepted} accepted");
    assert!(spool.status().full());
    let r = reqwest::get(format!("http://{}/healthz", rx.local_addr))
        .await
        .expect("healthz");
    assert_eq!(r.status().as_u16(), 503);
    let direct = reqwest::Client::new()
        .post(format!(
            "http://{}/cloudflare_logpush/http_request",
            rx.local_addr
        ))
        .body(ndjson(&records("x", 0, 1)))
        .send()
        .await
        .expect("post");
    assert_eq!(direct.status().as_u16(), 503);
    assert_eq!(
        direct
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("10")
    );
    let mut metrics = String::new();
    rx.stats.render(&spool, &mut metrics);
    assert!(metrics.contains("cfship_logpush_spool_full 1"), "{metrics}");
    assert!(
        metrics.contains("cfship_logpush_spool_sink_failing 1"),
        "{metrics}"
    );
    // nothing acknowledged was lost: every accepted batch is still in the spool
    assert_eq!(spool.status().pending_docs, accepted * 500);
    cancel.cancel();
}
