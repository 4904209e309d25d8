#![recursion_limit = "512"]
//! Transform throughput on realistic records, next to a bare serde_json parse + serialize of the
//! same bytes (the floor any JSON-to-JSON transform pays), so the ratio is visible.
//!
//! `cargo bench -p cfship-ecs` (set CFSHIP_GEOIP_DIR to enrich with GeoIP, as production does).
//!
//! First, one table for every `cloudflare_logpush` data stream ([`Ds::ALL`]): records per
//! CPU-second of the transform and of the serde_json floor on the same bytes, measured on this
//! thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`), so other load on a shared machine does not
//! count. Inputs are varied records derived from each data stream's golden input lines
//! (`$CFSHIP_GOLDEN_DIR/elastic-cloudflare-logpush/<ds>/`). `CFSHIP_BENCH_SECS` (default 2) is the
//! CPU budget per data stream, `CFSHIP_BENCH_DS=http_request,dns` limits the table to those. Only the table: `cargo bench -p cfship-ecs --bench transform --
//! logpush_table`; only the criterion groups:
//! `CFSHIP_BENCH_LOGPUSH_TABLE=off` (or any criterion filter).

use cfship_ecs::logpush::{self, Ds, Input};
use cfship_ecs::{Dataset, GeoIp, Options, Outcome, Transformer};
use criterion::{black_box, criterion_group, Criterion, Throughput};
use serde_json::Value;
use std::sync::Arc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const N: usize = 2_000;

const UAS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.4.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "python-requests/2.31.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
];
const PATHS: &[&str] = &[
    "/",
    "/index.html",
    "/api/v2/items",
    "/static/app.3f9a.js",
    "/img/logo.png",
    "/wp-login.php",
    "/search",
    "/cart/checkout",
];
const ACTIONS: &[&str] = &[
    "token_create",
    "rec_add",
    "rec_del",
    "login",
    "change_setting",
    "purge",
    "zone_hold_enabled",
];

