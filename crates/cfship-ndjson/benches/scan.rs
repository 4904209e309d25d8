#![recursion_limit = "512"]
//! Scanner throughput on realistic Logpull records (100,000 × ~1.8 KB, 63 fields, NDJSON), in MB
//! and records per CPU-second of this thread, next to baselines measured in the same run:
//! splitting at LFs with memchr (the floor of any splitter) and a serde `IgnoredAny` parse of
//! every record (what strict validation costs).
//!
//! `cargo bench -p cfship-ndjson` (`CFSHIP_BENCH_INPUT=file.ndjson` to scan a file instead).

use cfship_ndjson::{Kind, Mode, Reader, Scanner, Splitter};
use std::hint::black_box;

const N: usize = 100_000;
const ROUNDS: usize = 5;

fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

const UAS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "curl/8.4.0",
    "Go-http-client/2.0",
];

/// Records shaped as the simulator (and Cloudflare, with cfship's default fields) sends them.
fn logpull_input() -> Vec<u8> {
    if let Some(p) = std::env::var_os("CFSHIP_BENCH_INPUT") {
        return std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.to_string_lossy()));
    }
    let mut out = Vec::with_capacity(N * 1900);
    for i in 0..N {
        let ts: u64 = 1_796_176_798_906_270_502 + i as u64 * 30_000_017;
        let path = [
            "/",
            "/static/style.css",
            "/api/v2/items?id=7&q=\"x\"",
            "/wp-login.php",
        ][i % 4];
        let rec = serde_json::json!({
            "BotScore": i % 99, "BotScoreSrc": "Heuristics", "CacheCacheStatus": "dynamic",
            "CacheResponseBytes": i * 37, "CacheResponseStatus": 200, "CacheTieredFill": false,
            "ClientASN": 2516, "ClientCountry": "jp", "ClientDeviceType": "desktop",
            "ClientIP": format!("67.34.{}.{}", i % 200, i % 250), "ClientIPClass": "noRecord",
            "ClientRequestBytes": 3450, "ClientRequestHost": "example.com", "ClientRequestMethod": "POST",
            "ClientRequestPath": path, "ClientRequestProtocol": "HTTP/1.1",
            "ClientRequestReferer": "https://www.example.com/", "ClientRequestURI": path,
            "ClientRequestUserAgent": UAS[i % UAS.len()], "ClientSSLCipher": "ECDHE-RSA-AES256-GCM-SHA384",
            "ClientSSLProtocol": "TLSv1.2", "ClientSrcPort": 40000 + i % 20000, "ClientXRequestedWith": "",
            "EdgeColoCode": "LHR", "EdgeColoID": 20, "EdgeEndTimestamp": ts + 674_000_000,
            "EdgePathingOp": "wl", "EdgePathingSrc": "macro", "EdgePathingStatus": "nr",
            "EdgeRateLimitAction": "", "EdgeRateLimitID": 0, "EdgeRequestHost": "example.com",
            "EdgeResponseBytes": 130600, "EdgeResponseCompressionRatio": 1.5,
            "EdgeResponseContentType": "text/css", "EdgeResponseStatus": 302, "EdgeServerIP": "",
            "EdgeStartTimestamp": ts, "FirewallMatchesActions": ["block"],
            "FirewallMatchesRuleIDs": ["a1b2c3"], "FirewallMatchesSources": ["firewallRules"],
            "OriginIP": "192.0.2.10", "OriginResponseBytes": 130600, "OriginResponseHTTPExpires": "",
            "OriginResponseHTTPLastModified": "", "OriginResponseStatus": 302,
            "OriginResponseTime": 355_000_000, "OriginSSLProtocol": "TLSv1.3", "ParentRayID": "00",
            "RayID": format!("{:016x}", 0xa6b2_1856_0000_0000u64 + i as u64), "SecurityLevel": "med",
            "WAFAction": "unknown", "WAFFlags": "0", "WAFMatchedVar": "", "WAFProfile": "unknown",
            "WAFRuleID": "", "WAFRuleMessage": "", "WorkerCPUTime": 0, "WorkerStatus": "unknown",
            "WorkerSubrequest": false, "WorkerSubrequestCount": 0, "ZoneID": 115244405,
            "Action": "", "ClientRequestScheme": "https", "JA3Hash": "1feb286a3f7308ccc81943aafe70a0d7",
        });
        serde_json::to_writer(&mut out, &rec).unwrap_or_default();
        out.push(b'\n');
    }
    out
}

