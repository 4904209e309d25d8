#![recursion_limit = "512"]
//! Transform throughput on realistic records, next to a bare serde_json parse + serialize of the
//! same bytes (the floor any JSON-to-JSON transform pays), so the ratio is visible.
//!
//! `cargo bench -p cfship-ecs` (set CFSHIP_GEOIP_DIR to enrich with GeoIP, as production does).

use cfship_ecs::logpush::{self, Ds, Input};
use cfship_ecs::{Dataset, GeoIp, Options, Outcome, Transformer};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
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

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