fn logpull_records() -> Vec<String> {
    (0..N)
        .map(|i| {
            let ip = if i % 7 == 0 { "89.160.20.156".to_string() } else { format!("198.51.{}.{}", i % 200, i % 250) };
            let path = PATHS[i % PATHS.len()];
            let start: u64 = 1_700_000_000_000_000_000 + (i as u64) * 1_000_003;
            let fw = match i % 5 { 0 => r#"["block"]"#, 1 => r#"["challenge","simulate"]"#, _ => "[]" };
            serde_json::json!({
                "BotScore": (i % 99) as u64, "BotScoreSrc": "Machine Learning",
                "CacheCacheStatus": if i % 3 == 0 { "hit" } else { "miss" }, "CacheResponseBytes": (i * 37) as u64,
                "CacheResponseStatus": 200, "CacheTieredFill": false, "ClientASN": 13335, "ClientCountry": "de",
                "ClientDeviceType": "desktop", "ClientIP": ip, "ClientIPClass": "noRecord",
                "ClientRequestBytes": 800 + i as u64, "ClientRequestHost": "www.example.com", "ClientRequestMethod": "GET",
                "ClientRequestPath": path, "ClientRequestProtocol": if i % 2 == 0 { "HTTP/2" } else { "HTTP/1.1" },
                "ClientRequestReferer": "https://www.example.com/", "ClientRequestURI": format!("{path}?page={}", i % 10),
                "ClientRequestUserAgent": UAS[i % UAS.len()], "ClientSSLCipher": "AEAD-AES128-GCM-SHA256",
                "ClientSSLProtocol": "TLSv1.3", "ClientSrcPort": 40000 + (i % 20000) as u64, "ClientXRequestedWith": "",
                "EdgeColoCode": "FRA", "EdgeColoID": 22, "EdgeEndTimestamp": start + 25_000_000,
                "EdgePathingOp": "wl", "EdgePathingSrc": "macro", "EdgePathingStatus": "nr",
                "EdgeRateLimitAction": "", "EdgeRateLimitID": 0, "EdgeRequestHost": "www.example.com",
                "EdgeResponseBytes": 5000 + i as u64, "EdgeResponseCompressionRatio": 1.25,
                "EdgeResponseContentType": "text/html", "EdgeResponseStatus": 200, "EdgeServerIP": "",
                "EdgeStartTimestamp": start, "FirewallMatchesActions": serde_json::from_str::<serde_json::Value>(fw).unwrap(),
                "FirewallMatchesRuleIDs": [], "FirewallMatchesSources": [], "OriginIP": "192.0.2.10",
                "OriginResponseBytes": 0, "OriginResponseHTTPExpires": "", "OriginResponseHTTPLastModified": "",
                "OriginResponseStatus": 200, "OriginResponseTime": 12_000_000, "OriginSSLProtocol": "TLSv1.2",
                "ParentRayID": "00", "RayID": format!("{:016x}", 0x7a1b_2c3d_0000_0000u64 + i as u64),
                "SecurityLevel": "med", "WAFAction": "unknown", "WAFFlags": "0", "WAFMatchedVar": "",
                "WAFProfile": "unknown", "WAFRuleID": "", "WAFRuleMessage": "", "WorkerCPUTime": 0,
                "WorkerStatus": "unknown", "WorkerSubrequest": false, "WorkerSubrequestCount": 0, "ZoneID": 123456789
            })
            .to_string()
        })
        .collect()
}

fn audit_records() -> Vec<String> {
    (0..N)
        .map(|i| {
            serde_json::json!({
                "action": {"result": i % 11 != 0, "type": ACTIONS[i % ACTIONS.len()]},
                "actor": {"email": "ops@example.net", "id": format!("user{}", i % 13), "ip": format!("198.51.100.{}", i % 250), "type": "user"},
                "id": format!("{:08x}-5aab-4a2a-b93c-c9a4abf0c425", i),
                "interface": if i % 2 == 0 { "UI" } else { "" },
                "metadata": {"zone_name": "example.com"}, "newValue": "", "oldValue": "null",
                "newValueJson": {"type": "A", "content": "192.0.2.1", "ttl": 300, "proxied": true},
                "owner": {"id": "o-1"}, "resource": {"id": format!("r{i}"), "type": "DNS_record"},
                "when": "2024-05-06T07:08:09.123456Z"
            })
            .to_string()
        })
        .collect()
}

fn transformer() -> Transformer {
    let geo = std::env::var_os("CFSHIP_GEOIP_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            Some(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/geoip"))
        })
        .filter(|p| p.is_dir())
        .and_then(|p| GeoIp::open_dir(&p).ok())
        .map(Arc::new);
    eprintln!(
        "GeoIP enrichment: {}",
        if geo.is_some() { "on" } else { "off" }
    );
    Transformer::new(
        Options {
            tags: vec!["forwarded".into()],
            namespace: Some("default".into()),
            set_ingested: true,
            ..Default::default()
        },
        geo,
    )
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let t = transformer();
    for (name, ds, records) in [
        ("logpull", Dataset::Logpull, logpull_records()),
        ("audit", Dataset::Audit, audit_records()),
    ] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(records.len() as u64));
        g.bench_function("cfship transform", |b| {
            b.iter(|| {
                for r in &records {
                    match t.transform(ds, r, 1_700_000_000_000) {
                        Outcome::Doc(d) => {
                            black_box(&d.source);
                        }
                        Outcome::Dropped => {}
                    }
                }
            })
        });
        // What the daemon does per collected record: Elastic Agent's re-encoding, then the transform.
        g.bench_function("collect path: go_json re-encode + transform", |b| {
            b.iter(|| {
                for r in &records {
                    let canon = cfship_ecs::canonical::go_json(r).unwrap();
                    if let Outcome::Doc(d) = t.transform(ds, &canon, 1_700_000_000_000) {
                        black_box(&d.source);
                    }
                }
            })
        });
        g.bench_function("serde_json parse+serialize (floor)", |b| {
            b.iter(|| {
                for r in &records {
                    let v: serde_json::Value = serde_json::from_str(r).unwrap();
                    black_box(serde_json::to_string(&v).unwrap());
                }
            })
        });
        g.finish();
    }

    // Logpush: `http_requests` records carry the same fields as Logpull's, so the same records
    // feed the `cloudflare_logpush.http_request` pipeline (package 2.0.0), as the HTTP endpoint
    // input delivers them (`json`) and as bucket inputs do (`message`).
    let records = logpull_records();
    let mut g = c.benchmark_group("logpush http_request");
    g.throughput(Throughput::Elements(records.len() as u64));
    g.bench_function("cfship transform (message)", |b| {
        b.iter(|| {
            for r in &records {
                let d =
                    logpush::transform(&t, Ds::HttpRequest, Input::Message(r), 1_700_000_000_000);
                black_box(&d.source);
            }
        })
    });
    g.bench_function("serde_json parse+serialize (floor)", |b| {
        b.iter(|| {
            for r in &records {
                let v: serde_json::Value = serde_json::from_str(r).unwrap();
                black_box(serde_json::to_string(&v).unwrap());
            }
        })
    });
    g.finish();
}

