//! `cloudflare_logpush.casb` (package 1.17.0) beyond Elastic's test documents: every severity
//! name, the strict copies, every timestamp form, `uri_parts` of the asset link (IPv6 hosts,
//! failures), metadata cleanup, both input shapes, and hostile records.

mod common;

use cfship_ecs::logpush::Ds;
use common::logpush::{
    assert_both_shapes_agree, assert_hostile_lines_give_documents, errors, hostile_lines, run,
    transformer, with,
};
use serde_json::{json, Value};

/// `_ingest.on_failure_pipeline` of a top-level pipeline: unset, so it renders as nothing.
const PIPELINE: &str = "";

const DS: Ds = Ds::Casb;

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

fn run1(rec: &Value) -> Value {
    run(&transformer(None, true), DS, rec)
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
        let d = run1(&with(&base(), json!({ "FindingTypeSeverity": name })));
        assert!(d.get("error").is_none(), "{name}: {d}");
        assert_eq!(d["event"]["severity"].as_i64(), want, "{name}");
        assert_eq!(
            d["cloudflare_logpush"]["casb"]["finding"]["type"]["severity"],
            name
        );
    }
    let d = run1(&with(&base(), json!({ "FindingTypeSeverity": null })));
    assert!(d["event"].get("severity").is_none());
    assert_eq!(d["event"]["type"], json!(["access"]));
    assert_eq!(d["event"]["category"], json!(["network"]));
    assert_eq!(d["event"]["kind"], "event");
}

#[test]
fn a_full_record() {
    let d = run1(&base());
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
        let d = run1(&with(&base(), json!({ "DetectedTimestamp": v })));
        assert_eq!(d["@timestamp"], want, "{v}: {d}");
        assert!(d.get("error").is_none(), "{v}");
    }
}

#[test]
fn strict_copies_fail_the_pipeline_as_upstream() {
    let d = run1(&with(&base(), json!({"DetectedTimestamp": null})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        errors(&d),
        vec![format!("Processor \"set\" in pipeline \"{PIPELINE}\" failed with message \"field [@timestamp] not present as part of path [@timestamp]\"")]
    );
    let d = run1(&with(&base(), json!({"DetectedTimestamp": "later"})));
    assert_eq!(errors(&d)[0], "For input string: \"later\"");
    assert_eq!(errors(&d).len(), 2);
    let d = run1(&with(&base(), json!({"InstanceID": null})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        errors(&d),
        vec![format!("Processor \"set\" in pipeline \"{PIPELINE}\" failed with message \"field [id] not present as part of path [cloudflare_logpush.casb.finding.id]\"")]
    );
    assert!(d["event"]["original"].is_string());
    // Fields without a copy are optional.
    let d = run1(&with(
        &base(),
        json!({
            "AssetLink": null, "AssetMetadata": null, "IntegrationID": null, "AssetDisplayName": null
        }),
    ));
    assert!(d.get("error").is_none() && d.get("url").is_none(), "{d}");
}

#[test]
fn asset_links() {
    let d = run1(&with(
        &base(),
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
    let d = run1(&with(&base(), json!({"AssetLink": "https://bad host/"})));
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
    let d = run1(&with(
        &base(),
        json!({
            "AssetMetadata": {"a": null, "b": "", "c": {}, "d": [], "e": [null, ""], "f": 0, "g": "N/A"}
        }),
    ));
    // The 1.x drop-empty script keeps "N/A" (only 2.x removes it).
    assert_eq!(
        d["cloudflare_logpush"]["casb"]["asset"]["metadata"],
        json!({"f": 0, "g": "N/A"})
    );
    let d = run(&transformer(None, false), DS, &base());
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
    let t = transformer(None, true);
    assert_both_shapes_agree(&t, DS, &base());

    assert_hostile_lines_give_documents(&t, DS, &hostile_lines(&base()));
}
