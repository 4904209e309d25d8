//! Destructive tests on dedicated Elasticsearch 8 instances started by `scripts/search-engine.sh`
//! (`--name restart --port 9210`, `--name q429 --port 9211`). They run when `CFSHIP_ES8_URL` is set
//! (the engine is installable here); otherwise `SKIPPED:` (a failure when `CI=true`).

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

use cfship_elasticsearch::{
    data_stream_name, template_body, ElasticsearchSink, EsError, IndexTemplate, SinkStats,
    TemplateOutcome, TEMPLATE_VERSION,
};

/// Stops a dedicated instance when the test ends, pass or fail.
struct Instance {
    args: Vec<String>,
}

impl Instance {
    async fn start(name: &str, port: u16, settings: &str) -> (Instance, String) {
        let port = port.to_string();
        let args: Vec<String> = ["es8", "--name", name, "--port", &port]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut start = vec!["start"];
        start.extend(args.iter().map(String::as_str));
        let url = run_script(&start, &[("CFSHIP_SEARCH_SETTINGS", settings)]).await;
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        (Instance { args }, url)
    }
    async fn stop(&self) {
        let mut a = vec!["stop"];
        a.extend(self.args.iter().map(String::as_str));
        run_script(&a, &[]).await;
    }
    async fn restart(&self) {
        let mut a = vec!["start"];
        a.extend(self.args.iter().map(String::as_str));
        run_script(&a, &[]).await;
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(script())
            .arg("stop")
            .args(&self.args)
            .output();
    }
}

/// `n` distinct logpull documents derived from the golden ones.
fn synthetic_docs(ns: &str, n: usize, tag: &str) -> Vec<Value> {
    let golden = golden_docs("logpull", ns);
    (0..n)
        .map(|i| {
            let mut d = golden[i % golden.len()].clone();
            d["cloudflare"]["ray_id"] = json!(format!("{tag}{i:012x}"));
            d["event"]["id"] = json!(format!("{tag}-{i}"));
            d
        })
        .collect()
}

async fn wait_for(stats: &SinkStats, what: &str, min: u64, f: impl Fn(&SinkStats) -> u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while f(stats) < min {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Elasticsearch stopped while `index()` is running, then started again: every document arrives once.
/// Then: stopped again, `shutdown()` makes a retrying `index()` give up with `ShuttingDown`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es8_restart_mid_run_loses_nothing_and_duplicates_nothing() {
    let test = "es8_restart_mid_run_loses_nothing_and_duplicates_nothing";
    if engine_url("CFSHIP_ES8_URL", test).is_none() {
        return;
    }
    init_tracing();
    let (inst, url) = Instance::start("restart", 9210, "").await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let ns = unique_namespace("restart");
    let mut cfg = config(&url, &ns, tmp.path().join("dead.ndjson"));
    cfg.batch.max_docs = 100;
    cfg.timeout = Duration::from_secs(5);
    let sink = ElasticsearchSink::connect(cfg).await.expect("connect");
    sink.ensure_templates().await.expect("templates");
    template_versions_and_fleet_precedence(&sink, &url, &ns).await;
    let index = data_stream_name("logpull", &ns);

    let first = synthetic_docs(&ns, 300, "a");
    let ack = sink
        .index(requests(&index, &first))
        .await
        .expect("index before stop");
    assert_eq!(ack.created + ack.duplicates, 300, "{ack:?}");
    assert_eq!(Es::new(&url).count(&index, None).await, 300);

    inst.stop().await;
    let second = synthetic_docs(&ns, 2000, "b");
    let reqs = requests(&index, &second);
    let stats = sink.stats();
    let s2 = sink.clone();
    let task = tokio::spawn(async move { s2.index(reqs).await });
    // index() is retrying against the stopped node
    wait_for(&stats, "connection failures", 3, |s| {
        s.bulk_requests_transport_error.load(Ordering::Relaxed)
    })
    .await;
    assert!(!task.is_finished());
    inst.restart().await;
    let ack = tokio::time::timeout(Duration::from_secs(240), task)
        .await
        .expect("index() finished after the restart")
        .expect("task")
        .expect("index ok");
    assert_eq!(ack.created + ack.duplicates, 2000, "{ack:?}");
    assert_eq!(ack.dead_lettered, 0);
    assert!(stats.request_retries.load(Ordering::Relaxed) >= 3);
    let es = Es::new(&url);
    // 2300 distinct _ids were sent: the count proves none missing and none twice
    assert_eq!(es.count(&index, None).await, 2300);
    let agg = es
        .req(
            reqwest::Method::POST,
            &format!("/{index}/_search"),
            Some(json!({"size": 0, "aggs": {"ids": {"cardinality": {"field": "cloudflare.ray_id", "precision_threshold": 40000}}}})),
        )
        .await;
    assert_eq!(
        agg.1["aggregations"]["ids"]["value"],
        json!(2300),
        "{}",
        agg.1
    );

    // shutdown() makes pending retries give up
    inst.stop().await;
    let third = requests(&index, &synthetic_docs(&ns, 50, "c"));
    let before = stats.bulk_requests_transport_error.load(Ordering::Relaxed);
    let s3 = sink.clone();
    let task = tokio::spawn(async move { s3.index(third).await });
    wait_for(&stats, "more connection failures", before + 2, |s| {
        s.bulk_requests_transport_error.load(Ordering::Relaxed)
    })
    .await;
    sink.shutdown();
    let res = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("index() gave up promptly")
        .expect("task");
    assert!(matches!(res, Err(EsError::ShuttingDown)), "{res:?}");
    drop(inst);
}

/// A node with a tiny write thread pool rejects bulk items with 429 (`es_rejected_execution_exception`):
/// they are retried and nothing is lost. The same node refuses bodies over 64 KiB with 413: such
/// batches are split until they fit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es8_write_queue_rejections_are_retried() {
    let test = "es8_write_queue_rejections_are_retried";
    if engine_url("CFSHIP_ES8_URL", test).is_none() {
        return;
    }
    init_tracing();
    let (inst, url) = Instance::start(
        "q429",
        9211,
        "thread_pool.write.size=1 thread_pool.write.queue_size=1 http.max_content_length=64kb",
    )
    .await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let ns = unique_namespace("q");
    let mut cfg = config(&url, &ns, tmp.path().join("dead.ndjson"));
    cfg.batch.max_docs = 30; // ~150 KiB of logpull documents: over the 64 KiB limit
    cfg.max_in_flight = 32;
    let sink = ElasticsearchSink::connect(cfg).await.expect("connect");
    sink.ensure_templates().await.expect("templates");
    let index = data_stream_name("logpull", &ns);
    let docs = synthetic_docs(&ns, 1500, "q");
    let ack = sink.index(requests(&index, &docs)).await.expect("index");
    assert_eq!(
        (ack.created + ack.duplicates, ack.dead_lettered),
        (1500, 0),
        "{ack:?}"
    );
    let stats = sink.stats();
    let rejected = stats.item_retries.load(Ordering::Relaxed)
        + stats.bulk_requests_429.load(Ordering::Relaxed);
    assert!(
        rejected > 0,
        "the small write queue should have rejected something: {stats:?}"
    );
    assert_eq!(Es::new(&url).count(&index, None).await, 1500);
    eprintln!("{test}: {rejected} rejections retried");
    drop(inst);
}