/// This thread's CPU time in seconds.
fn cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Records per data stream in the table's input.
const LOGPUSH_N: usize = 1_000;

/// `audit_logs_v2` has no Elastic pipeline test: a record of Cloudflare's `audit_logs_v2` field
/// list (as in tests/logpush_audit_logs_v2.rs).
const AUDIT_LOGS_V2: &str = r#"{"AccountID":"owner-1","AccountName":"Acme","ActionDescription":"Create API token","ActionResult":"success","ActionTimestamp":"2021-11-30T20:19:48Z","ActionType":"create","ActorContext":"dash","ActorEmail":"user@example.com","ActorID":"4b3a4e2c9f1d4e7a8b6c5d4e3f2a1b0c","ActorIPAddress":"81.2.69.142","ActorTokenDetails":{"id":"tok-1","name":"ci"},"ActorType":"user","AuditLogID":"6f1c7c8e-2b4d-4e8a-9f3b-1a2b3c4d5e6f","Raw":{"cf_ray_id":"8a1b2c3d4e5f6a7b","method":"POST","status_code":200,"uri":"/accounts/owner-1/tokens","user_agent":"curl/8"},"ResourceID":"res-1","ResourceProduct":"api_tokens","ResourceRequest":{"name":"ci","policies":[1,2,3]},"ResourceResponse":{"id":"res-1"},"ResourceScope":"accounts","ResourceType":"account","ResourceValue":{"x":1},"ZoneID":"","ZoneName":""}"#;

fn golden_logpush_dir() -> Option<std::path::PathBuf> {
    let base = std::env::var_os("CFSHIP_GOLDEN_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden")
        });
    let dir = base.join("elastic-cloudflare-logpush");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: the Logpush data stream table: golden data not found at {} (set CFSHIP_GOLDEN_DIR)",
            dir.display()
        );
        None
    }
}

