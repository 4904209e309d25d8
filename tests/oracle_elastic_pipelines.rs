//! Differential test: Elastic's own cloudflare ingest pipelines, run by a real ingest engine, against
//! cfship's transform, on thousands of generated, seeded records per dataset.
//!
//! The engine is an embedded OpenSearch node (`oracles/opensearch-ingest/`, started once for the
//! whole test) with the ingest modules from Maven Central and the three pipeline files of Elastic's
//! package (kept outside the repository, read from `CFSHIP_CLOUDFLARE_PIPELINES_DIR`, default
//! `../shared/elastic-pipelines/cloudflare`, checked against the sha256 of
//! `oracles/opensearch-ingest/cloudflare-pipelines.tsv`; absent, the Logpull and audit parts are
//! skipped loudly and the `user_agent` part still runs), minimally edited (docs/oracles.md lists every edit and why). Every document is compared
//! field by field (`_id` included); each difference must be one of the named [`KNOWN`] differences,
//! and each named difference must still occur — the list is exact, so it cannot hide a new one.
//!
//! Needs Java 21+ and Maven (CI has both; Maven downloads the modules into `~/.m2` on first use)
//! and the MaxMind test databases (`CFSHIP_GEOIP_DIR`). Missing prerequisites skip the test with a
//! loud message, except under `CI=true` where they fail it. `CFSHIP_ORACLE_RECORDS` changes the
//! number of records per dataset (default 3000), `CFSHIP_ORACLE_SEED` the seed.
//! `CFSHIP_ORACLE_DATASETS=a,b,…` runs only the named parts (`logpull`, `audit`, `user_agent` and
//! Logpush data stream names such as `dex_application_tests`); the check that every known
//! difference still occurs is then skipped, since a difference may belong to a part not run.

mod oracle_logpush;

use cfship_ecs::{Dataset, Options, Outcome, Transformer};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const LOGPULL_PIPELINE: &str = "logs-cloudflare.logpull-2.22.0";
const AUDIT_PIPELINE: &str = "logs-cloudflare.audit-2.22.0";
const ACCOUNT_ID: &str = "abcd1234";
const BATCH: usize = 1000;

// ---------------------------------------------------------------------------------------------
// Prerequisites and the oracle process

fn skip_or_fail(msg: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}: required under CI=true");
    }
    eprintln!("SKIPPED oracle_elastic_pipelines: {msg}");
}

/// The parts `CFSHIP_ORACLE_DATASETS` names, or `None` for all.
fn selection() -> Option<Vec<String>> {
    let v = std::env::var("CFSHIP_ORACLE_DATASETS").ok()?;
    let names: Vec<String> = v
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    (!names.is_empty()).then_some(names)
}

/// Whether the part `name` runs (`CFSHIP_ORACLE_DATASETS`).
fn selected(name: &str) -> bool {
    selection().is_none_or(|names| names.iter().any(|n| n == name))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files `oracles/opensearch-ingest/cloudflare-pipelines.tsv` names.
fn cloudflare_manifest() -> PathBuf {
    repo().join("oracles/opensearch-ingest/cloudflare-pipelines.tsv")
}

/// Where Elastic's cloudflare (Logpull, audit) pipeline files are, if every file of the manifest
/// is there (their sha256 is checked by the oracle when it loads them).
fn cloudflare_pipelines_dir() -> Result<PathBuf, String> {
    let dir = match std::env::var_os("CFSHIP_CLOUDFLARE_PIPELINES_DIR") {
        Some(p) => PathBuf::from(p),
        None => repo().join("../shared/elastic-pipelines/cloudflare"),
    };
    let text =
        std::fs::read_to_string(cloudflare_manifest()).expect("read cloudflare-pipelines.tsv");
    let missing: Vec<&str> = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split('\t').next())
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if missing.is_empty() {
        Ok(dir)
    } else {
        Err(format!(
            "Elastic's cloudflare pipeline files are not in {} (set CFSHIP_CLOUDFLARE_PIPELINES_DIR; \
             missing: {})",
            dir.display(),
            missing.join(", ")
        ))
    }
}

fn geoip_dir() -> PathBuf {
    match std::env::var_os("CFSHIP_GEOIP_DIR") {
        Some(p) => PathBuf::from(p),
        None => repo().join("../shared/geoip"),
    }
}

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A JDK 21+ as `oracles/opensearch-ingest/run.sh` would find it.
fn java21() -> Option<PathBuf> {
    if let Some(j) = std::env::var_os("CFSHIP_JAVA21_HOME") {
        return Some(PathBuf::from(j));
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/jvm")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    dirs.sort();
    dirs.into_iter().find(|d| {
        let name = d.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let major = name
            .split(|c: char| !c.is_ascii_digit())
            .find(|s| !s.is_empty())
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0);
        major >= 21 && d.join("bin/java").is_file()
    })
}

struct Oracle {
    child: Child,
    stdin: Option<ChildStdin>,
    url: String,
    http: reqwest::blocking::Client,
    _work: tempfile::TempDir,
}

