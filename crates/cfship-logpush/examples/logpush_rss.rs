//! Memory gate of the Logpush receiver: one gzipped batch of `--mib` MiB uncompressed (default
//! 1024, Cloudflare's maximum `max_upload_bytes`) generated on the fly and POSTed as a chunked
//! stream to the receiver, which decodes it into its spool while the spool drains into a counting
//! sink. Prints records per CPU-second and the peak RSS; exits non-zero when the batch is not
//! acknowledged, a record is missing, or the peak RSS passes `--max-rss-mib`.
//!
//! ```text
//! cargo run --release -p cfship-logpush --example logpush_rss [-- --mib 1024 --max-rss-mib 96]
//! ```
//!
//! The generator runs in this process (a thread with a gzip encoder and a 2-chunk channel: a few
//! MiB); everything else measured is the receiver, its spool writer and the drainer.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cfship_elasticsearch::BulkDocs;
use cfship_logpush::{serve, DocSink, RawTransform, ReceiverConfig, SecretHeader, Spool};
use cfship_secret::Secret;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

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

fn cpu_seconds() -> f64 {
    // utime + stime of this process from /proc/self/stat (clock ticks, 100 per second)
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            let u: f64 = f.get(11)?.parse().ok()?;
            let st: f64 = f.get(12)?.parse().ok()?;
            Some((u + st) / 100.0)
        })
        .unwrap_or(0.0)
}

#[derive(Default)]
struct Counting {
    docs: AtomicU64,
}

impl DocSink for Counting {
    fn index(&self, docs: BulkDocs) -> BoxFuture<'_, Result<(), String>> {
        self.docs.fetch_add(docs.len() as u64, Ordering::Relaxed);
        Box::pin(async { Ok(()) })
    }
}

