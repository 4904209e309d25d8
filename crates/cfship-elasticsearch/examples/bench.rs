//! Indexing benchmark: N logpull documents (derived from the golden ones, distinct ray ids) into a real
//! Elasticsearch through the sink at default settings; prints events/s, cfship CPU seconds and peak RSS
//! next to Elasticsearch's CPU seconds for the same run.
//!
//! ```text
//! scripts/search-engine.sh start es8
//! cargo run --release -p cfship-elasticsearch --example bench -- [URL] [DOCS] [WORKERS]
//! ```
//! URL defaults to `$CFSHIP_ES8_URL` or http://127.0.0.1:9200, DOCS to 1000000, WORKERS (concurrent
//! `index()` callers) to the sink's `max_in_flight`.

use std::path::PathBuf;
use std::time::Instant;

use bytes::Bytes;
use cfship_elasticsearch::{data_stream_name, Batcher, ElasticsearchSink, EsConfig, IndexRequest};
use serde_json::{json, Value};

const PLACEHOLDER: &str = "RAYPLACEHOLDER00000000";

fn golden_templates(ns: &str) -> Result<Vec<Vec<u8>>, Box<dyn std::error::Error>> {
    let dir = {
        let base = std::env::var("CFSHIP_GOLDEN_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden")
            });
        // CFSHIP_GOLDEN_DIR may name `…/golden` or `…/golden/elastic-cloudflare`
        if base.join("elastic-cloudflare").is_dir() {
            base.join("elastic-cloudflare")
        } else {
            base
        }
    };
    let text = std::fs::read_to_string(dir.join("logpull/test-http-json.log-expected.json"))?;
    let v: Value = serde_json::from_str(&text)?;
    let docs = v["expected"].as_array().ok_or("no expected array")?;
    let mut out = Vec::new();
    for d in docs.iter().filter(|d| !d.is_null()) {
        let mut d = d.clone();
        d["cloudflare"]["ray_id"] = json!(PLACEHOLDER);
        d["data_stream"] =
            json!({"type": "logs", "dataset": "cloudflare.logpull", "namespace": ns});
        d["event"]["dataset"] = json!("cloudflare.logpull");
        d["event"]["module"] = json!("cloudflare");
        out.push(serde_json::to_vec(&d)?);
    }
    Ok(out)
}

/// (user+system CPU seconds, peak RSS KiB) of this process, from /proc.
fn self_usage() -> (f64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(") ").map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    // fields after the comm: state=0 … utime=11 stime=12 (clock ticks, 100 Hz on Linux)
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    (cpu, hwm)
}

async fn es_cpu_millis(client: &reqwest::Client, url: &str) -> Option<u64> {
    let r = client
        .get(format!("{url}/_nodes/_local/stats/process"))
        .send()
        .await
        .ok()?;
    let v: Value = serde_json::from_slice(&r.bytes().await.ok()?).ok()?;
    let node = v["nodes"].as_object()?.values().next()?;
    node["process"]["cpu"]["total_in_millis"].as_u64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .first()
        .cloned()
        .or_else(|| std::env::var("CFSHIP_ES8_URL").ok())
        .unwrap_or_else(|| "http://127.0.0.1:9200".into());
    let total: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let ns = format!(
        "bench{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
    );
    let tmp = std::env::temp_dir().join(format!("cfship-bench-{ns}.deadletter.ndjson"));
    let mut cfg = EsConfig {
        hosts: vec![url.clone()],
        namespace: ns.clone(),
        ..EsConfig::default()
    };
    cfg.dead_letter.path = tmp;
    let workers: usize = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(cfg.max_in_flight);
    let batch_cfg = cfg.batch.clone();
    let sink = ElasticsearchSink::connect(cfg).await?;
    sink.ensure_templates().await?;
    let index = data_stream_name("logpull", &ns);
    let templates = golden_templates(&ns)?;
    let http = reqwest::Client::new();

    let es_cpu0 = es_cpu_millis(&http, &url).await;
    let (cpu0, _) = self_usage();
    let started = Instant::now();

    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<IndexRequest>>(1);
    let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
    let mut handles = Vec::new();
    for _ in 0..workers.max(1) {
        let rx = rx.clone();
        let sink = sink.clone();
        handles.push(tokio::spawn(async move {
            let mut acked = 0u64;
            loop {
                let batch = rx.lock().await.recv().await;
                let Some(batch) = batch else { break };
                match sink.index(batch).await {
                    Ok(a) => acked += a.total(),
                    Err(e) => {
                        eprintln!("index failed: {e}");
                        break;
                    }
                }
            }
            acked
        }));
    }
    let index_name = index.clone();
    let producer = tokio::spawn(async move {
        let mut batcher = Batcher::new(batch_cfg);
        for i in 0..total {
            let tpl = &templates[(i % templates.len() as u64) as usize];
            let mut src = tpl.clone();
            let ray = format!("{i:022x}");
            if let Some(pos) = memfind(&src, PLACEHOLDER.as_bytes()) {
                src[pos..pos + PLACEHOLDER.len()].copy_from_slice(ray.as_bytes());
            }
            let req = IndexRequest {
                index: index_name.clone(),
                id: ray,
                source: Bytes::from(src),
            };
            if let Some(b) = batcher.push(req) {
                if tx.send(b).await.is_err() {
                    return;
                }
            }
        }
        let rest = batcher.take();
        if !rest.is_empty() {
            let _ = tx.send(rest).await;
        }
    });
    producer.await?;
    let mut acked = 0;
    for h in handles {
        acked += h.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu1, rss_kib) = self_usage();
    let es_cpu1 = es_cpu_millis(&http, &url).await;
    let es_cpu = match (es_cpu0, es_cpu1) {
        (Some(a), Some(b)) => format!("{:.1}", (b.saturating_sub(a)) as f64 / 1000.0),
        _ => "n/a".into(),
    };
    let _ = http.post(format!("{url}/{index}/_refresh")).send().await;
    let count: Value = serde_json::from_slice(
        &http
            .get(format!("{url}/{index}/_count"))
            .send()
            .await?
            .bytes()
            .await?,
    )?;
    let stats = sink.stats();
    let cfship_cpu = cpu1 - cpu0;
    println!("backend            {}", sink.backend().describe());
    println!(
        "documents          {total} sent, {acked} acknowledged, {} in {index}",
        count["count"]
    );
    println!("elapsed            {elapsed:.1} s");
    println!("events/s           {:.0}", acked as f64 / elapsed);
    println!("cfship CPU         {cfship_cpu:.1} s (user+sys, includes document generation)");
    println!("cfship peak RSS    {:.1} MiB", rss_kib as f64 / 1024.0);
    println!("Elasticsearch CPU  {es_cpu} s");
    if let Ok(es) = es_cpu.parse::<f64>() {
        println!(
            "cfship/ES CPU      {:.1} %",
            100.0 * cfship_cpu / es.max(0.001)
        );
    }
    println!(
        "bulk requests      {} ok, {} 429, {} retries; {:.1} MiB on the wire ({:.1} MiB before gzip)",
        stats.bulk_requests_2xx.load(std::sync::atomic::Ordering::Relaxed),
        stats.bulk_requests_429.load(std::sync::atomic::Ordering::Relaxed),
        stats.request_retries.load(std::sync::atomic::Ordering::Relaxed)
            + stats.item_retries.load(std::sync::atomic::Ordering::Relaxed),
        stats.bytes_sent.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1048576.0,
        stats.bytes_uncompressed.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1048576.0,
    );
    Ok(())
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