impl Oracle {
    /// `logpush`: the directory of Elastic's cloudflare_logpush pipeline files, when they are here
    /// (only the data streams `CFSHIP_ORACLE_DATASETS` selects are installed).
    fn start(geoip: &Path, cloudflare: Option<&Path>, logpush: Option<&Path>) -> Oracle {
        let work = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new("bash");
        cmd.arg(repo().join("oracles/opensearch-ingest/run.sh"))
            .arg("--work")
            .arg(work.path())
            .arg("--geoip")
            .arg(geoip);
        if let Some(dir) = cloudflare {
            cmd.arg("--manifest")
                .arg(cloudflare_manifest())
                .arg("--pipelines")
                .arg(dir);
        }
        if let Some(dir) = logpush {
            cmd.arg("--logpush-manifest")
                .arg(oracle_logpush::selected_manifest(work.path()))
                .arg("--logpush-pipelines")
                .arg(dir);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start oracles/opensearch-ingest/run.sh");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("oracle stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line.strip_prefix("CFSHIP-ORACLE-READY ") {
                    let _ = tx.send(port.trim().to_string());
                }
            }
        });
        // Maven may download the modules on first use; the node itself starts in ~20 s.
        let port = match rx.recv_timeout(Duration::from_secs(600)) {
            Ok(p) => p,
            Err(_) => {
                let _ = child.kill();
                panic!("the OpenSearch ingest oracle did not become ready (see its stderr above)");
            }
        };
        Oracle {
            child,
            stdin,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(300))
                .build()
                .expect("http client"),
            _work: work,
        }
    }

    /// `_simulate` of an inline pipeline (no stored id) over the sources, in order.
    fn simulate_inline(&self, pipeline: &Value, sources: &[Value]) -> Vec<Value> {
        let mut out = Vec::with_capacity(sources.len());
        for chunk in sources.chunks(BATCH) {
            let docs: Vec<Value> = chunk.iter().map(|s| json!({ "_source": s })).collect();
            let resp = self
                .http
                .post(format!("{}/_ingest/pipeline/_simulate", self.url))
                .json(&json!({ "pipeline": pipeline, "docs": docs }))
                .send()
                .expect("simulate request");
            let status = resp.status();
            let body: Value = resp.json().expect("simulate response is JSON");
            assert!(status.is_success(), "simulate failed: {status} {body}");
            let results = body["docs"].as_array().expect("docs array");
            assert_eq!(results.len(), chunk.len(), "one result per document");
            out.extend(results.iter().map(|r| r["doc"]["_source"].clone()));
        }
        out
    }

    /// `_simulate` of `pipeline` over the sources, in order: `None` for a dropped document, else
    /// the `_id` and `_source` the pipeline left.
    fn simulate(&self, pipeline: &str, sources: &[Value]) -> Vec<Option<(String, Value)>> {
        let mut out = Vec::with_capacity(sources.len());
        for (b, chunk) in sources.chunks(BATCH).enumerate() {
            let docs: Vec<Value> = chunk
                .iter()
                .enumerate()
                .map(|(i, s)| json!({"_index": "oracle", "_id": placeholder_id(b * BATCH + i), "_source": s}))
                .collect();
            let resp = self
                .http
                .post(format!(
                    "{}/_ingest/pipeline/{pipeline}/_simulate",
                    self.url
                ))
                .json(&json!({ "docs": docs }))
                .send()
                .expect("simulate request");
            let status = resp.status();
            let body: Value = resp.json().expect("simulate response is JSON");
            assert!(status.is_success(), "simulate failed: {status} {body}");
            let results = body["docs"].as_array().expect("docs array");
            assert_eq!(results.len(), chunk.len(), "one result per document");
            for r in results {
                if let Some(err) = r.get("error") {
                    panic!("the pipeline failed without on_failure handling: {err}");
                }
                let doc = &r["doc"];
                if doc.is_null() {
                    out.push(None);
                    continue;
                }
                let id = doc["_id"].as_str().unwrap_or_default().to_string();
                out.push(Some((id, doc["_source"].clone())));
            }
        }
        out
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        drop(self.stdin.take()); // end of stdin: the node closes and the JVM exits
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn placeholder_id(i: usize) -> String {
    format!("unset-{i}")
}

// ---------------------------------------------------------------------------------------------
// Seeded generators: realistic records plus the hostile corners

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from_digit(self.below(16) as u32, 16).unwrap_or('0'))
            .collect()
    }
}

/// Addresses inside MaxMind's test databases (City and/or ASN hits), others that miss, IPv6, junk.
const IPS: &[&str] = &[
    "89.160.20.156",
    "89.160.20.129",
    "81.2.69.142",
    "81.2.69.160",
    "216.160.83.58",
    "2.125.160.216",
    "67.43.156.1",
    "1.128.0.1",
    "12.81.92.1",
    "175.16.199.1",
    "203.0.113.7",
    "10.1.2.3",
    "192.0.2.44",
    "2001:218::1",
    "2001:480::1",
    "2a02:cf40::1",
    "2600:6000::1",
    "::1",
    "2001:db8::dead:beef",
    "::ffff:89.160.20.156",
];

/// Values Cloudflare should never send in an IP field, used now and then.
const BAD_IPS: &[&str] = &["fe80::1%eth0", "unknown", "", "300.1.2.3", "1.2.3"];

fn ip(rng: &mut Rng) -> &'static str {
    let list = if rng.chance(0.01) { BAD_IPS } else { IPS };
    list[rng.below(list.len() as u64) as usize]
}

const HOSTS: &[&str] = &[
    "example.com",
    "www.example.com",
    "api.example.org",
    "cf-analytics.com",
    "shop.example.net",
    "xn--bcher-kva.example",
    "bücher.example",
    "",
];

/// Request URIs: ordinary ones and the corners of java.net.URI's grammar.
const URIS: &[&str] = &[
    "/",
    "/index.html",
    "/wp-cron.php?doing_wp_cron=1564759748.3962020874023437500000",
    "/api/v1/users/42",
    "/static/js/app.min.js?v=3",
    "/images/logo.png",
    "/archive.tar.gz",
    "/a.b/c",
    "/.well-known/security.txt",
    "/dir/",
    "/file.",
    "/search?q=hello+world&page=2",
    "/search?q=caf%C3%A9",
    "/caf%C3%A9/men%C3%BC.html",
    "/%E4%B8%AD%E6%96%87/%E6%B5%8B%E8%AF%95",
    "/path%2Fwith%2Fslashes",
    "/p%20space/x",
    "/bad%zzescape",
    "/bad%",
    "/café/menü",
    "/日本語/ページ.html",
    "/emoji/😀.gif",
    "/search?filter[name]=x&filter[age]=%3E20",
    "/items?ids[]=1&ids[]=2",
    "/users?sort=name&order[created_at]=desc",
    "/page#section-2",
    "/page?x=1#frag%20ment",
    "/page#a#b",
    "//double/slash/path",
    "//example.com/evil",
    "/a//b///c",
    "/?",
    "/?#",
    "?only=query",
    "#only-fragment",
    "",
    "*",
    "/with space",
    "/pipe|char",
    "/quote\"char",
    "/back\\slash",
    "/tab\there",
    "/caret^x",
    "/brace{x}",
    "/angle<x>",
    "http://example.com:8080/full?x=1",
    "https://user:pass@example.com/secret",
    "https://user@example.com/u",
    "http://[::1]:8080/v6",
    "http://[2001:db8::1]/v6.html",
    "http://example.com:99999/bigport",
    "http://example.com:/emptyport",
    "mailto:someone@example.com",
    "urn:isbn:0451450523",
    "ftp://ftp.example.com/file.txt",
    "/semi;jsessionid=ABC123?x=1",
    "/encoded%23hash?x=%26y",
    "/plus+sign/a+b.txt",
    "/%7Euser/index.html",
    "/..%2F..%2Fetc%2Fpasswd",
    "/../../etc/passwd",
    "/q?utf8=✓&name=Zoë",
    "/q?=empty-key&k=",
    "/%F0%9F%98%80/x.png",
];

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (X11; Linux aarch64; rv:109.0) Gecko/20100101 Firefox/115.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "WordPress/5.2.2;https://cf-analytics.com",
    "curl/8.4.0",
    "python-requests/2.31.0",
    "Go-http-client/2.0",
    "okhttp/4.12.0",
    "Apache-HttpClient/4.5.14 (Java/17.0.9)",
    "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; SM-G973F) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)",
    "Opera/9.80 (Windows NT 6.1; U; en) Presto/2.10.229 Version/11.62",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/49.0.2623.112 Safari/537.36",
    "Dalvik/2.1.0 (Linux; U; Android 9; Redmi Note 7 MIUI/V11.0.5.0.PFGMIXM)",
    "MyCustomAgent/1.0 (ünïcödé)",
    "",
    "-",
    "Mozilla/5.0",
];

