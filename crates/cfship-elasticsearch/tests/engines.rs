//! Against real servers: ES 8 (`CFSHIP_ES8_URL`), ES 9 (`CFSHIP_ES9_URL`), OpenSearch
//! (`CFSHIP_OPENSEARCH_URL`). Unset → `SKIPPED:` line (a failure when `CI=true`).

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

use cfship_elasticsearch::{
    data_stream_name, expected_types, Distribution, ElasticsearchSink, IndexTemplate,
    TemplateOutcome, TEMPLATE_PRIORITY, TEMPLATE_VERSION,
};

/// Templates install; golden documents land in the right data streams with the intended mapping types;
/// searches find them; indexing them again leaves one copy each.
async fn golden_roundtrip(var: &str, test: &str) {
    let Some(url) = engine_url(var, test) else {
        return;
    };
    init_tracing();
    let tmp = tempfile::tempdir().expect("tempdir");
    let ns = unique_namespace("golden");
    let cfg = config(&url, &ns, tmp.path().join("dead.ndjson"));
    let sink = ElasticsearchSink::connect(cfg).await.expect("connect");
    let backend = sink.backend().clone();
    eprintln!("{test}: {backend:?}");
    if var.contains("OPENSEARCH") {
        assert_eq!(backend.distribution, Distribution::OpenSearch);
        assert!(backend.types.flat_object && !backend.types.flattened);
    } else {
        assert_eq!(backend.distribution, Distribution::Elasticsearch);
        assert!(backend.types.flattened);
        // the integ-test zip lacks the X-Pack mapper modules: the probe must have found that
        assert!(!backend.types.wildcard && !backend.types.constant_keyword);
    }
    assert_eq!(backend.types_source, "probed");

    // templates: installed (or already there from a parallel test / earlier run), then unchanged
    let first = sink.ensure_templates().await.expect("templates");
    assert_eq!(first.len(), IndexTemplate::all().count());
    assert!(
        first.len() > 2,
        "the cloudflare_logpush templates are installed too"
    );
    for o in &first {
        assert!(
            matches!(
                o,
                TemplateOutcome::Installed { .. }
                    | TemplateOutcome::Unchanged { .. }
                    | TemplateOutcome::Upgraded { .. }
            ),
            "{o:?}"
        );
    }
    let again = sink.ensure_templates().await.expect("templates again");
    assert!(
        again
            .iter()
            .all(|o| matches!(o, TemplateOutcome::Unchanged { .. })),
        "{again:?}"
    );
    let es = Es::new(&url);
    for ds in IndexTemplate::all() {
        let (s, b) = es
            .req(
                Method::GET,
                &format!("/_index_template/{}", ds.template_name()),
                None,
            )
            .await;
        assert_eq!(s, 200, "{b}");
        let t = &b["index_templates"][0]["index_template"];
        assert_eq!(t["_meta"]["version"], json!(TEMPLATE_VERSION));
        assert_eq!(t["priority"], json!(TEMPLATE_PRIORITY));
        assert_eq!(t["index_patterns"], json!([ds.index_pattern()]));
        assert!(t.get("data_stream").is_some());
    }

    for (ds, dataset) in [
        (IndexTemplate::Audit, "audit"),
        (IndexTemplate::Logpull, "logpull"),
    ] {
        let index = data_stream_name(dataset, &ns);
        let docs = golden_docs(dataset, &ns);
        let n = docs.len() as u64;
        assert!(n > 0);
        let ack = sink.index(requests(&index, &docs)).await.expect("index");
        assert_eq!(
            (ack.created, ack.duplicates, ack.dead_lettered),
            (n, 0, 0),
            "{dataset}: {ack:?}"
        );
        assert_eq!(es.count(&index, None).await, n, "{dataset} count");

        // a data stream: backing indices are .ds-logs-cloudflare.<dataset>-<ns>-…
        let (types, backing) = es.mapping_types(&index).await;
        assert_eq!(backing.len(), 1, "{backing:?}");
        assert!(
            backing[0].starts_with(&format!(".ds-{index}-")),
            "{backing:?}"
        );

        // every emitted field has its intended (translated) type
        let expected = expected_types(ds, &backend);
        let mut emitted: Vec<String> = docs
            .iter()
            .flat_map(|d| emitted_fields(d, &expected))
            .collect();
        emitted.sort();
        emitted.dedup();
        let unexpected: Vec<&String> = emitted
            .iter()
            .filter(|f| !expected.contains_key(*f))
            .collect();
        assert!(
            unexpected.is_empty(),
            "{dataset}: fields missing from the template: {unexpected:?}"
        );
        let mut wrong = Vec::new();
        for f in &emitted {
            let got = types.get(f).map(String::as_str).unwrap_or("<unmapped>");
            if got != expected[f] {
                wrong.push(format!("{f}: {got} != {}", expected[f]));
            }
        }
        assert!(wrong.is_empty(), "{dataset}: wrong types: {wrong:?}");
        assert!(
            emitted.len() >= 35,
            "{dataset}: only {} fields checked",
            emitted.len()
        );
        for (f, t) in [
            ("source.geo.location", "geo_point"),
            ("source.ip", "ip"),
            ("@timestamp", "date"),
        ] {
            assert_eq!(types.get(f).map(String::as_str), Some(t), "{dataset} {f}");
        }

        // searches by field find exactly the golden documents that carry the value
        let mut fields = vec!["source.geo.country_iso_code", "event.action"];
        if dataset == "logpull" {
            fields.push("url.domain");
        } else {
            fields.push("cloudflare.audit.old_value.type"); // inside flattened / flat_object
        }
        for field in fields {
            let value = docs
                .iter()
                .find_map(|d| get_path(d, field))
                .unwrap_or_else(|| panic!("{dataset}: no golden doc has {field}"))
                .clone();
            let want = docs.iter().filter(|d| has_value(d, field, &value)).count() as u64;
            let got = es
                .count(&index, Some(json!({"term": {field: value}})))
                .await;
            assert_eq!(got, want, "{dataset}: term {field}={value}");
            assert!(got > 0);
        }
        let none = es
            .count(
                &index,
                Some(json!({"term": {"source.geo.country_iso_code": "ZZ"}})),
            )
            .await;
        assert_eq!(none, 0);

        // the same documents again: all duplicates, still one copy each
        let ack = sink
            .index(requests(&index, &docs))
            .await
            .expect("index again");
        assert_eq!(
            (ack.created, ack.duplicates, ack.dead_lettered),
            (0, n, 0),
            "{dataset} again: {ack:?}"
        );
        assert_eq!(
            es.count(&index, None).await,
            n,
            "{dataset} count after replay"
        );
    }
    assert!(
        !tmp.path().join("dead.ndjson").exists(),
        "nothing dead-lettered"
    );
}

