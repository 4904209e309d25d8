//! `cloudflare_logpush.nel_report` (package ≤ 1.0, pipeline derived) beyond Elastic's one test
//! document: the constants, every field, the era's date formats (no seconds / ns normalisation
//! yet: a number is milliseconds), the ASN convert and its error, missing and empty fields, the
//! duplicate removal, both input shapes, hostile records.

mod common;

use cfship_ecs::logpush::Ds;
use common::logpush::{
    assert_both_shapes_agree, assert_hostile_lines_give_documents, errors, hostile_lines, run,
    run_doc, transformer, transformer_with_tags, with,
};
use serde_json::{json, Value};

const DS: Ds = Ds::NelReport;

fn base() -> Value {
    json!({
        "ClientIPASN": "13335", "ClientIPASNDescription": "CLOUDFLARENET", "ClientIPCountry": "us",
        "LastKnownGoodColoCode": "SJC", "Phase": "dns", "Timestamp": "2021-07-27T00:01:07Z",
        "Type": "dns.name_not_resolved"
    })
}

fn doc(rec: &Value) -> Value {
    run(&transformer(None, true), DS, rec)
}

#[test]
fn a_full_record() {
    let d = doc(&base());
    assert!(d.get("error").unwrap().get("message").is_none(), "{d}");
    assert_eq!(d["ecs"]["version"], "8.6.0");
    assert_eq!(d["event"]["category"], json!(["network"]));
    assert_eq!(d["event"]["type"], json!(["info"]));
    assert_eq!(d["event"]["kind"], "event");
    assert_eq!(d["@timestamp"], "2021-07-27T00:01:07.000Z");
    assert_eq!(d["error"], json!({"type": "dns.name_not_resolved"}));
    assert_eq!(
        d["cloudflare_logpush"]["nel_report"],
        json!({"client": {"ip": {"asn": {"description": "CLOUDFLARENET", "value": 13335}, "country": "us"}},
               "error": {"type": "dns.name_not_resolved"}, "last_known_good": {"colo": {"code": "SJC"}},
               "phase": "dns", "timestamp": "2021-07-27T00:01:07.000Z"})
    );
}

#[test]
fn the_era_date_formats() {
    for (v, want) in [
        (json!("2021-07-27T00:01:07Z"), "2021-07-27T00:01:07.000Z"),
        (
            json!("2021-07-27T00:01:07.250Z"),
            "2021-07-27T00:01:07.250Z",
        ),
        (
            json!("2021-07-27T00:01:07.250250250Z"),
            "2021-07-27T00:01:07.250Z",
        ),
        (
            json!("2021-07-27T02:01:07+02:00"),
            "2021-07-27T00:01:07.000Z",
        ),
        (
            json!("2021-07-27T00:01:07+0000"),
            "2021-07-27T00:01:07.000Z",
        ),
        (json!(1627344067250u64), "2021-07-27T00:01:07.250Z"),
        (json!("1627344067250"), "2021-07-27T00:01:07.250Z"),
        // No normalisation before 1.8.1: seconds are read as milliseconds.
        (json!(1627344067), "1970-01-19T20:02:24.067Z"),
    ] {
        let d = doc(&with(&base(), json!({ "Timestamp": v })));
        assert_eq!(d["@timestamp"], want, "{v}: {d}");
        assert_eq!(d["cloudflare_logpush"]["nel_report"]["timestamp"], want);
        assert!(errors(&d).is_empty(), "{v}: {d}");
    }
    // A bad one: the date's bare message; the copy of the missing @timestamp is ignored.
    let d = doc(&with(&base(), json!({"Timestamp": "yesterday"})));
    // The first format's (ISO8601) failure, as Elasticsearch reports it, without a prefix.
    assert_eq!(
        errors(&d),
        ["Failed to parse with all enclosed parsers"],
        "{d}"
    );
    assert_eq!(
        d["event"]["kind"], "event",
        "1.x marks only pipeline failures"
    );
    assert!(d.get("@timestamp").is_none());
    assert!(d["cloudflare_logpush"]["nel_report"]
        .get("timestamp")
        .is_none());
}

#[test]
fn the_asn_convert() {
    for (v, want) in [(json!("13335"), json!(13335)), (json!(13335), json!(13335))] {
        let d = doc(&with(&base(), json!({ "ClientIPASN": v })));
        assert_eq!(
            d["cloudflare_logpush"]["nel_report"]["client"]["ip"]["asn"]["value"],
            want
        );
    }
    // An empty ASN is skipped by the convert's `if`; a bad one appends the bare message.
    let d = doc(&with(&base(), json!({"ClientIPASN": ""})));
    assert!(errors(&d).is_empty());
    assert!(d["cloudflare_logpush"]["nel_report"]["client"]["ip"]["asn"]
        .get("value")
        .is_none());
    let d = doc(&with(&base(), json!({"ClientIPASN": "AS13335"})));
    assert_eq!(errors(&d), ["For input string: \"AS13335\""]);
}

#[test]
fn missing_fields_duplicates_shapes_and_hostile_records() {
    let d = doc(&json!({"Timestamp": "2021-07-27T00:01:07Z"}));
    let keys: Vec<&String> = d.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["@timestamp", "cloudflare_logpush", "ecs", "event", "tags"],
        "{d}"
    );
    let d = doc(&json!({}));
    assert!(
        d.get("@timestamp").is_none() && d.get("error").is_none(),
        "{d}"
    );
    let d = run(&transformer(None, false), DS, &base());
    let c = &d["cloudflare_logpush"]["nel_report"];
    assert!(
        c.get("timestamp").is_none() && c.get("error").is_none(),
        "{c}"
    );
    assert_eq!(d["error"]["type"], "dns.name_not_resolved");
    assert_both_shapes_agree(&transformer(None, true), DS, &base());
    let plain = transformer_with_tags(None, &[]);
    let (d, _) = run_doc(&plain, DS, &base().to_string());
    assert!(
        d["event"].get("original").is_none() && d.get("tags").is_none(),
        "{d}"
    );
    // Not JSON: ignored by the json processor, the constants only.
    let (d, doc) = run_doc(&transformer(None, true), DS, "not json");
    assert_eq!(d["event"]["kind"], "event");
    assert_eq!(d["event"]["original"], "not json");
    assert!(doc.error.is_none());
    assert_hostile_lines_give_documents(&transformer(None, true), DS, &hostile_lines(&base()));
}
