//! `cloudflare_logpush.casb` (package 1.17.0) beyond Elastic's test documents: every severity
//! name, the strict copies, every timestamp form, `uri_parts` of the asset link (IPv6 hosts,
//! failures), metadata cleanup, both input shapes, and hostile records.

use cfship_ecs::logpush::{self, Ds, Input};
use cfship_ecs::{Options, Transformer};
use serde_json::{json, Value};

/// `_ingest.on_failure_pipeline` of a top-level pipeline: unset, so it renders as nothing.
const PIPELINE: &str = "";

fn transformer(duplicates: bool) -> Transformer {
    let mut tags = vec!["preserve_original_event".to_string()];
    if duplicates {
        tags.push("preserve_duplicate_custom_fields".to_string());
    }
    let opts = Options {
        preserve_original: true,
        tags,
        ..Default::default()
    };
    Transformer::new(opts, None).unwrap()
}

fn base() -> Value {
    json!({
        "AssetDisplayName": "John Doe", "AssetExternalID": "a-1",
        "AssetLink": "https://example.com/resource", "AssetMetadata": {"Id": "a-1", "Nested": {"k": 1}},
        "DetectedTimestamp": "2023-05-16T10:00:00Z", "FindingTypeDisplayName": "Finding",
        "FindingTypeID": "f-1", "FindingTypeSeverity": "High", "InstanceID": "i-1",
        "IntegrationDisplayName": "Salesforce", "IntegrationID": "int-1",
        "IntegrationPolicyVendor": "Salesforce Connection"
    })
}

fn with(patch: Value) -> Value {
    let mut rec = base();
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            rec.as_object_mut().unwrap().remove(k);
        } else {
            rec[k] = v.clone();
        }
    }
    rec
}

fn run_with(t: &Transformer, rec: &Value) -> Value {
    let line = rec.to_string();
    let d = logpush::transform(t, Ds::Casb, Input::Message(&line), 0);
    serde_json::from_str(&d.source).unwrap()
}

fn run(rec: &Value) -> Value {
    run_with(&transformer(true), rec)
}

fn errors(doc: &Value) -> Vec<String> {
    match &doc["error"]["message"] {
        Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
        Value::String(s) => vec![s.clone()],
        _ => vec![],
    }
}

#[test]
fn every_severity_name() {
    for (name, want) in [
        (json!("Low"), Some(1)),
        (json!("Medium"), Some(2)),
        (json!("High"), Some(3)),
        (json!("Critical"), Some(4)),
        // Case-sensitive, as upstream 1.17.
        (json!("high"), None),
        (json!("CRITICAL"), None),
        (json!("Info"), None),
        (json!(3), None),
    ] {
        let d = run(&with(json!({ "FindingTypeSeverity": name })));
        assert!(d.get("error").is_none(), "{name}: {d}");
        assert_eq!(d["event"]["severity"].as_i64(), want, "{name}");
        assert_eq!(
            d["cloudflare_logpush"]["casb"]["finding"]["type"]["severity"],
            name
        );
    }
    let d = run(&with(json!({ "FindingTypeSeverity": null })));
    assert!(d["event"].get("severity").is_none());
    assert_eq!(d["event"]["type"], json!(["access"]));
    assert_eq!(d["event"]["category"], json!(["network"]));
    assert_eq!(d["event"]["kind"], "event");
}

#[test]
fn a_full_record() {
    let d = run(&base());
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["@timestamp"], "2023-05-16T10:00:00.000Z");
    assert_eq!(d["event"]["id"], "i-1");
    assert_eq!(
        d["url"],
        json!({"domain": "example.com", "original": "https://example.com/resource",
               "path": "/resource", "scheme": "https"})
    );
    let c = &d["cloudflare_logpush"]["casb"];
    assert_eq!(
        c["asset"]["metadata"],
        json!({"Id": "a-1", "Nested": {"k": 1}})
    );
    assert_eq!(c["integration"]["policy_vendor"], "Salesforce Connection");
    assert_eq!(c["timestamp"], "2023-05-16T10:00:00.000Z");
}

#[test]
fn every_timestamp_form() {
    for (v, want) in [
        (json!(1684231200), "2023-05-16T10:00:00.000Z"),
        (json!(1684231200123u64), "2023-05-16T10:00:00.123Z"),
        (json!(1684231200123456789u64), "2023-05-16T10:00:00.123Z"),
        (json!("1684231200"), "2023-05-16T10:00:00.000Z"),
        (json!("1684231200123"), "2023-05-16T10:00:00.123Z"),
        (json!("1684231200123456789"), "2023-05-16T10:00:00.123Z"),
        (
            json!("2023-05-16T10:00:00.123Z"),
            "2023-05-16T10:00:00.123Z",
        ),
        (
            json!("2023-05-16T10:00:00.123456789Z"),
            "2023-05-16T10:00:00.123Z",
        ),
        (
            json!("2023-05-16T12:00:00+02:00"),
            "2023-05-16T10:00:00.000Z",
        ),
    ] {
        let d = run(&with(json!({ "DetectedTimestamp": v })));
        assert_eq!(d["@timestamp"], want, "{v}: {d}");
        assert!(d.get("error").is_none(), "{v}");
    }
}