/// Every `cloudflare_logpush` data stream with a template: its golden documents index into
/// `logs-cloudflare_logpush.<ds>-<ns>` without a mapping error, every field they emit is in the
/// template with its intended (translated) type, and a replay leaves one copy each.
async fn logpush_mapping(var: &str, test: &str) {
    let Some(url) = engine_url(var, test) else {
        return;
    };
    init_tracing();
    let tmp = tempfile::tempdir().expect("tempdir");
    let ns = unique_namespace("logpush");
    let sink = ElasticsearchSink::connect(config(&url, &ns, tmp.path().join("dead.ndjson")))
        .await
        .expect("connect");
    let backend = sink.backend().clone();
    sink.ensure_templates().await.expect("templates");
    let es = Es::new(&url);
    let logpush: Vec<IndexTemplate> = IndexTemplate::all()
        .filter(|d| matches!(d, IndexTemplate::Logpush(_)))
        .collect();
    assert!(!logpush.is_empty());
    let mut checked = 0;
    for ds in logpush {
        let name = ds.as_str();
        let dataset = ds.event_dataset();
        let index = data_stream_name(&dataset, &ns);
        assert_eq!(index, format!("logs-cloudflare_logpush.{name}-{ns}"));
        let docs = logpush_golden_docs(name, &ns);
        let n = docs.len() as u64;
        let ack = sink.index(requests(&index, &docs)).await.expect("index");
        assert_eq!(
            (ack.created, ack.duplicates, ack.dead_lettered),
            (n, 0, 0),
            "{name}: {ack:?}"
        );
        assert_eq!(es.count(&index, None).await, n, "{name} count");
        let (types, backing) = es.mapping_types(&index).await;
        assert_eq!(backing.len(), 1, "{backing:?}");
        assert!(
            backing[0].starts_with(&format!(".ds-{index}-")),
            "{backing:?}"
        );

        let expected = expected_types(ds, &backend);
        let mut emitted: Vec<String> = docs
            .iter()
            .flat_map(|d| emitted_fields(d, &expected))
            .collect();
        emitted.sort();
        emitted.dedup();
        let unexpected: Vec<&String> = emitted
            .iter()
            .filter(|f| !expected.contains_key(*f))
            .collect();
        assert!(
            unexpected.is_empty(),
            "{name}: fields missing from the template: {unexpected:?}"
        );
        let mut wrong = Vec::new();
        for f in &emitted {
            let got = types.get(f).map(String::as_str).unwrap_or("<unmapped>");
            if got != expected[f] {
                wrong.push(format!("{f}: {got} != {}", expected[f]));
            }
        }
        assert!(wrong.is_empty(), "{name}: wrong types: {wrong:?}");
        let own = format!("cloudflare_logpush.{name}.");
        assert!(
            emitted.iter().filter(|f| f.starts_with(&own)).count() >= 3,
            "{name}: too few of its own fields checked: {emitted:?}"
        );
        assert_eq!(types.get("@timestamp").map(String::as_str), Some("date"));
        checked += emitted.len();

        let ack = sink.index(requests(&index, &docs)).await.expect("replay");
        assert_eq!(
            (ack.created, ack.duplicates, ack.dead_lettered),
            (0, n, 0),
            "{name} replay: {ack:?}"
        );
        assert_eq!(es.count(&index, None).await, n, "{name} count after replay");
    }
    eprintln!("{test}: {checked} field types checked");
    assert!(
        !tmp.path().join("dead.ndjson").exists(),
        "nothing dead-lettered"
    );
}