/// The golden input lines of a data stream (its folder's `.log`; not the era sub-folders).
fn golden_lines(root: &std::path::Path, ds: Ds) -> Vec<String> {
    if !ds.is_elastic() {
        return vec![AUDIT_LOGS_V2.to_string()];
    }
    let dir = root.join(ds.name());
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    for p in entries.flatten().map(|e| e.path()) {
        if p.extension().and_then(|x| x.to_str()) == Some("log") {
            if let Ok(text) = std::fs::read_to_string(&p) {
                lines.extend(text.split('\n').filter(|l| !l.is_empty()).map(String::from));
            }
        }
    }
    lines
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Replaces the last `n` characters of an ASCII string with `i` in hex, in the string's case.
fn replace_tail_hex(s: &str, n: usize, i: usize) -> String {
    let upper = s.bytes().any(|b| b.is_ascii_uppercase());
    let h = format!("{:0n$x}", i & ((1 << (4 * n)) - 1), n = n);
    let h = if upper { h.to_ascii_uppercase() } else { h };
    format!("{}{}", &s[..s.len() - n], h)
}

/// Record `i`'s variant of a golden value: other IPs (the original kept for every fourth record,
/// so GeoIP still hits), seconds of date-times, ids (UUIDs, long hex), numeric timestamps, so
/// that no cache sees the same value twice in a row.
fn vary(v: &mut Value, key: &str, i: usize) {
    match v {
        Value::String(s) => {
            if let Ok(ip) = s.parse::<std::net::Ipv4Addr>() {
                if !i.is_multiple_of(4) {
                    let [a, b, c, d] = ip.octets();
                    let c = (c as usize + i / 250) as u8;
                    let d = (d as usize + i) as u8;
                    *s = std::net::Ipv4Addr::new(a, b, c, d).to_string();
                }
            } else if let Ok(ip) = s.parse::<std::net::Ipv6Addr>() {
                if !i.is_multiple_of(4) {
                    let mut seg = ip.segments();
                    seg[7] ^= (i as u16) | 1;
                    *s = std::net::Ipv6Addr::from(seg).to_string();
                }
            } else if s.len() >= 19
                && s.is_ascii()
                && &s[4..5] == "-"
                && &s[7..8] == "-"
                && matches!(&s[10..11], "T" | " ")
                && &s[13..14] == ":"
                && &s[16..17] == ":"
            {
                if let Ok(sec) = s[17..19].parse::<usize>() {
                    *s = format!("{}{:02}{}", &s[..17], (sec + i) % 60, &s[19..]);
                }
            } else if s.len() == 36
                && s.as_bytes()[8] == b'-'
                && is_hex(&s[..8])
                && is_hex(&s[24..])
            {
                *s = format!("{}{}", replace_tail_hex(&s[..8], 8, i), &s[8..]);
            } else if s.len() >= 16 && is_hex(s) && s.bytes().any(|b| b.is_ascii_alphabetic()) {
                *s = replace_tail_hex(s, 6, i);
            }
        }
        Value::Number(n) => {
            let k = key.to_ascii_lowercase();
            if k.contains("time") || k.contains("date") {
                if let Some(x) = n.as_u64().filter(|x| *x > 1_000_000_000) {
                    *v = Value::from(x + i as u64);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| vary(x, key, i)),
        Value::Object(o) => o.iter_mut().for_each(|(k, x)| vary(x, k, i)),
        _ => {}
    }
}

/// `LOGPUSH_N` records cycling through the golden lines, each varied (lines that are not JSON,
/// as some golden inputs are on purpose, stay verbatim).
fn logpush_records(lines: &[String]) -> Vec<String> {
    (0..LOGPUSH_N)
        .map(|i| {
            let line = &lines[i % lines.len()];
            match serde_json::from_str::<Value>(line) {
                Ok(mut v) => {
                    vary(&mut v, "", i);
                    v.to_string()
                }
                Err(_) => line.clone(),
            }
        })
        .collect()
}

/// Best records per CPU-second of `f` (one pass over `n` records), over passes until `budget`
/// CPU seconds were spent (at least 3 passes).
fn best_rate(n: usize, budget: f64, mut f: impl FnMut()) -> f64 {
    let start = cpu();
    let mut best = f64::INFINITY;
    let mut passes = 0;
    while passes < 3 || cpu() - start < budget {
        let t0 = cpu();
        f();
        best = best.min(cpu() - t0);
        passes += 1;
    }
    n as f64 / best
}

fn logpush_table(t: &Transformer) {
    let Some(root) = golden_logpush_dir() else {
        return;
    };
    let budget: f64 = std::env::var("CFSHIP_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    println!(
        "\nLogpush data streams (input as `message`, {LOGPUSH_N} varied records each, one thread, \
         best pass on the thread CPU clock, ~{budget} CPU-s per data stream)\n"
    );
    println!("| data stream | golden lines | bytes/record | cfship transform records/CPU-s | serde_json parse+serialize records/CPU-s | ratio (transform / floor) | pipeline_error docs |");
    println!("|---|---|---|---|---|---|---|");
    let only = std::env::var("CFSHIP_BENCH_DS").ok();
    for &ds in Ds::ALL {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|n| n == ds.name()))
        {
            continue;
        }
        let lines = golden_lines(&root, ds);
        if lines.is_empty() {
            eprintln!("SKIPPED: {}: no golden input lines", ds.name());
            continue;
        }
        let records = logpush_records(&lines);
        let bytes = records.iter().map(String::len).sum::<usize>() / records.len();
        let errors = records
            .iter()
            .filter(|r| {
                logpush::transform(t, ds, Input::Message(r), 1_700_000_000_000)
                    .error
                    .is_some()
            })
            .count();
        // Interleave the two halves of the budget so both see the same machine.
        let (mut tr, mut fl) = (0f64, 0f64);
        for _ in 0..2 {
            tr = tr.max(best_rate(records.len(), budget / 4.0, || {
                for r in &records {
                    let d = logpush::transform(t, ds, Input::Message(r), 1_700_000_000_000);
                    black_box(&d.source);
                }
            }));
            fl = fl.max(best_rate(records.len(), budget / 4.0, || {
                for r in &records {
                    // Non-JSON golden lines: the floor is the failed parse.
                    if let Ok(v) = serde_json::from_str::<Value>(r) {
                        black_box(serde_json::to_string(&v).ok());
                    }
                }
            }));
        }
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.0} % | {} |",
            ds.name(),
            lines.len(),
            bytes,
            tr,
            fl,
            100.0 * tr / fl,
            errors
        );
    }
    println!();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = bench
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let skip = std::env::var("CFSHIP_BENCH_LOGPUSH_TABLE").as_deref() == Ok("off");
    let filter = args.iter().find(|a| !a.starts_with('-'));
    let table_only = filter.is_some_and(|f| f == "logpush_table");
    if !skip && (filter.is_none() || table_only) {
        logpush_table(&transformer());
    }
    if table_only {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
