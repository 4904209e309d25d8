//! Proof 1 of issue 5: `cfship demo` works on a fresh machine (no account, no config) and its
//! documents are searchable in Elasticsearch; without Elasticsearch it writes ./cfship-demo/*.ndjson.

mod common;
use common::*;
use std::process::Command;

/// (Logpull, audit) counts of the "ground truth (simulator): …" line.
fn ground_truth_line(stdout: &str) -> (u64, u64) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("ground truth (simulator):"))
        .unwrap_or_else(|| panic!("no ground truth line in:\n{stdout}"));
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums[0], nums[1])
}

fn table_count(stdout: &str, dataset: &str) -> u64 {
    stdout
        .lines()
        .find_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some(dataset)).then(|| it.next().and_then(|n| n.parse().ok()))?
        })
        .unwrap_or_else(|| panic!("no {dataset} row in:\n{stdout}"))
}

#[test]
fn demo_writes_ndjson_files_without_elasticsearch() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(BIN)
        .args(["demo", "--hours", "1"])
        .current_dir(dir.path())
        .env_remove("ELASTICSEARCH_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (lp, au) = ground_truth_line(&stdout);
    assert!(lp > 1000 && au > 0, "{stdout}");
    let lp_lines = file_values(
        &dir.path().join("cfship-demo/logpull.ndjson"),
        "cloudflare.ray_id",
    );
    let au_lines = file_values(&dir.path().join("cfship-demo/audit.ndjson"), "event.id");
    assert_eq!(lp_lines.len() as u64, lp);
    assert_eq!(au_lines.len() as u64, au);
    let mut d = lp_lines.clone();
    d.dedup();
    assert_eq!(d.len(), lp_lines.len(), "no duplicate RayIDs");
    assert_eq!(table_count(&stdout, "logpull"), lp);
    // Logpush: the simulated job's batches (one delivered twice) reach the demo's receiver and
    // land once each in their own file
    let lpush = file_values(
        &dir.path().join("cfship-demo/logpush-http_request.ndjson"),
        "cloudflare_logpush.http_request.ray.id",
    );
    assert_eq!(lpush.len(), 3000, "{stdout}");
    let mut d = lpush.clone();
    d.sort();
    d.dedup();
    assert_eq!(d.len(), 3000, "a Logpush record twice in the file");
    assert_eq!(table_count(&stdout, "logpush-http_request"), 3000);
    assert!(
        stdout.contains("3250 Logpush records acknowledged"),
        "{stdout}"
    );
    assert!(
        !dir.path()
            .join("cfship-demo/logpush-spool")
            .read_dir()
            .map(|mut d| d
                .any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "seg"))))
            .unwrap_or(false),
        "the spool is drained"
    );
    assert!(
        stdout.contains("top status codes") && stdout.contains("firewall actions"),
        "{stdout}"
    );
}

#[test]
fn demo_documents_are_searchable_in_elasticsearch() {
    let Some(es) = engine_url("CFSHIP_ES8_URL", "demo into Elasticsearch") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ns = unique_ns("demo");
    let o = Command::new(BIN)
        .args(["demo", "--hours", "2", "--namespace", &ns])
        .env("ELASTICSEARCH_URL", &es)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (lp, au) = ground_truth_line(&stdout);
    let lp_idx = format!("logs-cloudflare.logpull-{ns}");
    let au_idx = format!("logs-cloudflare.audit-{ns}");
    assert_eq!(
        count(&es, &lp_idx, "*"),
        lp,
        "every Logpull record indexed once"
    );
    assert_eq!(
        count(&es, &au_idx, "*"),
        au,
        "every audit event indexed once"
    );
    let lpush_idx = format!("logs-cloudflare_logpush.http_request-{ns}");
    assert_eq!(
        count(&es, &lpush_idx, "*"),
        3000,
        "every pushed Logpush record indexed once (a re-delivered batch is no new document)"
    );
    assert!(count(&es, &lpush_idx, "http.response.status_code:200") > 0);
    let rays = all_values(&es, &lp_idx, "cloudflare.ray_id");
    let mut d = rays.clone();
    d.dedup();
    assert_eq!(d.len(), rays.len());
    // searchable by the fields people filter on
    assert!(count(&es, &lp_idx, "url.domain:*") > 0);
    assert!(count(&es, &lp_idx, "cloudflare.firewall.actions:block") > 0);
    assert!(count(&es, &lp_idx, "http.response.status_code:200") > 0);
    assert!(count(&es, &au_idx, "event.action:*") > 0);
    // the query the demo prints as a hint finds documents (Cloudflare's country codes are
    // lower-case, kept as Elastic keeps them)
    let hint = stdout
        .lines()
        .find_map(|l| l.split("?q=").nth(1))
        .and_then(|q| q.split('&').next())
        .expect("the demo prints a search hint");
    assert!(
        count(&es, &lp_idx, hint) > 0,
        "the hint query {hint} finds nothing"
    );
    assert_eq!(
        count(
            &es,
            &au_idx,
            &format!("cloud.account.id:* AND data_stream.namespace:{ns}")
        ),
        au
    );
    assert!(
        !dir.path().join("cfship-demo/logpull.ndjson").exists(),
        "ES mode writes no files"
    );
}
