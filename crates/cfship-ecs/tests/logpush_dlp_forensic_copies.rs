//! `cloudflare_logpush.dlp_forensic_copies` beyond Elastic's test document: every timestamp form,
//! the quoted error format of the 1.36 data streams, the `json` processor that ignores failures,
//! optional fields, the duplicate list that removes nothing, both input shapes, hostile records.

mod common;

use cfship_ecs::logpush::Ds;
use common::logpush::{
    assert_both_shapes_agree, assert_error_list, assert_hostile_lines_give_documents_and,
    hostile_lines, run, run_doc, transformer, transformer_with_tags, with,
};
use serde_json::{json, Value};

const DS: Ds = Ds::DlpForensicCopies;

fn base() -> Value {
    json!({
        "AccountID": "acc", "ForensicCopyID": "copy", "GatewayRequestID": "req",
        "Payload": "SGVsbG8=", "Phase": "response", "TriggeredRuleID": "rule-9",
        "Datetime": "2023-05-04T11:29:14Z", "Headers": {"Content-Type": "text/plain"}
    })
}

fn run1(rec: &Value) -> Value {
    run(&transformer(None, true), DS, rec)
}

#[test]
fn a_full_record_and_optional_fields() {
    let d = run1(&base());
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["event"]["category"], json!(["network"]));
    assert_eq!(d["event"]["type"], json!(["info"]));
    assert_eq!(d["event"]["kind"], "event");
    assert_eq!(d["rule"]["id"], "rule-9");
    let c = &d["cloudflare_logpush"]["dlp_forensic_copies"];
    assert_eq!(c["datetime"], "2023-05-04T11:29:14.000Z");
    assert_eq!(c["payload"], "SGVsbG8=");
    assert_eq!(c["headers"], json!({"Content-Type": "text/plain"}));
    // Every field is optional; empty values are dropped.
    let d = run1(&json!({"Datetime": 1683199754, "Headers": {}, "TriggeredRuleID": ""}));
    assert!(d.get("error").is_none(), "{d}");
    assert!(d.get("rule").is_none());
    assert_eq!(
        d["cloudflare_logpush"],
        json!({"dlp_forensic_copies": {"datetime": "2023-05-04T11:29:14.000Z"}})
    );
}

#[test]
fn every_timestamp_form() {
    for (v, want) in [
        (json!(1683199754), "2023-05-04T11:29:14.000Z"),
        (json!(1683199754001u64), "2023-05-04T11:29:14.001Z"),
        (json!(1683199754001000000u64), "2023-05-04T11:29:14.001Z"),
        (json!("1683199754"), "2023-05-04T11:29:14.000Z"),
        (json!("1683199754001"), "2023-05-04T11:29:14.001Z"),
        (json!("1683199754001000000"), "2023-05-04T11:29:14.001Z"),
        (
            json!("2023-05-04T11:29:14.001Z"),
            "2023-05-04T11:29:14.001Z",
        ),
        (
            json!("2023-05-04T11:29:14.001999999Z"),
            "2023-05-04T11:29:14.001Z",
        ),
        (
            json!("2023-05-04T13:29:14+02:00"),
            "2023-05-04T11:29:14.000Z",
        ),
    ] {
        let d = run1(&with(&base(), json!({ "Datetime": v })));
        assert_eq!(d["@timestamp"], want, "{v}: {d}");
        assert!(d.get("error").is_none(), "{v}");
    }
}

#[test]
fn quoted_error_format() {
    let t = transformer_with_tags(None, &[]);
    let (d, doc) = run_doc(
        &t,
        DS,
        &with(&base(), json!({"Datetime": "noon"})).to_string(),
    );
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        d["error"]["message"],
        json!(["Processor 'date' failed with message 'For input string: \"noon\"'"])
    );
    // The tag keeps event.original even though the run's tags did not ask for it.
    assert_eq!(d["tags"], json!(["preserve_original_event"]));
    assert!(d["event"]["original"].is_string());
    assert!(doc.error.is_some());
    // The rest of the record is still mapped.
    assert_eq!(d["rule"]["id"], "rule-9");
    assert!(d.get("@timestamp").is_none());
}

#[test]
fn json_failures_are_ignored() {
    let t = transformer_with_tags(None, &["preserve_original_event"]);
    for line in ["not json", "[1]", "3", "{", "\"s\""] {
        let (d, doc) = run_doc(&t, DS, line);
        assert!(doc.error.is_none(), "{line}: {d}");
        assert_eq!(d["event"]["kind"], "event", "{line}");
        assert_eq!(d["event"]["original"], line);
        assert!(d.get("cloudflare_logpush").is_none());
    }
}

#[test]
fn duplicate_list_removes_nothing_and_both_shapes_agree() {
    let t = transformer_with_tags(None, &[]);
    let (d, _) = run_doc(&t, DS, &base().to_string());
    let c = &d["cloudflare_logpush"]["dlp_forensic_copies"];
    assert_eq!(c["datetime"], "2023-05-04T11:29:14.000Z");
    assert_eq!(c["triggered_rule_id"], "rule-9");
    assert!(d["event"].get("original").is_none());

    let t = transformer_with_tags(None, &["preserve_original_event"]);
    assert_both_shapes_agree(&t, DS, &base());
}

#[test]
fn hostile_records_give_one_document_each() {
    let t = transformer_with_tags(None, &["preserve_original_event"]);
    assert_hostile_lines_give_documents_and(&t, DS, &hostile_lines(&base()), assert_error_list);
}
