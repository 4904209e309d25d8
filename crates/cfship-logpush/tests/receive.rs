//! The HTTPS destination end to end into a real Elasticsearch (CFSHIP_ES8_URL): many batches with
//! duplicated deliveries, the validation upload, a wrong secret, a wrong content type, a truncated
//! gzip, a body that is not NDJSON, a malformed record, TLS; every accepted record is in
//! Elasticsearch exactly once.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cfship_logpush::{serve, DocSink, RawTransform, ReceiverConfig, SecretHeader, Spool, TlsFiles};
use cfship_secret::Secret;
use common::*;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "s3cr3t-Value";

struct Fixture {
    url: String,
    ns: String,
    base: String,
    spool: Spool,
    cancel: CancellationToken,
    client: reqwest::Client,
    _tmp: tempfile::TempDir,
}

async fn fixture(es: &str, tag: &str, tls: Option<TlsFiles>, client: reqwest::Client) -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ns = unique_namespace(tag);
    let sink = sink(es, &ns, tmp.path()).await;
    let spool = Spool::open(tmp.path().join("spool"), 256 << 20).expect("spool");
    let mut cfg = ReceiverConfig::new("127.0.0.1:0".parse().expect("addr"));
    cfg.secret = Some(SecretHeader {
        header: "X-Logpush-Secret".into(),
        value: Secret::new(SECRET),
    });
    let scheme = if tls.is_some() { "https" } else { "http" };
    cfg.tls = tls;
    let cancel = CancellationToken::new();
    let rx = serve(
        cfg,
        spool.clone(),
        Arc::new(RawTransform::new(ns.clone())),
        cancel.clone(),
    )
    .await
    .expect("serve");
    let s2 = spool.clone();
    let c2 = cancel.clone();
    let sink: Arc<dyn DocSink> = Arc::new(sink);
    tokio::spawn(async move {
        s2.drain(sink, 500, 4 << 20, Duration::from_millis(200), c2)
            .await;
    });
    Fixture {
        url: es.to_string(),
        ns,
        base: format!("{scheme}://localhost:{}", rx.local_addr.port()),
        spool,
        cancel,
        client,
        _tmp: tmp,
    }
}

impl Fixture {
    async fn post(
        &self,
        ds: &str,
        body: Vec<u8>,
        gzip: bool,
        secret: Option<&str>,
    ) -> (u16, String) {
        let mut req = self
            .client
            .post(format!("{}/cloudflare_logpush/{ds}", self.base))
            .header("Content-Type", "application/json")
            .header("User-Agent", "Cloudflare-Logpush/1.0")
            .body(body);
        if gzip {
            req = req.header("Content-Encoding", "gzip");
        }
        if let Some(s) = secret {
            req = req.header("X-Logpush-Secret", s);
        }
        let r = req.send().await.expect("post");
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    }

    async fn drained(&self) {
        let spool = self.spool.clone();
        wait_until("the spool to drain", 180, move || {
            let s = spool.status();
            s.segments == 0 && s.pending_docs == 0
        })
        .await;
    }

    fn index(&self, ds: &str) -> String {
        format!("logs-cloudflare_logpush.{ds}-{}", self.ns)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_with_faults_land_exactly_once() {
    let test = "batches_with_faults_land_exactly_once";
    let Some(es) = engine_url("CFSHIP_ES8_URL", test) else {
        return;
    };
    let f = fixture(&es, "lpr", None, reqwest::Client::new()).await;

    // the validation upload: 200, nothing indexed
    let (st, body) = f
        .post(
            "http_request",
            gz(b"{\"content\":\"tests\"}"),
            true,
            Some(SECRET),
        )
        .await;
    assert_eq!(st, 200, "{body}");

    // wrong / missing secret: 401, and the body is never read into the spool
    let batch = gz(&ndjson(&records("w", 0, 10)));
    assert_eq!(
        f.post("http_request", batch.clone(), true, Some("wrong"))
            .await
            .0,
        401
    );
    assert_eq!(
        f.post("http_request", batch.clone(), true, None).await.0,
        401
    );
    // unknown path
    assert_eq!(
        f.post("no_such_stream", batch.clone(), true, Some(SECRET))
            .await
            .0,
        404
    );
    // wrong content type
    let r = f
        .client
        .post(format!("{}/cloudflare_logpush/http_request", f.base))
        .header("X-Logpush-Secret", SECRET)
        .header("Content-Type", "multipart/form-data; boundary=x")
        .body(batch.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 415);
    // truncated gzip: refused whole, nothing of it kept
    let big = gz(&ndjson(&records("t", 0, 2000)));
    let (st, body) = f
        .post(
            "http_request",
            big[..big.len() / 2].to_vec(),
            true,
            Some(SECRET),
        )
        .await;
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("gzip"), "{body}");
    // not NDJSON at all
    let (st, body) = f
        .post(
            "http_request",
            b"<html>nope</html>\n".to_vec(),
            false,
            Some(SECRET),
        )
        .await;
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("not NDJSON"), "{body}");
    // Content-Encoding gzip on a plain body
    let (st, body) = f
        .post(
            "http_request",
            ndjson(&records("p", 0, 3)),
            true,
            Some(SECRET),
        )
        .await;
    assert_eq!(st, 400, "{body}");