#[test]
fn strict_copies_fail_the_pipeline_as_upstream() {
    let d = run(&with(json!({"DetectedTimestamp": null})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        errors(&d),
        vec![format!("Processor \"set\" in pipeline \"{PIPELINE}\" failed with message \"field [@timestamp] not present as part of path [@timestamp]\"")]
    );
    let d = run(&with(json!({"DetectedTimestamp": "later"})));
    assert_eq!(errors(&d)[0], "For input string: \"later\"");
    assert_eq!(errors(&d).len(), 2);
    let d = run(&with(json!({"InstanceID": null})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        errors(&d),
        vec![format!("Processor \"set\" in pipeline \"{PIPELINE}\" failed with message \"field [id] not present as part of path [cloudflare_logpush.casb.finding.id]\"")]
    );
    assert!(d["event"]["original"].is_string());
    // Fields without a copy are optional.
    let d = run(&with(json!({
        "AssetLink": null, "AssetMetadata": null, "IntegrationID": null, "AssetDisplayName": null
    })));
    assert!(d.get("error").is_none() && d.get("url").is_none(), "{d}");
}

#[test]
fn asset_links() {
    let d = run(&with(
        json!({"AssetLink": "https://[2001:db8::1]:8443/files/report.pdf?dl=1"}),
    ));
    // java.net.URI keeps the brackets of an IPv6 host.
    assert_eq!(d["url"]["domain"], "[2001:db8::1]");
    assert_eq!(d["url"]["port"], 8443);
    assert_eq!(d["url"]["extension"], "pdf");
    assert_eq!(d["url"]["query"], "dl=1");
    assert_eq!(
        d["url"]["original"],
        "https://[2001:db8::1]:8443/files/report.pdf?dl=1"
    );
    let d = run(&with(json!({"AssetLink": "https://bad host/"})));
    assert_eq!(d["event"]["kind"], "pipeline_error", "{d}");
    assert!(
        errors(&d)[0].starts_with(&format!(
            "Processor \"uri_parts\" in pipeline \"{PIPELINE}\""
        )),
        "{d}"
    );
}

#[test]
fn metadata_cleanup_and_duplicates() {
    let d = run(&with(json!({
        "AssetMetadata": {"a": null, "b": "", "c": {}, "d": [], "e": [null, ""], "f": 0, "g": "N/A"}
    })));
    // The 1.x drop-empty script keeps "N/A" (only 2.x removes it).
    assert_eq!(
        d["cloudflare_logpush"]["casb"]["asset"]["metadata"],
        json!({"f": 0, "g": "N/A"})
    );
    let d = run_with(&transformer(false), &base());
    let c = &d["cloudflare_logpush"]["casb"];
    assert!(c.get("timestamp").is_none());
    assert!(c["asset"].get("url").is_none());
    assert!(c["finding"].get("id").is_none());
    assert!(c["finding"]["type"].get("severity").is_none());
    assert_eq!(d["event"]["severity"], 3);
    assert_eq!(d["event"]["id"], "i-1");
}

#[test]
fn both_shapes_and_hostile_records() {
    let t = transformer(true);
    let line = base().to_string();
    let a = logpush::transform(&t, Ds::Casb, Input::Message(&line), 0);
    let b = logpush::transform(&t, Ds::Casb, Input::Json(&line), 0);
    let mut a: Value = serde_json::from_str(&a.source).unwrap();
    let mut b: Value = serde_json::from_str(&b.source).unwrap();
    a["event"].as_object_mut().unwrap().remove("original");
    b["event"].as_object_mut().unwrap().remove("original");
    assert_eq!(a, b);

    let mut lines: Vec<String> = ["", "x", "[]", "7", "null", "{}", "{\"a\":"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (k, _) in base().as_object().unwrap() {
        for bad in [
            json!(true),
            json!({"o": 1}),
            json!([1, "a"]),
            json!(""),
            json!(-1e300),
        ] {
            let mut rec = base();
            rec[k.as_str()] = bad;
            lines.push(rec.to_string());
        }
    }
    for line in &lines {
        for input in [Input::Message(line), Input::Json(line)] {
            let d = logpush::transform(&t, Ds::Casb, input, 0);
            let v: Value = serde_json::from_str(&d.source).unwrap();
            if v["event"]["kind"] == "pipeline_error" {
                assert!(!errors(&v).is_empty() && d.error.is_some(), "{line}");
            } else {
                assert!(d.error.is_none(), "{line}");
            }
        }
    }
}
