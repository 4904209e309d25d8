//! End-to-end bench: built-in simulator → `cfship backfill` (a child process, release build
//! recommended) → a local Elasticsearch. Prints events/s, cfship CPU seconds and peak RSS,
//! Elasticsearch CPU seconds, and the wall time of the backfill.
//!
//! ```text
//! cargo build --release && cargo run --release --example e2e_bench -- \
//!     --es http://127.0.0.1:9200 [--hours 24] [--zones 2] [--rpm 200]
//! ```
//! `--rpm` is Logpull records per minute per zone; 24 h × 2 zones × 200/min = 576,000 events.
//! Cloudflare's Logpull limit (15 requests/min per zone, enforced by cfship's limiter) bounds the
//! wall time from below: 24 one-hour windows per zone need at least ~1.6 min.

use cfship_cloudflare_sim::{
    self as simulator, SimAccount, SimCredentials, SimZone, SimulatorConfig,
};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

fn clk_tck() -> f64 {
    // USER_HZ is 100 on every Linux this runs on.
    100.0
}

/// (utime + stime seconds, VmHWM kB) of a live process.
fn proc_usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Some(((ut + st) / clk_tck(), hwm))
}

fn es_cpu_ms(es: &str) -> u64 {
    let v: serde_json::Value = reqwest::blocking::get(format!("{es}/_nodes/stats/process"))
        .and_then(|r| r.json())
        .unwrap_or_default();
    v["nodes"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|n| n["process"]["cpu"]["total_in_millis"].as_u64())
                .sum()
        })
        .unwrap_or(0)
}

fn es_count(es: &str, index: &str) -> u64 {
    let _ = reqwest::blocking::Client::new()
        .post(format!("{es}/{index}/_refresh"))
        .send();
    let v: serde_json::Value = reqwest::blocking::get(format!("{es}/{index}/_count"))
        .and_then(|r| r.json())
        .unwrap_or_default();
    v["count"].as_u64().unwrap_or(0)
}

fn main() {
    let es = arg("--es", "http://127.0.0.1:9200");
    let hours: i64 = arg("--hours", "24").parse().unwrap_or(24);
    let zones: usize = arg("--zones", "2").parse().unwrap_or(2);
    let rpm: u32 = arg("--rpm", "200").parse().unwrap_or(200);
    let exe = std::env::current_exe().unwrap_or_default();
    let bin: PathBuf = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("cfship"))
        .unwrap_or_else(|| PathBuf::from("cfship"));
    assert!(
        bin.exists(),
        "build the binary first: {} missing",
        bin.display()
    );

    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    let cfg = SimulatorConfig {
        seed: 7,
        zones: (0..zones)
            .map(|i| SimZone {
                id: format!("{:032x}", 0xbe4c_0000u64 + i as u64),
                retention_enabled: true,
                records_per_minute: rpm,
                bot_management: false,
            })
            .collect(),
        accounts: vec![SimAccount {
            id: "bench000000000000000000000000acc".into(),
            events_per_hour: 60,
        }],
        credentials: SimCredentials {
            tokens: vec!["bench-token".into()],
            keys: vec![],
        },
        ..Default::default()
    };
    let sim = rt
        .block_on(simulator::start(
            cfg.clone(),
            "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        ))
        .unwrap_or_else(|e| panic!("simulator: {e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ns = format!("bench{}", std::process::id());
    let zone_list: Vec<String> = cfg.zones.iter().map(|z| format!("\"{}\"", z.id)).collect();
    let conf = dir.path().join("bench.yml");
    std::fs::write(
        &conf,
        format!(
            "cloudflare:\n  api_url: {}\n  api_token: bench-token\naudit:\n  accounts: [\"{}\"]\nlogpull:\n  zones: [{}]\nelasticsearch:\n  hosts: [\"{es}\"]\n  namespace: {ns}\nstate:\n  dir: {}\nmetrics:\n  listen: \"off\"\n",
            sim.url(),
            cfg.accounts[0].id,
            zone_list.join(", "),
            dir.path().join("state").display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let es_before = es_cpu_ms(&es);
    let t = Instant::now();
    let mut child = Command::new(&bin)
        .args(["backfill", "--config"])
        .arg(&conf)
        .args(["--since", &format!("{hours}h"), "--parallel", "4"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    let (mut cpu, mut hwm) = (0.0, 0);
    let status = loop {
        if let Some((c, h)) = proc_usage(child.id()) {
            cpu = c;
            hwm = hwm.max(h);
        }
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let wall = t.elapsed().as_secs_f64();
    let es_cpu = (es_cpu_ms(&es).saturating_sub(es_before)) as f64 / 1000.0;
    let lp = es_count(&es, &format!("logs-cloudflare.logpull-{ns}"));
    let au = es_count(&es, &format!("logs-cloudflare.audit-{ns}"));
    let events = lp + au;
    println!("cfship e2e bench: simulator → cfship backfill → {es}");
    println!("  range              : {hours} h × {zones} zones × {rpm} records/min + audit");
    println!("  exit               : {status}");
    println!("  events indexed     : {events} ({lp} Logpull, {au} audit)");
    println!("  wall time          : {wall:.1} s");
    println!("  events/s           : {:.0}", events as f64 / wall);
    println!(
        "  cfship CPU         : {cpu:.1} s ({:.0} events per CPU second)",
        events as f64 / cpu.max(0.01)
    );
    println!("  cfship peak RSS    : {:.1} MiB", hwm as f64 / 1024.0);
    println!("  Elasticsearch CPU  : {es_cpu:.1} s");
    let _ = reqwest::blocking::Client::new()
        .delete(format!("{es}/_data_stream/logs-cloudflare.*-{ns}"))
        .send();
}