const TIMESTAMP_KINDS: u64 = 9;

/// One EdgeStart/EdgeEnd timestamp pair in one of Cloudflare's formats (and a few it never sends).
fn timestamps(rng: &mut Rng) -> (Value, Value) {
    let start_ms: i64 = 1_700_000_000_000 + rng.below(90 * 86_400_000) as i64;
    let dur_ms = rng.below(5_000) as i64;
    let end_ms = start_ms + dur_ms;
    let rfc = |ms: i64, frac: u32| -> String {
        let secs = ms.div_euclid(1000);
        let sub = ms.rem_euclid(1000);
        let dt =
            chrono::DateTime::from_timestamp(secs, (sub as u32) * 1_000_000).unwrap_or_default();
        match frac {
            0 => dt.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            3 => dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            6 => format!("{}{:03}Z", dt.format("%Y-%m-%dT%H:%M:%S%.3f"), sub % 1000),
            _ => dt.format("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
        }
    };
    let kind = match rng.below(100) {
        0..=1 => 7,
        2..=3 => 8,
        k => k % (TIMESTAMP_KINDS - 2),
    };
    match kind {
        0 => (json!(rfc(start_ms, 0)), json!(rfc(end_ms, 0))),
        1 => (json!(rfc(start_ms, 3)), json!(rfc(end_ms, 3))),
        // microseconds: the start parses as ISO8601, the end accepts no such fraction
        2 => (json!(rfc(start_ms, 6)), json!(rfc(end_ms, 6))),
        3 => (json!(start_ms / 1000), json!(end_ms / 1000)),
        4 => (json!(start_ms), json!(end_ms)),
        5 => (
            json!(start_ms as i128 * 1_000_000 + 123_456),
            json!(end_ms as i128 * 1_000_000 + 654_321),
        ),
        6 => (
            json!(format!("{}", start_ms as i128 * 1_000_000)),
            json!(format!("{}", end_ms / 1000)),
        ),
        7 => (json!(rfc(start_ms, 9)), json!(rfc(end_ms, 9))),
        _ => (json!("not a date"), json!("")),
    }
}

fn http_date(rng: &mut Rng) -> Value {
    match rng.below(6) {
        0 => json!(""),
        1 => json!("Wed, 21 Oct 2025 07:28:00 GMT"),
        2 => json!("Thu, 01 Jan 1970 00:00:00 GMT"),
        3 => json!("Mon, 13 Nov 2023 22:13:20 UTC"),
        4 => json!("-1"),
        _ => json!("Sun, 06 Nov 1994 08:49:37 GMT"),
    }
}

/// Numbers as Cloudflare sends them, and now and then as a string, negative, huge or fractional.
fn num(rng: &mut Rng, max: u64) -> Value {
    let n = rng.below(max.max(1));
    match rng.below(600) {
        0 => json!(n.to_string()),
        1 => json!(-(n as i64)),
        2 => json!(n as f64 + 0.5),
        3 => json!("0x1F"),
        4 => json!(""),
        5 => json!(18_446_744_073_709_551_615u64),
        _ => json!(n),
    }
}

fn logpull_record(rng: &mut Rng) -> String {
    let (start, end) = timestamps(rng);
    let ssl = [
        "TLSv1.3", "TLSv1.2", "TLSv1.1", "none", "NONE", "unknown", "SSLv3", "QUIC", "",
    ];
    let cipher = [
        "AEAD-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "NONE",
        "none",
        "",
    ];
    let methods = [
        "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "PURGE", "",
    ];
    let protocols = [
        "HTTP/1.1", "HTTP/2", "HTTP/3", "HTTP/1.0", "", "SPDY3.1", "h2c/2/x",
    ];
    let actions: &[&[&str]] = &[
        &[],
        &["block"],
        &["allow"],
        &["simulate", "challenge"],
        &["log", "block"],
        &["jschallenge"],
        &["managedChallenge", "allow"],
    ];
    let host = *rng.pick(HOSTS);
    let uri = *rng.pick(URIS);
    let mut r = Map::new();
    let mut put = |k: &str, v: Value| {
        r.insert(k.to_string(), v);
    };
    put(
        "BotScore",
        if rng.chance(0.05) {
            json!("")
        } else {
            num(rng, 100)
        },
    );
    put(
        "BotScoreSrc",
        json!(rng.pick(&[
            "Verified Bot",
            "Machine Learning",
            "Heuristics",
            "Not Computed",
            ""
        ])),
    );
    put(
        "CacheCacheStatus",
        json!(rng.pick(&[
            "hit",
            "miss",
            "expired",
            "dynamic",
            "unknown",
            "revalidated"
        ])),
    );
    put("CacheResponseBytes", num(rng, 200_000));
    put(
        "CacheResponseStatus",
        json!(rng.pick(&[0, 200, 304, 404, 500])),
    );
    put("CacheTieredFill", json!(rng.chance(0.2)));
    put(
        "ClientASN",
        json!(rng.pick(&[15169, 13335, 29518, 0, 7922])),
    );
    put(
        "ClientCountry",
        json!(rng.pick(&["us", "se", "gb", "de", "jp", "xx", "t1", ""])),
    );
    put(
        "ClientDeviceType",
        json!(rng.pick(&["desktop", "mobile", "tablet", ""])),
    );
    put("ClientIP", json!(ip(rng)));
    put(
        "ClientIPClass",
        json!(rng.pick(&[
            "noRecord",
            "clean",
            "searchEngine",
            "monitoringService",
            "tor"
        ])),
    );
    put("ClientRequestBytes", num(rng, 20_000));
    put("ClientRequestHost", json!(host));
    put("ClientRequestMethod", json!(rng.pick(&methods)));
    let path = uri.split(['?', '#']).next().unwrap_or("");
    put("ClientRequestPath", json!(path));
    put("ClientRequestProtocol", json!(rng.pick(&protocols)));
    put(
        "ClientRequestReferer",
        json!(if rng.chance(0.5) {
            format!("https://{host}{uri}")
        } else {
            String::new()
        }),
    );
    put("ClientRequestURI", json!(uri));
    put("ClientRequestUserAgent", json!(rng.pick(USER_AGENTS)));
    put("ClientSSLCipher", json!(rng.pick(&cipher)));
    put("ClientSSLProtocol", json!(rng.pick(&ssl)));
    put("ClientSrcPort", num(rng, 65_536));
    put(
        "EdgeColoCode",
        json!(rng.pick(&["ARN", "FRA", "LHR", "SJC", "NRT", ""])),
    );
    put("EdgeColoID", json!(rng.below(400)));
    put("EdgeEndTimestamp", end);
    put("EdgePathingOp", json!(rng.pick(&["wl", "ban", "chl", ""])));
    put(
        "EdgePathingSrc",
        json!(rng.pick(&["macro", "filter_based_firewall", "user", ""])),
    );
    put(
        "EdgePathingStatus",
        json!(rng.pick(&["nr", "captchaNew", "dnsException", ""])),
    );
    put(
        "EdgeRateLimitAction",
        json!(rng.pick(&["", "block", "simulate"])),
    );
    put("EdgeRateLimitID", json!(rng.pick(&[0, 0, 0, 1234567])));
    put(
        "EdgeRequestHost",
        json!(if rng.chance(0.3) { "" } else { host }),
    );
    put("EdgeResponseBodyBytes", num(rng, 100_000));
    put("EdgeResponseBytes", num(rng, 120_000));
    put(
        "EdgeResponseCompressionRatio",
        json!(rng.pick(&[0.0, 1.0, 2.64, 0.5, 3.125])),
    );
    put(
        "EdgeResponseContentType",
        json!(rng.pick(&["text/html", "application/json", "image/png", ""])),
    );
    put(
        "EdgeResponseStatus",
        json!(rng.pick(&[200, 301, 304, 403, 404, 500, 520])),
    );
    put("EdgeServerIP", json!(ip(rng)));
    put("EdgeStartTimestamp", start);
    let acts = *rng.pick(actions);
    put("FirewallMatchesActions", json!(acts));
    put(
        "FirewallMatchesSources",
        json!(acts.iter().map(|_| "firewallRules").collect::<Vec<_>>()),
    );
    put(
        "FirewallMatchesRuleIDs",
        json!(acts.iter().map(|_| rng.hex(32)).collect::<Vec<_>>()),
    );
    put(
        "OriginIP",
        json!(if rng.chance(0.2) { "" } else { ip(rng) }),
    );
    put("OriginResponseBytes", num(rng, 100_000));
    put("OriginResponseHTTPExpires", http_date(rng));
    put("OriginResponseHTTPLastModified", http_date(rng));
    put("OriginResponseStatus", json!(rng.pick(&[0, 200, 404, 502])));
    put("OriginResponseTime", num(rng, 3_000_000_000));
    put(
        "OriginSSLProtocol",
        json!(rng.pick(&["TLSv1.3", "TLSv1.2", "unknown", "none"])),
    );
    put(
        "ParentRayID",
        json!(if rng.chance(0.8) {
            "00".into()
        } else {
            rng.hex(16)
        }),
    );
    put("RayID", json!(rng.hex(16)));
    put(
        "SecurityLevel",
        json!(rng.pick(&["med", "high", "low", "off", "eoff"])),
    );
    put(
        "WAFAction",
        json!(rng.pick(&["unknown", "allow", "drop", "challenge"])),
    );
    put("WAFFlags", json!(rng.pick(&["0", "1", "2"])));
    put("WAFMatchedVar", json!(""));
    put(
        "WAFProfile",
        json!(rng.pick(&["unknown", "low", "med", "high"])),
    );
    put("WAFRuleID", json!(rng.pick(&["", "100000", "981176"])));
    put(
        "WAFRuleMessage",
        json!(rng.pick(&["", "SQL Injection Attack", "ünïcödé rule"])),
    );
    put("WorkerCPUTime", num(rng, 50_000));
    put(
        "WorkerStatus",
        json!(rng.pick(&["unknown", "ok", "exception"])),
    );
    put("WorkerSubrequest", json!(rng.chance(0.1)));
    put("WorkerSubrequestCount", num(rng, 10));
    put(
        "ZoneID",
        json!(rng.pick(&[155_978_002u64, 1, 99_999_999_999])),
    );
    if rng.chance(0.1) {
        put("ZoneName", json!(host));
    }
    if rng.chance(0.1) {
        put(
            "ClientRequestScheme",
            json!(rng.pick(&["http", "https", ""])),
        );
    }
    // Records missing optional fields (custom field lists, older data): drop a few at random.
    if rng.chance(0.25) {
        let keys: Vec<String> = r.keys().cloned().collect();
        for _ in 0..=rng.below(6) {
            let k = rng.pick(&keys).clone();
            r.remove(&k);
        }
    }
    // Nulls where Cloudflare has no value.
    if rng.chance(0.05) {
        let keys: Vec<String> = r.keys().cloned().collect();
        let k = rng.pick(&keys).clone();
        r.insert(k, Value::Null);
    }
    let line = Value::Object(r).to_string();
    match rng.below(400) {
        0 => line[..line.len() / 2].to_string(), // a cut record
        1 => "not json at all".to_string(),
        2 => "[1,2,3]".to_string(),
        _ => line,
    }
}

const AUDIT_ACTIONS: &[&str] = &[
    "login",
    "LOGIN",
    "token_create",
    "token_revoke",
    "token_roll",
    "api_key_view",
    "rotate_api_key",
    "api_key_created",
    "purge",
    "tls_settings_deployed",
    "add",
    "delete",
    "rec_add",
    "rec_del",
    "pending",
    "change_setting",
    "add_enforce_twofactor",
    "Change_Setting",
    "unknown_action",
    "",
];

fn audit_record(rng: &mut Rng) -> String {
    if rng.below(60) == 0 {
        return r#"{"errors":[],"messages":[],"result":[],"success":true}"#.to_string();
    }
    let mut action = Map::new();
    match rng.below(100) {
        0 => {}
        1 => {
            action.insert("result".into(), json!("true"));
        }
        _ => {
            action.insert("result".into(), json!(rng.chance(0.8)));
        }
    }
    if !rng.chance(0.05) {
        action.insert("type".into(), json!(rng.pick(AUDIT_ACTIONS)));
    }
    let user = rng.hex(32);
    let mut actor = Map::new();
    actor.insert(
        "email".into(),
        json!(rng.pick(&["user@example.com", "ädmin@exämple.org", ""])),
    );
    actor.insert("id".into(), json!(user));
    if !rng.chance(0.1) {
        let ip = if rng.chance(0.03) {
            *rng.pick(&["", "not-an-ip", "fe80::1%eth0"])
        } else {
            *rng.pick(&[
                "89.160.20.156",
                "81.2.69.142",
                "2001:218::1",
                "2a02:cf40::1",
                "203.0.113.9",
                "::1",
            ])
        };
        actor.insert("ip".into(), json!(ip));
    }
    actor.insert(
        "type".into(),
        json!(rng.pick(&["user", "admin", "Cloudflare"])),
    );
    let when_ms = 1_600_000_000_000i64 + rng.below(200 * 86_400_000) as i64;
    let dt = chrono::DateTime::from_timestamp_millis(when_ms).unwrap_or_default();
    let when = match rng.below(50) {
        7..=40 => json!(dt.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        0 => json!(dt.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        1 => json!(dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
        2 => json!(format!(
            "{}{:03}Z",
            dt.format("%Y-%m-%dT%H:%M:%S%.3f"),
            rng.below(1000)
        )),
        3 => json!(dt.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()),
        4 => json!(dt.format("%Y-%m-%dT%H:%M:%S+02:00").to_string()),
        5 => json!("yesterday"),
        41..=45 => json!(dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
        6 => json!(when_ms),
        _ => json!(dt.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()),
    };
    let mut rec = Map::new();
    rec.insert("action".into(), Value::Object(action));
    rec.insert("actor".into(), Value::Object(actor));
    let id = format!(
        "{}-{}-{}-{}-{}",
        rng.hex(8),
        rng.hex(4),
        rng.hex(4),
        rng.hex(4),
        rng.hex(12)
    );
    match rng.below(30) {
        0 => {}
        1 => {
            rec.insert("id".into(), json!(rng.below(1 << 40)));
        }
        _ => {
            rec.insert("id".into(), json!(id));
        }
    }
    rec.insert(
        "interface".into(),
        json!(rng.pick(&["", "UI", "API", "Terraform"])),
    );
    let metadata = match rng.below(4) {
        0 => json!({"zone_name": "example.com"}),
        1 => json!({"token_name": "test", "token_tag": rng.hex(32)}),
        2 => json!({}),
        _ => json!({"nested": {"a": [1, 2, {"b": null}], "s": "ünï"}}),
    };
    rec.insert("metadata".into(), metadata);
    let value = |rng: &mut Rng| match rng.below(5) {
        0 => json!(""),
        1 => json!("null"),
        2 => json!("on"),
        3 => json!("{\"a\":1}"),
        _ => json!("ünïcödé"),
    };
    rec.insert("newValue".into(), value(rng));
    rec.insert("oldValue".into(), value(rng));
    if rng.chance(0.3) {
        rec.insert(
            "newValueJson".into(),
            json!({"content": "192.0.2.1", "ttl": 1, "proxied": false, "tags": []}),
        );
    }
    if rng.chance(0.2) {
        rec.insert(
            "oldValueJson".into(),
            json!({"value": "off", "empty": "", "n": null}),
        );
    }
    rec.insert("owner".into(), json!({"id": rng.hex(32)}));
    match rng.below(4) {
        0 => {
            rec.insert("resource".into(), json!({"id": user, "type": "user"}));
        }
        1 => {
            rec.insert(
                "resource".into(),
                json!({"id": rng.hex(32), "type": "account"}),
            );
        }
        2 => {
            rec.insert(
                "resource".into(),
                json!({"type": "DNS_record", "id": "10715065330"}),
            );
        }
        _ => {}
    }
    rec.insert("when".into(), when);
    if rng.chance(0.03) {
        rec.remove("when");
    }
    let line = Value::Object(rec).to_string();
    match rng.below(300) {
        0 => "{\"truncated\":".to_string(),
        1 => "42".to_string(),
        _ => line,
    }
}

// ---------------------------------------------------------------------------------------------
// Field-by-field comparison and the exact list of known differences

/// Leaves by dotted path; lists are compared as whole values.
fn flatten(v: &Value) -> BTreeMap<String, Value> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, x) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&p, x, out);
                }
            }
            _ => {
                out.insert(prefix.to_string(), v.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", v, &mut out);
    out
}

/// One field on which the two documents of a record differ.
struct Diff<'a> {
    dataset: Dataset,
    record: &'a str,
    field: &'a str,
    cfship: Option<&'a Value>,
    oracle: Option<&'a Value>,
    cfship_doc: &'a BTreeMap<String, Value>,
    oracle_doc: &'a BTreeMap<String, Value>,
}

impl Diff<'_> {
    fn oracle_error(&self) -> &str {
        self.oracle_doc
            .get("error.message")
            .and_then(|v| v.as_str().or_else(|| v.as_array()?.first()?.as_str()))
            .unwrap_or("")
    }
    fn cfship_error(&self) -> &str {
        self.cfship_doc
            .get("error.message")
            .and_then(|v| v.as_str().or_else(|| v.as_array()?.first()?.as_str()))
            .unwrap_or("")
    }
    fn is_error_doc(&self) -> bool {
        self.oracle_doc.get("event.kind") == Some(&json!("pipeline_error"))
    }
}