    // 60 batches x 100 records over two data streams, every third batch delivered twice
    // (Cloudflare's retry after a timeout), half of them plain, half gzipped.
    let mut expected_http = 0u64;
    let mut expected_fw = 0u64;
    let mut delivered = 0u64;
    for b in 0..60usize {
        let ds = if b % 4 == 3 {
            "firewall_event"
        } else {
            "http_request"
        };
        let recs = records("b", b * 100, 100);
        let body = ndjson(&recs);
        let gzip = b % 2 == 0;
        let body = if gzip { gz(&body) } else { body };
        let times = if b % 3 == 0 { 2 } else { 1 };
        for _ in 0..times {
            let (st, text) = f.post(ds, body.clone(), gzip, Some(SECRET)).await;
            assert_eq!(st, 200, "batch {b}: {text}");
            delivered += 100;
        }
        if ds == "firewall_event" {
            expected_fw += 100;
        } else {
            expected_http += 100;
        }
    }
    // a batch with one malformed record: 200, the record becomes a pipeline_error document
    let mut recs = records("m", 0, 5);
    recs.insert(2, "{\"ClientIP\": \"192.0.2.1\", \"cut".to_string());
    let (st, body) = f
        .post("http_request", gz(&ndjson(&recs)), true, Some(SECRET))
        .await;
    assert_eq!(st, 200, "{body}");
    expected_http += 6;

    f.drained().await;
    let http = f.index("http_request");
    // exact: every distinct record once, and the validation upload (sent first) is not a document
    // (`event.original` is not searchable in the template, as in Elastic's, so the count is the proof)
    assert_eq!(count(&f.url, &http, None).await, expected_http);
    assert_eq!(
        count(&f.url, &f.index("firewall_event"), None).await,
        expected_fw
    );
    let errors = count(
        &f.url,
        &http,
        Some(serde_json::json!({"term": {"event.kind": "pipeline_error"}})),
    )
    .await;
    assert_eq!(errors, 1);
    // every delivery of the duplicated batches reached the spool and Elasticsearch deduplicated it
    let st = f.spool.status();
    assert_eq!(delivered, 8000);
    assert_eq!(st.drained_docs, delivered + 6, "{st:?}");
    f.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_the_users_certificate() {
    let test = "tls_with_the_users_certificate";
    let Some(es) = engine_url("CFSHIP_ES8_URL", test) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let cert = tmp.path().join("tls.crt");
    let key = tmp.path().join("tls.key");
    // a test CA and a server certificate it signs (webpki refuses a CA used as the end entity)
    let ca_key = tmp.path().join("ca.key");
    let ca = tmp.path().join("ca.crt");
    let csr = tmp.path().join("tls.csr");
    let ext = tmp.path().join("ext.cnf");
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext");
    let p = |s: &std::path::Path| s.to_string_lossy().into_owned();
    for args in [
        vec![
            "req".to_string(),
            "-x509".into(),
            "-newkey".into(),
            "rsa:2048".into(),
            "-nodes".into(),
            "-days".into(),
            "2".into(),
            "-subj".into(),
            "/CN=cfship test CA".into(),
            "-keyout".into(),
            p(&ca_key),
            "-out".into(),
            p(&ca),
        ],
        vec![
            "req".into(),
            "-newkey".into(),
            "rsa:2048".into(),
            "-nodes".into(),
            "-subj".into(),
            "/CN=localhost".into(),
            "-keyout".into(),
            p(&key),
            "-out".into(),
            p(&csr),
        ],
        vec![
            "x509".into(),
            "-req".into(),
            "-in".into(),
            p(&csr),
            "-CA".into(),
            p(&ca),
            "-CAkey".into(),
            p(&ca_key),
            "-CAcreateserial".into(),
            "-days".into(),
            "2".into(),
            "-extfile".into(),
            p(&ext),
            "-out".into(),
            p(&cert),
        ],
    ] {
        let out = std::process::Command::new("openssl")
            .args(&args)
            .output()
            .expect("openssl (needed to make a test certificate)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let pem = std::fs::read(&ca).expect("ca");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .build()
        .expect("client");
    let f = fixture(
        &es,
        "lptls",
        Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        client,
    )
    .await;
    let (st, body) = f
        .post(
            "dns",
            gz(&ndjson(&records("tls", 0, 50))),
            true,
            Some(SECRET),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    // plain HTTP to the TLS port fails
    let plain = reqwest::Client::new()
        .post(f.base.replace("https", "http") + "/cloudflare_logpush/dns")
        .header("X-Logpush-Secret", SECRET)
        .body(ndjson(&records("plain", 0, 1)))
        .send()
        .await;
    assert!(
        plain.is_err(),
        "plain HTTP must not be served on the TLS port: {plain:?}"
    );
    f.drained().await;
    assert_eq!(count(&f.url, &f.index("dns"), None).await, 50);
    f.cancel.cancel();
}