/// A document that fails mapping goes to the dead-letter file; the rest of its batch is indexed.
async fn dead_letter(var: &str, test: &str) {
    let Some(url) = engine_url(var, test) else {
        return;
    };
    init_tracing();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dl = tmp.path().join("sub/dead.ndjson");
    let ns = unique_namespace("dead");
    let sink = ElasticsearchSink::connect(config(&url, &ns, dl.clone()))
        .await
        .expect("connect");
    sink.ensure_templates().await.expect("templates");
    let index = data_stream_name("logpull", &ns);
    let mut docs = golden_docs("logpull", &ns);
    let good = docs.len() as u64;
    let mut bad = docs[0].clone();
    bad["source"]["ip"] = json!("not-an-ip-address");
    bad["cloudflare"]["ray_id"] = json!("bad-ray-id");
    docs.insert(1, bad);
    let reqs = requests(&index, &docs);
    let bad_id = reqs[1].id.clone();
    let ack = sink.index(reqs).await.expect("index");
    assert_eq!(
        (ack.created, ack.duplicates, ack.dead_lettered),
        (good, 0, 1),
        "{ack:?}"
    );
    assert_eq!(es_count(&url, &index).await, good);
    let text = std::fs::read_to_string(&dl).expect("dead-letter file written");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    let rec = &lines[0];
    assert_eq!(rec["id"], json!(bad_id));
    assert_eq!(rec["index"], json!(index));
    assert_eq!(rec["status"], json!(400));
    let etype = rec["error"]["type"].as_str().unwrap_or("");
    assert!(etype.contains("parsing"), "error type {etype}");
    assert!(
        rec["error"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("source.ip"),
        "{rec}"
    );
    assert!(rec["@timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    let doc: Value =
        serde_json::from_str(rec["document"].as_str().expect("document string")).expect("doc JSON");
    assert_eq!(doc["source"]["ip"], json!("not-an-ip-address"));
    assert_eq!(doc["cloudflare"]["ray_id"], json!("bad-ray-id"));
    let stats = sink.stats();
    assert_eq!(
        stats
            .items_dead_lettered
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );

    // flattened (ES) and flat_object (OpenSearch) agree here: a non-object value at the field's root is a
    // mapping error (dead letter), nested arrays, nulls and empty objects inside it are fine
    let audit = data_stream_name("audit", &ns);
    let golden_audit = golden_docs("audit", &ns);
    let mut scalar = golden_audit[0].clone();
    scalar["cloudflare"]["audit"]["new_value"] = json!("on");
    let mut nested = golden_audit[0].clone();
    nested["cloudflare"]["audit"]["new_value"] =
        json!({"a": [1, {"b": null}], "c": {}, "d": [true, "x"]});
    let ack = sink
        .index(requests(&audit, &[scalar, nested]))
        .await
        .expect("index");
    assert_eq!((ack.created, ack.dead_lettered), (1, 1), "{ack:?}");
    let text = std::fs::read_to_string(&dl).expect("dead-letter file");
    assert_eq!(text.lines().count(), 2);
    assert!(
        text.lines().last().unwrap_or("").contains("new_value"),
        "{text}"
    );
    let mut lines_before_index_mode = 2;

    // a huge URL / user agent is not a mapping error (ignore_above), even where wildcard became keyword
    let mut huge = docs[0].clone();
    let long = format!("https://www.example.com/{}", "a".repeat(40_000));
    huge["url"]["original"] = json!(long);
    huge["url"]["full"] = json!(long);
    huge["user_agent"]["original"] = json!("x".repeat(40_000));
    let ack = sink
        .index(requests(&index, &[huge]))
        .await
        .expect("index huge");
    assert_eq!(ack.created, 1, "{ack:?}");
    assert_eq!(es_count(&url, &index).await, good + 1);

    // dead letters into an index instead of the file
    let dl_index = format!("cfship-deadletter-{ns}");
    let mut cfg = config(&url, &ns, dl.clone());
    cfg.dead_letter.index = Some(dl_index.clone());
    let sink_idx = ElasticsearchSink::connect(cfg).await.expect("connect");
    let mut bad2 = docs[0].clone();
    bad2["source"]["ip"] = json!("also-not-an-ip");
    let ack = sink_idx
        .index(requests(&index, &[bad2]))
        .await
        .expect("index");
    assert_eq!(ack.dead_lettered, 1);
    let es = Es::new(&url);
    assert_eq!(es.count(&dl_index, None).await, 1);
    let (_, hits) = es
        .req(
            reqwest::Method::POST,
            &format!("/{dl_index}/_search"),
            Some(json!({"size": 1})),
        )
        .await;
    let rec = &hits["hits"]["hits"][0]["_source"];
    assert_eq!(rec["index"], json!(index));
    assert!(
        rec["document"]
            .as_str()
            .unwrap_or("")
            .contains("also-not-an-ip"),
        "{rec}"
    );
    assert!(
        rec["error"]["type"]
            .as_str()
            .unwrap_or("")
            .contains("parsing"),
        "{rec}"
    );
    assert_eq!(
        std::fs::read_to_string(&dl).expect("file").lines().count(),
        lines_before_index_mode,
        "file untouched"
    );
    lines_before_index_mode += 1;

    // invalid JSON from the caller is dead-lettered too, never sent, never dropped
    let junk = cfship_elasticsearch::IndexRequest {
        index: index.clone(),
        id: "junk".into(),
        source: bytes::Bytes::from_static(b"{not json"),
    };
    let ack = sink.index(vec![junk]).await.expect("index junk");
    assert_eq!(ack.dead_lettered, 1);
    let text = std::fs::read_to_string(&dl).expect("dead-letter file");
    assert_eq!(text.lines().count(), lines_before_index_mode);
}

async fn es_count(url: &str, index: &str) -> u64 {
    Es::new(url).count(index, None).await
}

/// `check` reports reachability, distribution, privileges and template state.
async fn checks(var: &str, test: &str) {
    let Some(url) = engine_url(var, test) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let sink = ElasticsearchSink::connect(config(&url, "default", tmp.path().join("d")))
        .await
        .expect("connect");
    sink.ensure_templates().await.expect("templates");
    let res = sink.check().await;
    let names: Vec<&str> = res.iter().map(|c| c.name.as_str()).collect();
    for want in [
        "reachable",
        "distribution",
        "privileges",
        "template cfship-logs-cloudflare.audit",
        "template cfship-logs-cloudflare.logpull",
        "template cfship-logs-cloudflare_logpush.dns",
    ] {
        assert!(names.contains(&want), "{names:?}");
    }
    for ds in IndexTemplate::all() {
        let want = format!("template {}", ds.template_name());
        assert!(names.contains(&want.as_str()), "{want}: {names:?}");
    }
    assert!(res.iter().all(|c| c.ok), "{res:#?}");
    let dist = res
        .iter()
        .find(|c| c.name == "distribution")
        .map(|c| c.detail.clone())
        .unwrap_or_default();
    assert!(dist.contains(&sink.backend().version.to_string()), "{dist}");

    // several hosts: a dead one is skipped, documents still arrive
    let ns = unique_namespace("hosts");
    let mut cfg = config(&url, &ns, tmp.path().join("d"));
    cfg.hosts = vec![
        "http://127.0.0.1:1".into(),
        url.clone(),
        "http://127.0.0.1:1/".into(),
    ];
    let multi = ElasticsearchSink::connect(cfg)
        .await
        .expect("connect with a dead host in the list");
    let index = cfship_elasticsearch::data_stream_name("audit", &ns);
    let docs = golden_docs("audit", &ns);
    for chunk in docs.chunks(5) {
        let ack = multi.index(requests(&index, chunk)).await.expect("index");
        assert_eq!(ack.created, chunk.len() as u64);
    }
    assert_eq!(Es::new(&url).count(&index, None).await, docs.len() as u64);

    // an unreachable cluster fails to connect with a clear error
    let err = ElasticsearchSink::connect(config(
        "http://127.0.0.1:1",
        "default",
        tmp.path().join("d"),
    ))
    .await
    .expect_err("port 1 is closed");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es8_golden_roundtrip() {
    golden_roundtrip("CFSHIP_ES8_URL", "es8_golden_roundtrip").await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es9_golden_roundtrip() {
    golden_roundtrip("CFSHIP_ES9_URL", "es9_golden_roundtrip").await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opensearch_golden_roundtrip() {
    golden_roundtrip("CFSHIP_OPENSEARCH_URL", "opensearch_golden_roundtrip").await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es8_logpush_mapping() {
    logpush_mapping("CFSHIP_ES8_URL", "es8_logpush_mapping").await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es9_logpush_mapping() {
    logpush_mapping("CFSHIP_ES9_URL", "es9_logpush_mapping").await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opensearch_logpush_mapping() {
    logpush_mapping("CFSHIP_OPENSEARCH_URL", "opensearch_logpush_mapping").await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es8_dead_letter() {
    dead_letter("CFSHIP_ES8_URL", "es8_dead_letter").await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es9_dead_letter() {
    dead_letter("CFSHIP_ES9_URL", "es9_dead_letter").await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opensearch_dead_letter() {
    dead_letter("CFSHIP_OPENSEARCH_URL", "opensearch_dead_letter").await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es8_check() {
    checks("CFSHIP_ES8_URL", "es8_check").await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es9_check() {
    checks("CFSHIP_ES9_URL", "es9_check").await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opensearch_check() {
    checks("CFSHIP_OPENSEARCH_URL", "opensearch_check").await;
}