/// A named, explained difference between cfship and the oracle.
struct Known {
    name: &'static str,
    reason: &'static str,
    applies: fn(&Diff) -> bool,
}

/// The message part of a Logpull `Processor "…" … failed with message "<msg>"` (or the whole text).
fn message_of(e: &str) -> &str {
    match e.find("failed with message \"") {
        Some(i) => e[i + "failed with message \"".len()..].trim_end_matches('"'),
        None => e,
    }
}

fn error_pair(d: &Diff, ours: &str, theirs: &str) -> bool {
    d.field == "error.message"
        && message_of(d.cfship_error()).contains(ours)
        && message_of(d.oracle_error()).contains(theirs)
}

/// The pipeline's final clean-up script (null, "", empty objects and lists removed, recursively).
fn cleaned(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::Object(m) => {
            let m: Map<String, Value> = m
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), cleaned(v)?)))
                .collect();
            (!m.is_empty()).then_some(Value::Object(m))
        }
        Value::Array(a) => {
            let a: Vec<Value> = a.iter().filter_map(cleaned).collect();
            (!a.is_empty()).then_some(Value::Array(a))
        }
        other => Some(other.clone()),
    }
}

/// Every difference cfship has with Elastic's pipelines as the oracle runs them. Exact: each entry
/// must still occur (the test fails otherwise), and nothing else may differ.
const KNOWN: &[Known] = &[
    Known {
        name: "error-document-timestamp (cfship decision)",
        reason: "an error document without a parsed time gets the ingest time as @timestamp (a data stream rejects it otherwise)",
        applies: |d| d.field == "@timestamp" && d.oracle.is_none() && d.is_error_doc(),
    },
    Known {
        name: "error-document-raw-json (cfship decision)",
        reason: "error documents never carry the parsed record (`json.*`, `_config.*`): event.original holds it",
        applies: |d| {
            (d.field.starts_with("json.") || d.field == "json" || d.field.starts_with("_config."))
                && d.cfship.is_none()
                && d.is_error_doc()
        },
    },
    Known {
        name: "error-document-cleaned (cfship decision)",
        reason: "Elastic's error documents skip the final null/empty clean-up (on_failure runs instead); cfship cleans every document",
        applies: |d| d.is_error_doc() && d.oracle.and_then(cleaned).as_ref() == d.cfship,
    },
    Known {
        name: "biginteger-in-conditional (OpenSearch 7.10 fork)",
        reason: "OpenSearch's ingest document rejects numbers beyond 64 bits in a conditional (`unexpected value type`); cfship keeps them (not verified against Elasticsearch 8)",
        applies: |d| d.record.contains("18446744073709551615"),
    },
    Known {
        name: "scoped-ipv6-literal (unverified)",
        reason: "the 7.10 fork's InetAddresses accepts `fe80::1%eth0`; cfship rejects it",
        applies: |d| d.record.contains("%eth0"),
    },
    Known {
        name: "audit-action-result-not-boolean (cfship gap)",
        reason: "`if: ctx.json?.action?.result` fails on a missing or non-boolean result in Painless; cfship reads it as false",
        applies: |d| {
            d.dataset == Dataset::Audit
                && (d.oracle_error().contains("to boolean") || d.oracle_error().contains("\"value\" is null"))
                && !d.cfship_error().contains("to boolean")
        },
    },
    Known {
        name: "convert-ip-message (unverified)",
        reason: "convert type ip: OpenSearch says `[x] is not a valid ipv4/ipv6 address`, cfship the InetAddresses text",
        applies: |d| error_pair(d, "is not an IP string literal", "is not a valid ipv4/ipv6 address"),
    },
    Known {
        name: "rename-exists-message (unverified)",
        reason: "rename onto an existing field: cfship appends `(renaming [source])` to `field [x] already exists`",
        applies: |d| error_pair(d, "already exists (renaming [", "already exists"),
    },
    Known {
        name: "iso8601-failure-text (7.10 vs 8.x)",
        reason: "a date the ISO8601 format rejects: Elasticsearch 8's own ISO parser says `Failed to parse with all enclosed parsers` (cfship), the 7.10 fork java.time's `Text '…' could not be parsed`",
        applies: |d| error_pair(d, "Failed to parse with all enclosed parsers", "could not be parsed"),
    },
    Known {
        name: "painless-null-receiver-text (7.10 vs 8.x)",
        reason: "a method call on null in Painless: Elasticsearch 8 says `cannot access method/field [m] from a null def reference` (cfship), the 7.10 fork the JVM's NullPointerException text",
        applies: |d| error_pair(d, "from a null def reference", "because \"receiver\" is null"),
    },
    Known {
        name: "date-empty-message (7.10 vs 8.x)",
        reason: "a null date: Elasticsearch 8's DateFormatter says `cannot parse empty datetime` (cfship, checked with the 8.19 jar), the 7.10 fork `cannot parse empty date`",
        applies: |d| error_pair(d, "cannot parse empty datetime", "cannot parse empty date"),
    },
    Known {
        name: "json-parse-message (cfship decision)",
        reason: "a record that is not JSON: cfship words the parser error itself (Jackson's text, with `tag \"\"` and `pipeline \"\"` under _simulate, is not reproduced)",
        applies: |d| d.field == "error.message" && d.cfship_error().contains("Processor \"json\""),
    },
];

