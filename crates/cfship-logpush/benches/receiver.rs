//! The receiver's hot path on one core: one gzipped Logpush batch of 2,000 http_requests records
//! through decompression, record splitting, the transform and the spool's line encoding (into
//! memory: the disk is not measured), next to the baseline of the same batch gunzipped and each
//! record parsed and serialised by serde_json.
//!
//! `cargo bench -p cfship-logpush`

use std::io::{Read, Write};

use cfship_logpush::datasets::find;
use cfship_logpush::{decode_batch, Encoding, Limits, RawTransform};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

const N: usize = 2_000;

fn batch() -> Vec<u8> {
    let mut raw = Vec::new();
    for i in 0..N {
        let _ = writeln!(
            raw,
            r#"{{"CacheCacheStatus":"{}","CacheResponseBytes":{},"ClientASN":13335,"ClientCountry":"de","ClientDeviceType":"desktop","ClientIP":"198.51.{}.{}","ClientRequestHost":"www.example.com","ClientRequestMethod":"GET","ClientRequestURI":"/api/v2/items?page={}","ClientRequestUserAgent":"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0","EdgeColoCode":"FRA","EdgeEndTimestamp":"2026-12-01T00:00:01Z","EdgeResponseBytes":{},"EdgeResponseStatus":200,"EdgeStartTimestamp":"2026-12-01T00:00:00Z","FirewallMatchesActions":[],"OriginResponseStatus":200,"RayID":"{:016x}","SecurityLevel":"med","ZoneName":"example.com"}}"#,
            if i % 3 == 0 { "hit" } else { "miss" },
            i * 37,
            i % 200,
            i % 250,
            i % 10,
            2000 + i,
            i
        );
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = gz.write_all(&raw);
    gz.finish().unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    let body = batch();
    let ds = find("http_request").expect("data stream");
    let t = RawTransform::new("default");
    let mut g = c.benchmark_group("logpush_receiver");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("gunzip+split+transform(raw)+spool encoding", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(4 << 20);
            let s = decode_batch(
                &body[..],
                Encoding::Gzip,
                Limits::default(),
                ds,
                &t,
                0,
                &mut |d| {
                    out.extend_from_slice(d.index.as_bytes());
                    out.push(b'\t');
                    out.extend_from_slice(d.id.as_bytes());
                    out.push(b'\t');
                    out.extend_from_slice(d.source);
                    out.push(b'\n');
                    Ok(())
                },
            );
            black_box((s.map(|s| s.docs).unwrap_or(0), out.len()))
        })
    });
    g.bench_function(
        "baseline: gunzip + serde_json parse+serialize per line",
        |b| {
            b.iter(|| {
                let mut text = String::new();
                let _ = flate2::read::MultiGzDecoder::new(&body[..]).read_to_string(&mut text);
                let mut n = 0usize;
                for line in text.lines() {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                        n += serde_json::to_string(&v).map(|s| s.len()).unwrap_or(0);
                    }
                }
                black_box(n)
            })
        },
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
