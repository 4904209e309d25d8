//! Parse cost of typical user agents, uncached and cached.
use std::hint::black_box;

use cfship_useragent::{CachedParser, UserAgentParser};
use criterion::{criterion_group, criterion_main, Criterion};

const AGENTS: &[(&str, &str)] = &[
    (
        "chrome_windows",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0.4280.141 Safari/537.36",
    ),
    (
        "safari_iphone",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 12_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.0 Mobile/15E148 Safari/604.1",
    ),
    (
        "android_chrome",
        "Mozilla/5.0 (Linux; Android 8.0.0; SM-G960F Build/R16NW) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/62.0.3202.84 Mobile Safari/537.36",
    ),
    ("curl", "curl/7.68.0"),
    ("garbage", "Something I made up v42.0.1"),
];

fn bench(c: &mut Criterion) {
    let parser = match UserAgentParser::new() {
        Ok(p) => p,
        Err(e) => panic!("embedded regexes must compile: {e}"),
    };
    let mut group = c.benchmark_group("uncached");
    for (name, ua) in AGENTS {
        group.bench_function(*name, |b| b.iter(|| parser.parse(black_box(ua))));
    }
    // Worst case for the engines: an oversized header (16 KiB of junk after a real agent).
    let long = format!("{} {}", AGENTS[0].1, "x (y; z) ".repeat(16 * 1024 / 9));
    group.bench_function("long_16k", |b| b.iter(|| parser.parse(black_box(&long))));
    group.finish();

    let cached = CachedParser::new(parser, 1000);
    let mut group = c.benchmark_group("cached");
    for (name, ua) in AGENTS {
        group.bench_function(*name, |b| b.iter(|| cached.parse(black_box(ua))));
    }
    group.finish();

    c.bench_function("build_parser", |b| b.iter(UserAgentParser::new));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
