//! `cfship transform` end to end through the binary: Elastic's golden inputs in bulk format, bad
//! input counted and dead-lettered, exit codes.

use std::path::PathBuf;
use std::process::Command;

fn shared(env: &str, sub: &str) -> Option<PathBuf> {
    let p = std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared")
            .join(sub)
    });
    if p.is_dir() {
        return Some(p);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} missing under CI=true",
        p.display()
    );
    eprintln!("SKIPPED: {} not found (set {env})", p.display());
    None
}

fn cfship() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cfship"))
}

#[test]
fn golden_logpull_in_bulk_format_with_ids() {
    let (Some(golden), Some(geoip)) = (
        shared("CFSHIP_GOLDEN_DIR", "golden"),
        shared("CFSHIP_GEOIP_DIR", "geoip"),
    ) else {
        return;
    };
    let dir = golden.join("elastic-cloudflare/logpull");
    let out = cfship()
        .args([
            "transform",
            "--dataset",
            "logpull",
            "--preserve-original",
            "--format",
            "bulk",
            "--namespace",
            "ci",
        ])
        .arg("--geoip-dir")
        .arg(&geoip)
        .arg("--input")
        .arg(dir.join("test-http-json.log"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("4 records in, 4 documents out, 0 pipeline errors"),
        "{stderr}"
    );
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("test-http-json.log-expected.json")).unwrap(),
    )
    .unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 8);
    for (pair, want) in lines
        .chunks(2)
        .zip(expected["expected"].as_array().unwrap())
    {
        let action = &pair[0]["create"];
        assert_eq!(action["_index"], "logs-cloudflare.logpull-ci");
        let mut doc = pair[1].clone();
        let original = doc["event"]["original"].as_str().unwrap().to_string();
        // _id = base64(SHA-1(0x00 ‖ event.original)), as Elasticsearch's fingerprint processor.
        let py = Command::new("python3")
            .args(["-c", "import sys,hashlib,base64;print(base64.b64encode(hashlib.sha1(b'\\x00'+sys.argv[1].encode()).digest()).decode())", &original])
            .output()
            .expect("python3 is needed to check _id independently (.ci/run installs it)");
        assert!(
            py.status.success(),
            "{}",
            String::from_utf8_lossy(&py.stderr)
        );
        assert_eq!(action["_id"], String::from_utf8_lossy(&py.stdout).trim());
        assert_eq!(doc["data_stream"]["namespace"], "ci");
        let ev = doc["event"].as_object_mut().unwrap();
        ev.remove("ingested");
        ev.remove("dataset");
        ev.remove("module");
        doc.as_object_mut().unwrap().remove("data_stream");
        assert_eq!(&doc, want);
    }
}

#[test]
fn bad_input_is_counted_dead_lettered_and_never_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.ndjson");
    std::fs::write(
        &input,
        b"{\"action\":{\"result\":true,\"type\":\"login\"},\"id\":\"a\",\"when\":\"2024-01-01T00:00:00Z\"}\nnot json at all\n\xff\xfe\n{\"id\":\"b\"}{\"errors\":[],\"messages\":[],\"result\":[],\"success\":true}\n",
    )
    .unwrap();
    let dead = tmp.path().join("dead.ndjson");
    let out = cfship()
        .args(["transform", "--dataset", "audit", "--input"])
        .arg(&input)
        .arg("--dead-letter")
        .arg(&dead)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("5 records in, 4 documents out, 3 pipeline errors, 1 dropped"),
        "{stderr}"
    );
    let docs: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 4);
    assert_eq!(docs[0]["event"]["kind"], "event");
    for d in &docs[1..] {
        assert_eq!(d["event"]["kind"], "pipeline_error");
        assert!(d["error"]["message"].is_array());
        assert!(d["event"]["original"].is_string());
    }
    let dl = std::fs::read_to_string(&dead).unwrap();
    let dl: Vec<serde_json::Value> = dl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(dl.len(), 3);
    assert_eq!(dl[0]["line"], 2);
    assert_eq!(dl[0]["record"], "not json at all");
    assert!(dl[1]["error"].as_str().unwrap().contains("not valid UTF-8"));
    assert!(dl[2]["error"].as_str().unwrap().contains("[when]"));
}