struct Tally {
    /// The exact list of known differences this tally checks against.
    known: &'static [Known],
    records: usize,
    fields: usize,
    docs_with_differences: usize,
    per_known: Vec<usize>,
    unexpected: Vec<String>,
    /// `CFSHIP_ORACLE_DUMP=FILE`: every difference as one JSON line, for analysis.
    dump: Option<std::fs::File>,
}

fn show(v: Option<&Value>) -> String {
    match v {
        None => "(absent)".to_string(),
        Some(v) => {
            let s = v.to_string();
            if s.chars().count() > 300 {
                format!("{}…", s.chars().take(300).collect::<String>())
            } else {
                s
            }
        }
    }
}

fn compare(
    dataset: Dataset,
    t: &Transformer,
    oracle: &Oracle,
    pipeline: &str,
    records: &[String],
    source: impl Fn(&str) -> Value,
    tally: &mut Tally,
) {
    let sources: Vec<Value> = records.iter().map(|r| source(r)).collect();
    let results = oracle.simulate(pipeline, &sources);
    for (i, (record, result)) in records.iter().zip(results).enumerate() {
        tally.records += 1;
        let ours = t.transform(dataset, record, 1_700_000_000_000);
        let (mut cf, mut os) = match (ours, result) {
            (Outcome::Dropped, None) => continue,
            (Outcome::Doc(d), Some((id, src))) => {
                let mut cf = flatten(&serde_json::from_str(&d.source).expect("cfship JSON"));
                let mut os = flatten(&src);
                // `_id`: the oracle's fingerprint when the pipeline got that far.
                if id != placeholder_id(i) {
                    cf.insert("_id".into(), json!(d.id));
                    os.insert("_id".into(), json!(id));
                }
                (cf, os)
            }
            (ours, theirs) => {
                tally.unexpected.push(format!(
                    "{} record {i}: cfship {:?}, oracle {:?}\n  record: {record}",
                    dataset.name(),
                    matches!(ours, Outcome::Doc(_))
                        .then_some("document")
                        .unwrap_or("dropped"),
                    theirs.map(|_| "document").unwrap_or("dropped"),
                ));
                continue;
            }
        };
        cf.remove("event.ingested");
        os.remove("event.ingested");
        let keys: std::collections::BTreeSet<String> =
            cf.keys().chain(os.keys()).cloned().collect();
        let mut differs = false;
        for field in &keys {
            tally.fields += 1;
            let (a, b) = (cf.get(field), os.get(field));
            if a == b {
                continue;
            }
            differs = true;
            let diff = Diff {
                dataset,
                record,
                field,
                cfship: a,
                oracle: b,
                cfship_doc: &cf,
                oracle_doc: &os,
            };
            let known = tally.known.iter().position(|k| (k.applies)(&diff));
            if let (Some(dump), None) = (tally.dump.as_mut(), known) {
                use std::io::Write;
                let line = json!({
                    "known": known.map(|k| tally.known[k].name),
                    "dataset": dataset.name(), "record_index": i, "field": field,
                    "cfship": a, "oracle": b, "record": record,
                    "cfship_error": diff.cfship_error(), "oracle_error": diff.oracle_error(),
                });
                writeln!(dump, "{line}").expect("write CFSHIP_ORACLE_DUMP");
            }
            match known {
                Some(k) => tally.per_known[k] += 1,
                None => tally.unexpected.push(format!(
                    "{} record {i}, field {field}: cfship {} / Elastic's pipeline {}\n  record: {record}\n  errors: cfship {:?} / Elastic {:?}",
                    dataset.name(),
                    show(a),
                    show(b),
                    diff.cfship_error(),
                    diff.oracle_error()
                )),
            }
        }
        if differs {
            tally.docs_with_differences += 1;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// user_agent: cfship against OpenSearch's own ingest-user-agent (its built-in regexes)

struct UaTally {
    agents: usize,
    fields: usize,
    equal: usize,
    renamed: usize,
    unexpected: Vec<String>,
}

/// OpenSearch renamed the architecture names inside the patterns of its copy of uap-core's regexes
/// (`x86_64` → `x64`, `aarch64` → `arm64`); Elasticsearch 8's file, which cfship embeds, did not.
/// Those patterns no longer match agents that name the architecture, which then fall through to
/// later patterns in OpenSearch (e.g. a macOS `CFNetwork … (x86_64)` agent becomes iOS).
fn names_renamed_architecture(ua: &str) -> bool {
    ua.contains("x86_64") || ua.contains("aarch64")
}

/// The user agents of uap-core's test corpus (and edge cases) kept in cfship-useragent's Java
/// oracle fixture, through the processor with its default regexes and through cfship.
fn compare_user_agents(oracle: &Oracle) -> UaTally {
    let fixture = repo().join("crates/cfship-useragent/tests/fixtures/java_oracle.jsonl");
    let text = std::fs::read_to_string(&fixture).expect("user-agent fixture");
    let agents: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["ua"].as_str().map(str::to_owned))
        .collect();
    let sources: Vec<Value> = agents.iter().map(|a| json!({ "ua": a })).collect();
    let results = oracle.simulate_inline(
        &json!({"processors": [{"user_agent": {"field": "ua", "ignore_missing": true}}]}),
        &sources,
    );
    let parser = cfship_useragent::UserAgentParser::shared().expect("regexes");
    let mut t = UaTally {
        agents: agents.len(),
        fields: 0,
        equal: 0,
        renamed: 0,
        unexpected: Vec::new(),
    };
    for (a, r) in agents.iter().zip(&results) {
        let ours = parser.parse(a);
        let u = &r["user_agent"];
        let theirs = |path: &[&str]| {
            let mut v = u;
            for p in path {
                v = &v[*p];
            }
            v.as_str().map(str::to_owned)
        };
        let pairs = [
            ("name", ours.name.clone(), theirs(&["name"])),
            ("version", ours.version.clone(), theirs(&["version"])),
            ("os.name", ours.os_name.clone(), theirs(&["os", "name"])),
            (
                "os.version",
                ours.os_version.clone(),
                theirs(&["os", "version"]),
            ),
            ("os.full", ours.os_full.clone(), theirs(&["os", "full"])),
            (
                "device.name",
                ours.device_name.clone(),
                theirs(&["device", "name"]),
            ),
        ];
        for (field, ours, theirs) in pairs {
            t.fields += 1;
            if ours == theirs {
                t.equal += 1;
            } else if names_renamed_architecture(a) {
                t.renamed += 1;
            } else {
                t.unexpected.push(format!(
                    "{a:?} user_agent.{field}: cfship {ours:?} / OpenSearch {theirs:?}"
                ));
            }
        }
    }
    t
}

#[test]
fn elastic_pipelines_on_an_ingest_node_agree_with_cfship() {
    let geoip = geoip_dir();
    if !geoip.join("GeoLite2-City-Test.mmdb").is_file() {
        return skip_or_fail(&format!(
            "GeoIP test databases not found in {} (set CFSHIP_GEOIP_DIR)",
            geoip.display()
        ));
    }
    if java21().is_none() {
        return skip_or_fail("no Java 21+ under /usr/lib/jvm (set CFSHIP_JAVA21_HOME)");
    }
    if !have("mvn", "--version") {
        return skip_or_fail("mvn not found on PATH");
    }
    let n: usize = std::env::var("CFSHIP_ORACLE_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let seed: u64 = std::env::var("CFSHIP_ORACLE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x0C0F_FEE5);

    let geo = Arc::new(cfship_ecs::GeoIp::open_dir(&geoip).expect("open GeoIP test databases"));
    if let Some(names) = selection() {
        let streams: Vec<String> = oracle_logpush::manifest()
            .into_iter()
            .map(|r| r.data_stream)
            .collect();
        let unknown: Vec<&String> = names
            .iter()
            .filter(|n| {
                !["logpull", "audit", "user_agent"].contains(&n.as_str()) && !streams.contains(n)
            })
            .collect();
        assert!(
            unknown.is_empty(),
            "CFSHIP_ORACLE_DATASETS names {unknown:?}: not logpull, audit, user_agent or a data stream of {}",
            oracle_logpush::manifest_path().display()
        );
    }
    let cloudflare_dir = cloudflare_pipelines_dir();
    if let Err(e) = &cloudflare_dir {
        eprintln!("SKIPPED the Logpull and audit parts of oracle_elastic_pipelines: {e}");
    }
    let logpush_dir = oracle_logpush::pipelines_dir();
    let oracle = Oracle::start(
        &geoip,
        cloudflare_dir.as_ref().ok().map(|p| p.as_path()),
        logpush_dir.as_ref().ok().map(|p| p.as_path()),
    );
    let cloudflare = cloudflare_dir.is_ok();
    let mut tally = Tally::new(KNOWN, std::env::var("CFSHIP_ORACLE_DUMP").ok().as_deref());

    let mut rng = Rng(seed);
    let logpull: Vec<String> = (0..n).map(|_| logpull_record(&mut rng)).collect();
    let t = Transformer::new(
        Options {
            preserve_original: true,
            ..Default::default()
        },
        Some(geo.clone()),
    )
    .expect("transformer");
    if cloudflare && selected("logpull") {
        compare(
            Dataset::Logpull,
            &t,
            &oracle,
            LOGPULL_PIPELINE,
            &logpull,
            |r| json!({"message": r, "tags": ["preserve_original_event"]}),
            &mut tally,
        );
    }
    let logpull_tally = (tally.records, tally.fields);

    let audit: Vec<String> = (0..n).map(|_| audit_record(&mut rng)).collect();
    let t = t.with_options(Options {
        account_id: Some(ACCOUNT_ID.into()),
        preserve_original: true,
        ..Default::default()
    });
    if cloudflare && selected("audit") {
        compare(
            Dataset::Audit,
            &t,
            &oracle,
            AUDIT_PIPELINE,
            &audit,
            |r| json!({"message": r, "tags": ["preserve_original_event"], "_config": {"account_id": ACCOUNT_ID}}),
            &mut tally,
        );
    }

    let ua = selected("user_agent").then(|| compare_user_agents(&oracle));
    let logpush = compare_logpush(&oracle, &geo, logpush_dir, seed);

    eprintln!(
        "oracle_elastic_pipelines: {} records ({} logpull, {} audit), {} fields compared \
         ({} logpull), {} documents with a difference",
        tally.records,
        logpull_tally.0,
        tally.records - logpull_tally.0,
        tally.fields,
        logpull_tally.1,
        tally.docs_with_differences
    );
    if let Some(ua) = ua {
        eprintln!(
            "user_agent with OpenSearch's own regexes: {} agents, {} fields, {} equal, {} differ on agents \
             naming x86_64/aarch64 (patterns OpenSearch renamed to x64/arm64)",
            ua.agents, ua.fields, ua.equal, ua.renamed
        );
        assert!(
            ua.unexpected.is_empty(),
            "{} user-agent fields differ from OpenSearch's ingest-user-agent beyond the architecture renames:\n{}",
            ua.unexpected.len(),
            ua.unexpected.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
        );
        assert!(
            ua.renamed > 0,
            "the architecture renames no longer occur: update docs/oracles.md"
        );
    }
    if cloudflare {
        tally.check("Elastic's pipelines", "KNOWN");
    }
    if let Some(lp) = logpush {
        lp.check("the cloudflare_logpush pipelines", "oracle_logpush::KNOWN");
    }
}

impl Tally {
    fn new(known: &'static [Known], dump: Option<&str>) -> Tally {
        Tally {
            known,
            records: 0,
            fields: 0,
            docs_with_differences: 0,
            per_known: vec![0; known.len()],
            unexpected: Vec::new(),
            dump: dump.map(|p| std::fs::File::create(p).expect("create CFSHIP_ORACLE_DUMP")),
        }
    }

    /// Fails on any unexpected difference and on any known difference that no longer occurs.
    fn check(&self, what: &str, list: &str) {
        for (k, count) in self.known.iter().zip(&self.per_known) {
            eprintln!(
                "  known difference {:<40} {count:>6} fields  ({})",
                k.name, k.reason
            );
        }
        assert!(
            self.unexpected.is_empty(),
            "{} unexpected differences between cfship and {what} (first 40):\n{}",
            self.unexpected.len(),
            self.unexpected
                .iter()
                .take(40)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        if let Some(names) = selection() {
            eprintln!(
                "  (CFSHIP_ORACLE_DATASETS={}: not checking that every known difference still occurs)",
                names.join(",")
            );
            return;
        }
        let stale: Vec<&str> = self
            .known
            .iter()
            .zip(&self.per_known)
            .filter(|(_, c)| **c == 0)
            .map(|(k, _)| k.name)
            .collect();
        assert!(
            stale.is_empty(),
            "known differences that no longer occur (remove them from {list} and docs/oracles.md): {stale:?}"
        );
    }
}

/// Every data stream of `oracles/opensearch-ingest/logpush-pipelines.tsv` through Elastic's
/// pipeline and cfship (`CFSHIP_ORACLE_LOGPUSH_RECORDS` records each, default 1500). `None` when
/// Elastic's pipeline files are not here (said loudly; the Logpull and audit parts still run).
fn compare_logpush(
    oracle: &Oracle,
    geo: &Arc<cfship_ecs::GeoIp>,
    dir: Result<PathBuf, String>,
    seed: u64,
) -> Option<Tally> {
    if let Err(e) = dir {
        eprintln!("SKIPPED the cloudflare_logpush part of oracle_elastic_pipelines: {e}");
        return None;
    }
    let n: usize = std::env::var("CFSHIP_ORACLE_LOGPUSH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let dump = std::env::var("CFSHIP_ORACLE_DUMP")
        .ok()
        .map(|p| format!("{p}.logpush"));
    let mut tally = Tally::new(oracle_logpush::KNOWN, dump.as_deref());
    for row in oracle_logpush::selected_rows() {
        if !row.file.ends_with("-default.yml") {
            continue; // called by the default pipeline
        }
        let ds = cfship_ecs::logpush::Ds::from_name(&row.data_stream)
            .unwrap_or_else(|| panic!("unknown data stream {} in the manifest", row.data_stream));
        assert_eq!(
            row.pipeline_id,
            ds.spec().pipeline_name(),
            "the manifest's pipeline id of {} is the name cfship gives it",
            row.data_stream
        );
        // First: the node reproduces Elastic's own pipeline-test documents of the data stream
        // (so a difference below is cfship's or a named engine difference, not a wrong file).
        let tags = oracle_logpush::tags(&row.data_stream);
        let golden = oracle_logpush::golden_pairs(&row.data_stream);
        let sources: Vec<Value> = golden
            .iter()
            .map(|(line, _)| json!({"message": line, "tags": tags}))
            .collect();
        let mut golden_diffs = Vec::new();
        for ((line, want), got) in golden
            .iter()
            .zip(oracle.simulate(&row.pipeline_id, &sources))
        {
            let mut got = got.map(|(_, src)| flatten(&src)).unwrap_or_default();
            let mut want = flatten(want);
            got.remove("event.ingested");
            want.remove("event.ingested");
            let keys: std::collections::BTreeSet<&String> = got.keys().chain(want.keys()).collect();
            for k in keys {
                if got.get(k) != want.get(k) {
                    golden_diffs.push(format!(
                        "{k}: node {} / golden {}\n  line: {line}",
                        show(got.get(k)),
                        show(want.get(k))
                    ));
                }
            }
        }
        assert!(
            golden_diffs.is_empty(),
            "the node does not reproduce the golden documents of {} (wrong pipeline file or era?):\n{}",
            row.data_stream,
            golden_diffs.join("\n")
        );
        // One seed per data stream: adding a data stream leaves the others' records unchanged.
        let mut rng = Rng(seed ^ fnv(&row.data_stream));
        let records = oracle_logpush::records(&row.data_stream, n, &mut rng);
        let t = Transformer::new(
            Options {
                preserve_original: true,
                tags: tags.clone(),
                ..Default::default()
            },
            Some(geo.clone()),
        )
        .expect("transformer");
        let before = (tally.records, tally.fields, tally.docs_with_differences);
        compare(
            Dataset::Logpush(ds),
            &t,
            oracle,
            &row.pipeline_id,
            &records,
            |r| json!({"message": r, "tags": tags}),
            &mut tally,
        );
        eprintln!(
            "oracle_elastic_pipelines: logpush {:<24} {} golden documents reproduced; {} records, {} fields, {} documents with a difference",
            row.data_stream,
            golden.len(),
            tally.records - before.0,
            tally.fields - before.1,
            tally.docs_with_differences - before.2
        );
    }
    Some(tally)
}

/// FNV-1a of a name (a per-data-stream seed).
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3)
    })
}
