//! `cfship logpush receive` killed with SIGKILL: once mid-body (that batch was never acknowledged,
//! Cloudflare sends it again) and once right after acknowledging batches whose documents were still
//! in the spool. After each restart every acknowledged record is in Elasticsearch exactly once.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;

mod common;
use common::{engine_url, free_port, gz};

fn batch(tag: &str, from: usize, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in from..from + n {
        let _ = writeln!(
            out,
            r#"{{"ClientIP":"192.0.2.{}","ClientRequestHost":"example.com","EdgeStartTimestamp":"2026-12-01T00:00:00Z","RayID":"{tag}{i:012x}"}}"#,
            i % 250
        );
    }
    gz(&out)
}

struct Receiver {
    child: Child,
    port: u16,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(
    es: &str,
    ns: &str,
    spool: &std::path::Path,
    port: u16,
    log: &std::path::Path,
) -> Receiver {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log");
    let child = Command::cargo_bin("cfship")
        .expect("binary")
        .args([
            "logpush",
            "receive",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--raw",
        ])
        .args([
            "--elasticsearch",
            es,
            "--namespace",
            ns,
            "--metrics-listen",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .arg("--spool-dir")
        .arg(spool)
        .env("LOGPUSH_SECRET", "k1ll")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn cfship");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "cfship logpush receive did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Receiver { child, port }
}

fn post(port: u16, body: Vec<u8>) -> u16 {
    reqwest::blocking::Client::new()
        .post(format!(
            "http://127.0.0.1:{port}/cloudflare_logpush/http_request"
        ))
        .header("X-Logpush-Secret", "k1ll")
        .header("Content-Encoding", "gzip")
        .body(body)
        .send()
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// A body that arrives slowly (so the process can be killed in the middle of it).
struct Slow {
    data: Vec<u8>,
    pos: usize,
}

impl Read for Slow {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.data.len() {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(40));
        let n = buf.len().min(16 << 10).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn count(es: &str, index: &str) -> u64 {
    let c = reqwest::blocking::Client::new();
    let _ = c.post(format!("{es}/{index}/_refresh")).send();
    c.get(format!("{es}/{index}/_count"))
        .send()
        .ok()
        .and_then(|r| r.json::<serde_json::Value>().ok())
        .and_then(|v| v["count"].as_u64())
        .unwrap_or(0)
}

fn wait_count(es: &str, index: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let n = count(es, index);
        assert!(
            n <= want,
            "{n} documents, more than the {want} records delivered"
        );
        if n == want {
            return;
        }
        assert!(Instant::now() < deadline, "{n} of {want} documents");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn sigkill_mid_batch_and_after_ack_loses_and_doubles_nothing() {
    let test = "sigkill_mid_batch_and_after_ack_loses_and_doubles_nothing";
    let Some(es) = engine_url("CFSHIP_ES8_URL", test) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let spool = tmp.path().join("spool");
    let log = tmp.path().join("cfship.log");
    let ns = format!(
        "kill{}x{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() % 100_000_000)
            .unwrap_or(0)
    );
    let index = format!("logs-cloudflare_logpush.http_request-{ns}");
    let port = free_port();

    // 1. ten batches acknowledged, then SIGKILL in the middle of a large one
    let mut rx = start(&es, &ns, &spool, port, &log);
    for b in 0..10 {
        assert_eq!(post(rx.port, batch("k", b * 200, 200)), 200, "batch {b}");
    }
    let big = batch("big", 0, 20_000);
    let p = rx.port;
    let sender = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .post(format!(
                "http://127.0.0.1:{p}/cloudflare_logpush/http_request"
            ))
            .header("X-Logpush-Secret", "k1ll")
            .header("Content-Encoding", "gzip")
            .body(reqwest::blocking::Body::new(Slow { data: big, pos: 0 }))
            .send()
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    });
    std::thread::sleep(Duration::from_millis(600));
    rx.child.kill().expect("SIGKILL");
    let _ = rx.child.wait();
    assert_ne!(
        sender.join().expect("sender"),
        200,
        "the cut batch was not acknowledged"
    );

    // 2. restart: the spool is indexed; Cloudflare re-sends the cut batch
    let mut rx = start(&es, &ns, &spool, port, &log);
    assert_eq!(post(rx.port, batch("big", 0, 20_000)), 200);
    wait_count(&es, &index, 10 * 200 + 20_000);

    // 3. batches acknowledged and SIGKILL at once (their documents may still be in the spool)
    for b in 10..20 {
        assert_eq!(post(rx.port, batch("k", b * 200, 200)), 200, "batch {b}");
    }
    rx.child.kill().expect("SIGKILL");
    let _ = rx.child.wait();
    let rx = start(&es, &ns, &spool, port, &log);
    // a duplicated delivery of an acknowledged batch changes nothing
    assert_eq!(post(rx.port, batch("k", 19 * 200, 200)), 200);
    wait_count(&es, &index, 20 * 200 + 20_000);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(count(&es, &index), 20 * 200 + 20_000);
}