/// One ~1 KiB http_requests record.
fn record(i: u64, out: &mut Vec<u8>) {
    let _ = write!(
        out,
        r#"{{"CacheCacheStatus":"miss","CacheResponseBytes":{},"CacheResponseStatus":200,"ClientASN":13335,"ClientCountry":"de","ClientDeviceType":"desktop","ClientIP":"198.51.{}.{}","ClientRequestBytes":{},"ClientRequestHost":"www.example.com","ClientRequestMethod":"GET","ClientRequestPath":"/api/v2/items","ClientRequestProtocol":"HTTP/2","ClientRequestReferer":"https://www.example.com/","ClientRequestURI":"/api/v2/items?page={}","ClientRequestUserAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36","ClientSSLCipher":"AEAD-AES128-GCM-SHA256","ClientSSLProtocol":"TLSv1.3","EdgeColoCode":"FRA","EdgeEndTimestamp":"2026-12-01T00:00:01Z","EdgePathingOp":"wl","EdgePathingSrc":"macro","EdgePathingStatus":"nr","EdgeRequestHost":"www.example.com","EdgeResponseBytes":{},"EdgeResponseContentType":"application/json","EdgeResponseStatus":200,"EdgeServerIP":"10.0.0.1","EdgeStartTimestamp":"2026-12-01T00:00:00Z","FirewallMatchesActions":[],"FirewallMatchesRuleIDs":[],"FirewallMatchesSources":[],"OriginIP":"203.0.113.7","OriginResponseStatus":200,"OriginResponseTime":{},"RayID":"{:016x}","SecurityLevel":"med","WAFAction":"unknown","WAFFlags":"0","WAFMatchedVar":"","WorkerSubrequest":false,"ZoneName":"example.com"}}"#,
        i * 37 % 100_000,
        i % 200,
        i % 250,
        800 + i % 1000,
        i % 10,
        2000 + i % 5000,
        i % 1_000_000_000,
        i
    );
    out.push(b'\n');
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mib = arg(&args, "--mib", 1024);
    let max_rss_mib = arg(&args, "--max-rss-mib", 96);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let tmp = tempfile::tempdir()?;
        let spool = Spool::open(tmp.path().join("spool"), 8 << 30)?;
        let mut cfg = ReceiverConfig::new("127.0.0.1:0".parse()?);
        cfg.secret = Some(SecretHeader {
            header: "X-Logpush-Secret".into(),
            value: Secret::new("gate"),
        });
        cfg.limits.max_body_bytes = (mib + 16) << 20;
        let cancel = CancellationToken::new();
        let rx = serve(cfg, spool.clone(), Arc::new(RawTransform::new("gate")), cancel.clone()).await?;
        let sink = Arc::new(Counting::default());
        let s2 = spool.clone();
        let sink2: Arc<dyn DocSink> = sink.clone();
        let c2 = cancel.clone();
        tokio::spawn(async move { s2.drain(sink2, 5000, 8 << 20, Duration::from_millis(100), c2).await });

        // the generator: gzip into 256 KiB chunks sent through a 2-slot channel
        let (tx, body_rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
        let limit = mib << 20;
        let gen = std::thread::spawn(move || {
            struct Chan(tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>);
            impl Write for Chan {
                fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                    self.0.blocking_send(Ok(b.to_vec())).map_err(|_| std::io::Error::other("closed"))?;
                    Ok(b.len())
                }
                fn flush(&mut self) -> std::io::Result<()> {
                    Ok(())
                }
            }
            let out = std::io::BufWriter::with_capacity(256 << 10, Chan(tx));
            let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
            let mut buf = Vec::with_capacity(2048);
            let (mut n, mut bytes) = (0u64, 0u64);
            while bytes < limit {
                buf.clear();
                record(n, &mut buf);
                bytes += buf.len() as u64;
                n += 1;
                if gz.write_all(&buf).is_err() {
                    break;
                }
            }
            let _ = gz.finish().and_then(|mut w| w.flush());
            (n, bytes)
        });
        let stream = tokio_stream_from(body_rx);
        let started = Instant::now();
        let cpu0 = cpu_seconds();
        let peak_sampler = {
            let stop = cancel.clone();
            tokio::spawn(async move {
                let mut peak = 0u64;
                while !stop.is_cancelled() {
                    peak = peak.max(status_kb("VmRSS:"));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                peak
            })
        };
        let resp = reqwest::Client::new()
            .post(format!("http://{}/cloudflare_logpush/http_request", rx.local_addr))
            .header("Content-Encoding", "gzip")
            .header("Content-Type", "application/json")
            .header("X-Logpush-Secret", "gate")
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let acked = started.elapsed();
        let (records, bytes) = gen.join().map_err(|_| "generator panicked")?;
        let deadline = Instant::now() + Duration::from_secs(600);
        while sink.docs.load(Ordering::Relaxed) < records && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let total = started.elapsed();
        let cpu = cpu_seconds() - cpu0;
        cancel.cancel();
        let sampled = peak_sampler.await.unwrap_or(0);
        let hwm = status_kb("VmHWM:");
        let drained = sink.docs.load(Ordering::Relaxed);
        println!(
            "logpush_rss: {records} records, {:.0} MiB uncompressed in one gzip batch: HTTP {status} after {:.1} s, drained after {:.1} s; {:.0} records per CPU-second (generator included); peak RSS {:.1} MiB (sampled {:.1} MiB)",
            bytes as f64 / 1048576.0,
            acked.as_secs_f64(),
            total.as_secs_f64(),
            records as f64 / cpu.max(0.001),
            hwm as f64 / 1024.0,
            sampled as f64 / 1024.0
        );
        let mut failed = false;
        if !status.is_success() {
            eprintln!("logpush_rss: FAILED: the batch was not acknowledged: {status} {text}");
            failed = true;
        }
        if drained != records {
            eprintln!("logpush_rss: FAILED: {drained} of {records} records drained");
            failed = true;
        }
        if hwm > max_rss_mib * 1024 {
            eprintln!("logpush_rss: FAILED: peak RSS {} KiB over the gate of {max_rss_mib} MiB", hwm);
            failed = true;
        }
        if failed {
            std::process::exit(1);
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
