//! Locating Elastic's golden pipeline tests and the MaxMind test databases.
#![allow(dead_code)]

pub mod logpush;

use std::path::PathBuf;
use std::sync::Arc;

fn shared(env: &str, sub: &str) -> PathBuf {
    match std::env::var_os(env) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared")
            .join(sub),
    }
}

/// `None` (after a loud message) when the data is absent outside CI; a panic under `CI=true`.
fn require(path: PathBuf, what: &str, env: &str) -> Option<PathBuf> {
    if path.is_dir() {
        return Some(path);
    }
    let msg = format!("{what} not found at {} (set {env})", path.display());
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}: required under CI=true");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

pub fn golden_dir() -> Option<PathBuf> {
    require(
        shared("CFSHIP_GOLDEN_DIR", "golden").join("elastic-cloudflare"),
        "golden test data",
        "CFSHIP_GOLDEN_DIR",
    )
}

pub fn geoip_dir() -> Option<PathBuf> {
    require(
        shared("CFSHIP_GEOIP_DIR", "geoip"),
        "GeoIP test databases",
        "CFSHIP_GEOIP_DIR",
    )
}

pub fn geoip() -> Option<Arc<cfship_ecs::GeoIp>> {
    let dir = geoip_dir()?;
    Some(Arc::new(
        cfship_ecs::GeoIp::open_dir(&dir).expect("open GeoIP test databases"),
    ))
}

/// Compares as JSON after removing `event.ingested`, with a readable diff on failure.
pub fn assert_same(context: &str, got: &serde_json::Value, want: &serde_json::Value) {
    let strip = |v: &serde_json::Value| {
        let mut v = v.clone();
        if let Some(ev) = v.get_mut("event").and_then(|e| e.as_object_mut()) {
            ev.remove("ingested");
        }
        v
    };
    let (g, w) = (strip(got), strip(want));
    if g != w {
        let gs = serde_json::to_string_pretty(&g).unwrap();
        let ws = serde_json::to_string_pretty(&w).unwrap();
        let mut diff = String::new();
        for (i, (a, b)) in gs.lines().zip(ws.lines()).enumerate() {
            if a != b {
                diff = format!("first difference at line {i}:\n  got:  {a}\n  want: {b}");
                break;
            }
        }
        panic!("{context}: document differs\n{diff}\n--- got ---\n{gs}\n--- want ---\n{ws}");
    }
}
