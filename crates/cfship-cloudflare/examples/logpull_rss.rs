//! Streams one Logpull window of ~1,000,000 records (gzip, NDJSON) from the simulator and prints
//! records/s and memory (VmRSS samples during the stream, VmHWM at the end) to show memory stays flat.
//!
//! The simulator runs in a child process so only the client's memory is measured.
//!
//! ```text
//! cargo run --release -p cfship-cloudflare --example logpull_rss [-- --records 1000000 --max-rss-mib 64]
//! ```
//!
//! Exits non-zero when a record is missing or the peak RSS exceeds `--max-rss-mib` (CI gate).
//! ```text
//! ```

use cfship_cloudflare::{
    backfill_logpull, Auth, ClientConfig, CloudflareClient, LogpullConfig, RecordSink, SinkError,
    Unit,
};
use cfship_cloudflare_sim::{self as simulator, SimCredentials, SimZone, SimulatorConfig};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn sim_config(rpm: u32) -> SimulatorConfig {
    SimulatorConfig {
        seed: 2026,
        zones: vec![SimZone {
            id: "bench-zone".into(),
            retention_enabled: true,
            records_per_minute: rpm,
            bot_management: true,
        }],
        credentials: SimCredentials {
            tokens: vec!["bench-token".into()],
            keys: vec![],
        },
        ..Default::default()
    }
}

struct CountingSink {
    records: AtomicU64,
    bytes: AtomicU64,
    calls: AtomicU64,
    max_rss_kb: AtomicU64,
    samples: std::sync::Mutex<Vec<(u64, u64)>>,
    next_sample: AtomicU64,
}

impl RecordSink for CountingSink {
    fn deliver<'a>(
        &'a self,
        _unit: &'a Unit,
        records: Vec<bytes::Bytes>,
    ) -> futures::future::BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let n = records.len() as u64;
            let b: u64 = records.iter().map(|r| r.len() as u64).sum();
            let total = self.records.fetch_add(n, Ordering::Relaxed) + n;
            self.bytes.fetch_add(b, Ordering::Relaxed);
            self.calls.fetch_add(1, Ordering::Relaxed);
            let rss = status_kb("VmRSS:");
            self.max_rss_kb.fetch_max(rss, Ordering::Relaxed);
            if total >= self.next_sample.load(Ordering::Relaxed) {
                self.next_sample.fetch_add(100_000, Ordering::Relaxed);
                if let Ok(mut s) = self.samples.lock() {
                    s.push((total, rss));
                }
            }
            Ok(())
        })
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let records: u64 = arg(&args, "--records")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // Expected records per hour = rpm * 60 * 15/16 (1 minute in 16 is empty).
    let rpm = ((records as f64) / (60.0 * 15.0 / 16.0)).ceil() as u32;

    if let Some(addr) = arg(&args, "--serve") {
        let h = simulator::start(sim_config(rpm), addr.parse()?).await?;
        h.wait().await;
        return Ok(());
    }

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let addr = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["--serve", &addr, "--records", &records.to_string()])
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(&addr).await.is_err() {
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("simulator child did not start".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut ccfg = ClientConfig::with_api_url(&format!("http://{addr}/client/v4"))?;
    ccfg.idle_body_timeout = Duration::from_secs(120);
    let client = CloudflareClient::new(ccfg)?;
    let now = chrono::Utc::now();
    let start = chrono::DateTime::from_timestamp(now.timestamp() - now.timestamp() % 3600, 0)
        .ok_or("time")?
        - chrono::Duration::hours(2);
    let end = start + chrono::Duration::hours(1);
    let expected = simulator::expected_logpull_count(&sim_config(rpm), "bench-zone", start, end);
    let mut cfg = LogpullConfig::new("bench-zone", Auth::token("bench-token"));
    cfg.bot_fields = true;
    cfg.batch_size = 1000;
    let n_fields = cfg.fields_param().split(',').count();
    let sink = Arc::new(CountingSink {
        records: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        calls: AtomicU64::new(0),
        max_rss_kb: AtomicU64::new(0),
        samples: std::sync::Mutex::new(Vec::new()),
        next_sample: AtomicU64::new(0),
    });
    let rss_before = status_kb("VmRSS:");
    let t = Instant::now();
    let result = backfill_logpull(
        &client,
        cfg,
        start,
        end,
        sink.clone(),
        tokio_util::sync::CancellationToken::new(),
        |_| {},
    )
    .await;
    let secs = t.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    let summary = result?;
    let got = sink.records.load(Ordering::Relaxed);
    let bytes = sink.bytes.load(Ordering::Relaxed);
    println!("window            [{start}, {end}) one request, gzip NDJSON, {n_fields} fields");
    println!(
        "records           {got} (ground truth {expected}, windows {})",
        summary.units_done
    );
    println!(
        "throughput        {:.0} records/s, {:.1} MB/s decoded JSON, {:.1}s",
        got as f64 / secs,
        bytes as f64 / secs / 1e6,
        secs
    );
    println!("deliver calls     {}", sink.calls.load(Ordering::Relaxed));
    println!("VmRSS before      {} KiB", rss_before);
    if let Ok(s) = sink.samples.lock() {
        let line: Vec<String> = s
            .iter()
            .map(|(n, kb)| format!("{}k:{}MiB", n / 1000, kb / 1024))
            .collect();
        println!("VmRSS during      {}", line.join(" "));
    }
    println!(
        "VmRSS max seen    {} KiB",
        sink.max_rss_kb.load(Ordering::Relaxed)
    );
    println!("VmHWM (peak RSS)  {} KiB", status_kb("VmHWM:"));
    if got != expected {
        return Err(format!("record count mismatch: got {got}, expected {expected}").into());
    }
    // Flat memory: the peak must not grow with the window (1M records ≈ 1.8 GB of JSON).
    let max_mib: u64 = arg(&args, "--max-rss-mib")
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let hwm_mib = status_kb("VmHWM:").max(sink.max_rss_kb.load(Ordering::Relaxed)) / 1024;
    if hwm_mib > max_mib {
        return Err(format!("peak RSS {hwm_mib} MiB exceeds --max-rss-mib {max_mib}").into());
    }
    println!("OK: peak RSS {hwm_mib} MiB <= {max_mib} MiB");
    Ok(())
}