#[test]
fn io_and_usage_errors_exit_non_zero() {
    let out = cfship()
        .args([
            "transform",
            "--dataset",
            "logpull",
            "--input",
            "/nonexistent/file.ndjson",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot open input /nonexistent/file.ndjson")
    );
    let out = cfship()
        .args(["transform", "--dataset", "dns"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// With `--reencode`, raw Cloudflare output (keys in Cloudflare's order, spaces, nanosecond
/// timestamps) is re-encoded as Elastic Agent publishes it before the pipeline, as the daemon does:
/// `event.original` sorted and compact; numbers verbatim, or Agent's float64 digits with
/// `--agent-numbers`. Without it the line is `event.original` as it is.
#[test]
fn raw_records_are_re_encoded_as_agent_publishes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("raw.ndjson");
    std::fs::write(
        &input,
        "{\"RayID\": \"7f1a2b3c4d5e6f70\", \"EdgeStartTimestamp\": 1700000000123456789, \"EdgeEndTimestamp\": 1700000000150000000, \"ClientIP\": \"192.0.2.7\", \"ClientRequestHost\": \"a.example\", \"EdgeRequestHost\": \"a.example\", \"ClientRequestURI\": \"/x?a=1\", \"ClientRequestReferer\": \"https://r.example/?q=<b>&c\", \"ClientSSLProtocol\": \"TLSv1.3\", \"ClientSSLCipher\": \"AEAD-AES128-GCM-SHA256\", \"EdgeServerIP\": \"\", \"OriginIP\": \"192.0.2.200\"}\n",
    )
    .unwrap();
    let run = |extra: &[&str]| -> (String, serde_json::Value) {
        let out = cfship()
            .args([
                "transform",
                "--dataset",
                "logpull",
                "--preserve-original",
                "--format",
                "bulk",
                "--input",
            ])
            .arg(&input)
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        (
            lines[0]["create"]["_id"].as_str().unwrap().to_string(),
            lines[1].clone(),
        )
    };
    let (_, plain) = run(&[]);
    assert_eq!(
        plain["event"]["original"].as_str().unwrap(),
        std::fs::read_to_string(&input).unwrap().trim_end()
    );
    let (id, doc) = run(&["--reencode"]);
    let original = doc["event"]["original"].as_str().unwrap();
    assert_eq!(
        original,
        r#"{"ClientIP":"192.0.2.7","ClientRequestHost":"a.example","ClientRequestReferer":"https://r.example/?q=\u003cb\u003e\u0026c","ClientRequestURI":"/x?a=1","ClientSSLCipher":"AEAD-AES128-GCM-SHA256","ClientSSLProtocol":"TLSv1.3","EdgeEndTimestamp":1700000000150000000,"EdgeRequestHost":"a.example","EdgeServerIP":"","EdgeStartTimestamp":1700000000123456789,"OriginIP":"192.0.2.200","RayID":"7f1a2b3c4d5e6f70"}"#
    );
    assert_eq!(doc["event"]["kind"], "event");
    let (agent_id, agent_doc) = run(&["--agent-numbers"]);
    let agent_original = agent_doc["event"]["original"].as_str().unwrap();
    assert_eq!(
        agent_original,
        original.replace("1700000000123456789", "1700000000123456800")
    );
    assert_ne!(id, agent_id, "the _id follows event.original");
    // Everything the pipeline derives is the same (times are truncated to milliseconds).
    for path in [
        ["@timestamp", ""],
        ["event", "start"],
        ["event", "duration"],
        ["url", "full"],
    ] {
        let get = |d: &serde_json::Value| {
            if path[1].is_empty() {
                d[path[0]].clone()
            } else {
                d[path[0]][path[1]].clone()
            }
        };
        assert_eq!(get(&doc), get(&agent_doc), "{path:?}");
    }
    assert_eq!(doc["@timestamp"], "2023-11-14T22:13:20.123Z");
}

/// `--list-datasets` names every dataset, and `--dataset cloudflare_logpush.<ds>` runs that data
/// stream's pipeline; the seed's two are also accepted as `cloudflare.audit` / `cloudflare.logpull`.
#[test]
fn logpush_datasets_are_listed_and_transformed() {
    let out = cfship()
        .args(["transform", "--list-datasets"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let list = String::from_utf8(out.stdout).unwrap();
    for ds in cfship_ecs::logpush::Ds::ALL {
        assert!(list.contains(ds.dataset()), "{list}");
        assert!(list.contains(ds.spec().cloudflare), "{list}");
    }
    assert!(list.lines().next().unwrap().starts_with("audit "));

    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("dns.ndjson");
    std::fs::write(
        &input,
        "{\"ColoCode\":\"MRS\",\"QueryName\":\"example.com\",\"QueryType\":1,\"ResponseCode\":0,\"SourceIP\":\"2001:db8::1\",\"Timestamp\":1653557034000}\nnot json\n",
    )
    .unwrap();
    let out = cfship()
        .args([
            "transform",
            "--dataset",
            "cloudflare_logpush.dns",
            "--format",
            "bulk",
            "--input",
        ])
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(
        lines[0]["create"]["_index"],
        "logs-cloudflare_logpush.dns-default"
    );
    let doc = &lines[1];
    assert_eq!(doc["@timestamp"], "2022-05-26T09:23:54.000Z");
    assert_eq!(doc["source"]["ip"], "2001:db8::1");
    assert_eq!(doc["event"]["dataset"], "cloudflare_logpush.dns");
    assert_eq!(doc["event"]["module"], "cloudflare_logpush");
    assert_eq!(doc["data_stream"]["dataset"], "cloudflare_logpush.dns");
    // The dns pipeline ignores a JSON failure: the constants only, stamped with the read time.
    let bad = &lines[3];
    assert_eq!(bad["event"]["kind"], "event");
    assert!(bad.get("@timestamp").is_some());
    for alias in ["cloudflare.audit", "cloudflare.logpull"] {
        let out = cfship()
            .args(["transform", "--dataset", alias, "--input"])
            .arg(&input)
            .output()
            .unwrap();
        assert!(out.status.success(), "{alias}");
    }
}