/// Best of ROUNDS: CPU seconds of one pass, and the records it counted.
fn measure(f: &mut dyn FnMut() -> usize) -> (f64, usize) {
    let mut best = f64::INFINITY;
    let mut n = 0;
    for _ in 0..ROUNDS {
        let t0 = thread_cpu_secs();
        n = black_box(f());
        best = best.min(thread_cpu_secs() - t0);
    }
    (best, n)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this once for smoke.
    let input = logpull_input();
    let records = input.iter().filter(|&&b| b == b'\n').count();
    eprintln!(
        "input: {records} records, {:.1} MB ({:.0} bytes per record)",
        input.len() as f64 / 1e6,
        input.len() as f64 / records.max(1) as f64
    );
    let chunks = || input.chunks(64 * 1024);
    let mut rows: Vec<(&str, f64, usize)> = Vec::new();
    let mut run = |name: &'static str, f: &mut dyn FnMut() -> usize| {
        let (secs, n) = measure(f);
        assert_eq!(n, records, "{name} found {n} records");
        rows.push((name, secs, n));
    };

    run("floor: memchr LF split", &mut || {
        memchr::memchr_iter(b'\n', &input).count()
    });
    run("lenient Reader::next (64 KiB buffer)", &mut || {
        let mut r = Reader::new(&input[..], Mode::Lenient, 16 << 20);
        let mut n = 0;
        while let Some(it) = r.next() {
            n += usize::from(it.map(|i| i.kind == Kind::Record).unwrap_or(false));
        }
        n
    });
    run(
        "lenient Reader::next_batch (8 MiB, as transform)",
        &mut || {
            let mut r = Reader::with_capacity(&input[..], Mode::Lenient, 16 << 20, 8 << 20);
            let mut n = 0;
            loop {
                match r.next_batch(4096) {
                    Ok(b) if !b.is_empty() => {
                        n += b.iter().filter(|i| i.kind == Kind::Record).count()
                    }
                    _ => return n,
                }
            }
        },
    );
    run("strict Splitter, 64 KiB reads", &mut || {
        let mut s = Splitter::new(Mode::Strict, 4 << 20);
        let mut out = Vec::new();
        let mut n = 0;
        for c in chunks() {
            s.push(c);
            s.drain_records(&mut out).unwrap_or_default();
            n += out.len();
            out.clear();
        }
        n
    });
    run("strict Splitter + IgnoredAny validation", &mut || {
        let mut s =
            Splitter::with_scanner(Scanner::new(Mode::Strict, 4 << 20).validate(true), 64 << 10);
        let mut out = Vec::new();
        let mut n = 0;
        for c in chunks() {
            s.push(c);
            s.drain_records(&mut out).unwrap_or_default();
            n += out.len();
            out.clear();
        }
        n
    });
    run(
        "baseline: IgnoredAny parse of each record alone",
        &mut || {
            input
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .filter(|l| serde_json::from_slice::<serde::de::IgnoredAny>(l).is_ok())
                .count()
        },
    );
    let mb = input.len() as f64 / 1e6;
    println!(
        "\n{:<58} {:>10} {:>16}",
        "scanner (one thread, best of 5)", "MB/CPU-s", "records/CPU-s"
    );
    for (name, secs, n) in &rows {
        println!("{name:<58} {:>10.0} {:>16.0}", mb / secs, *n as f64 / secs);
    }
}