/// Template upgrade rules and a Fleet-like template with a higher priority (on the dedicated instance:
/// template names are cluster-wide).
async fn template_versions_and_fleet_precedence(sink: &ElasticsearchSink, url: &str, ns: &str) {
    let es = Es::new(url);
    let ds = IndexTemplate::Audit;
    let name = ds.template_name();
    let put = |body: Value| {
        let es = &es;
        let name = name.clone();
        async move {
            let (s, b) = es
                .req(
                    reqwest::Method::PUT,
                    &format!("/_index_template/{name}"),
                    Some(body),
                )
                .await;
            assert_eq!(s, 200, "{b}");
        }
    };
    let ours = template_body(ds, sink.backend());
    let with_version = |v: u64| {
        let mut b = ours.clone();
        b["version"] = json!(v);
        b["_meta"]["version"] = json!(v);
        b
    };
    // an older cfship template is upgraded
    put(with_version(0)).await;
    let out = sink.ensure_templates().await.expect("ensure");
    assert!(
        out.iter().any(
            |o| matches!(o, TemplateOutcome::Upgraded { name: n, from: Some(0), .. } if *n == name)
        ),
        "{out:?}"
    );
    // a newer one (newer cfship, or the user's) is left alone, and `check` accepts it
    put(with_version(TEMPLATE_VERSION + 98)).await;
    let out = sink.ensure_templates().await.expect("ensure");
    assert!(out.iter().any(|o| matches!(o, TemplateOutcome::KeptNewer { installed, .. } if *installed == TEMPLATE_VERSION + 98)), "{out:?}");
    let (_, b) = es
        .req(
            reqwest::Method::GET,
            &format!("/_index_template/{name}"),
            None,
        )
        .await;
    assert_eq!(
        b["index_templates"][0]["index_template"]["_meta"]["version"],
        json!(TEMPLATE_VERSION + 98)
    );
    let checks = sink.check().await;
    let c = checks
        .iter()
        .find(|c| c.name == format!("template {name}"))
        .expect("template check");
    assert!(c.ok && c.detail.contains("newer"), "{c:?}");
    put(ours.clone()).await;
    let out = sink.ensure_templates().await.expect("ensure");
    assert!(
        out.iter()
            .all(|o| matches!(o, TemplateOutcome::Unchanged { .. })),
        "{out:?}"
    );

    // Fleet's template (priority 200, same pattern, a default ingest pipeline) wins for new data streams;
    // cfship's documents are still indexed once, without running that pipeline (pipeline=_none).
    let fleet = json!({
        "index_patterns": [ds.index_pattern()],
        "priority": 200,
        "data_stream": {},
        "template": {
            "settings": {"index.default_pipeline": "logs-cloudflare.audit-2.22.0"},
            "mappings": {"properties": {"cloudflare": {"properties": {"audit": {"properties": {
                "owner": {"properties": {"id": {"type": "keyword"}}}}}}}}}
        }
    });
    let (s, b) = es
        .req(
            reqwest::Method::PUT,
            &format!("/_index_template/{}", ds.fleet_template_name()),
            Some(fleet),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let checks = sink.check().await;
    assert!(
        checks
            .iter()
            .any(|c| c.name.starts_with("template precedence")
                && c.detail.contains(&ds.fleet_template_name())),
        "{checks:#?}"
    );
    let index = data_stream_name("audit", ns);
    let docs = golden_docs("audit", ns);
    let ack = sink
        .index(requests(&index, &docs))
        .await
        .expect("index under Fleet's template");
    // (a request that timed out after Elasticsearch indexed it comes back as duplicates)
    assert_eq!(ack.created + ack.duplicates, docs.len() as u64, "{ack:?}");
    assert_eq!(es.count(&index, None).await, docs.len() as u64);
    let (s, b) = es
        .req(reqwest::Method::GET, &format!("/{index}/_settings"), None)
        .await;
    assert_eq!(s, 200);
    let settings = b
        .as_object()
        .and_then(|m| m.values().next())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        settings["settings"]["index"]["default_pipeline"],
        json!("logs-cloudflare.audit-2.22.0")
    );
}
