//! `cloudflare_logpush.dlp_forensic_copies` beyond Elastic's test document: every timestamp form,
//! the quoted error format of the 1.36 data streams, the `json` processor that ignores failures,
//! optional fields, the duplicate list that removes nothing, both input shapes, hostile records.

use cfship_ecs::logpush::{self, Ds, Input};
use cfship_ecs::{Options, Transformer};
use serde_json::{json, Value};

fn transformer(tags: &[&str]) -> Transformer {
    let opts = Options {
        preserve_original: tags.contains(&"preserve_original_event"),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    Transformer::new(opts, None).unwrap()
}

fn base() -> Value {
    json!({
        "AccountID": "acc", "ForensicCopyID": "copy", "GatewayRequestID": "req",
        "Payload": "SGVsbG8=", "Phase": "response", "TriggeredRuleID": "rule-9",
        "Datetime": "2023-05-04T11:29:14Z", "Headers": {"Content-Type": "text/plain"}
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

fn run_line(t: &Transformer, line: &str) -> (Value, cfship_ecs::Document) {
    let d = logpush::transform(t, Ds::DlpForensicCopies, Input::Message(line), 0);
    (serde_json::from_str(&d.source).unwrap(), d)
}

fn run(rec: &Value) -> Value {
    let t = transformer(&[
        "preserve_original_event",
        "preserve_duplicate_custom_fields",
    ]);
    run_line(&t, &rec.to_string()).0
}

#[test]
fn a_full_record_and_optional_fields() {
    let d = run(&base());
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
    let d = run(&json!({"Datetime": 1683199754, "Headers": {}, "TriggeredRuleID": ""}));
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
        let d = run(&with(json!({ "Datetime": v })));
        assert_eq!(d["@timestamp"], want, "{v}: {d}");
        assert!(d.get("error").is_none(), "{v}");
    }
}

#[test]
fn quoted_error_format() {
    let t = transformer(&[]);
    let (d, doc) = run_line(&t, &with(json!({"Datetime": "noon"})).to_string());
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
    let t = transformer(&["preserve_original_event"]);
    for line in ["not json", "[1]", "3", "{", "\"s\""] {
        let (d, doc) = run_line(&t, line);
        assert!(doc.error.is_none(), "{line}: {d}");
        assert_eq!(d["event"]["kind"], "event", "{line}");
        assert_eq!(d["event"]["original"], line);
        assert!(d.get("cloudflare_logpush").is_none());
    }
}

#[test]
fn duplicate_list_removes_nothing_and_both_shapes_agree() {
    let t = transformer(&[]);
    let (d, _) = run_line(&t, &base().to_string());
    let c = &d["cloudflare_logpush"]["dlp_forensic_copies"];
    assert_eq!(c["datetime"], "2023-05-04T11:29:14.000Z");
    assert_eq!(c["triggered_rule_id"], "rule-9");
    assert!(d["event"].get("original").is_none());

    let t = transformer(&["preserve_original_event"]);
    let line = base().to_string();
    let a = logpush::transform(&t, Ds::DlpForensicCopies, Input::Message(&line), 0);
    let b = logpush::transform(&t, Ds::DlpForensicCopies, Input::Json(&line), 0);
    let mut a: Value = serde_json::from_str(&a.source).unwrap();
    let mut b: Value = serde_json::from_str(&b.source).unwrap();
    a["event"].as_object_mut().unwrap().remove("original");
    b["event"].as_object_mut().unwrap().remove("original");
    assert_eq!(a, b);
}

#[test]
fn hostile_records_give_one_document_each() {
    let t = transformer(&["preserve_original_event"]);
    let mut lines: Vec<String> = vec!["".into(), "{}".into(), "null".into()];
    for (k, _) in base().as_object().unwrap() {
        for bad in [
            json!(true),
            json!({"o": [1]}),
            json!([]),
            json!(1e300),
            json!(-5),
        ] {
            let mut rec = base();
            rec[k.as_str()] = bad;
            lines.push(rec.to_string());
        }
    }
    for line in &lines {
        for input in [Input::Message(line), Input::Json(line)] {
            let d = logpush::transform(&t, Ds::DlpForensicCopies, input, 0);
            let v: Value = serde_json::from_str(&d.source).unwrap();
            if v["event"]["kind"] == "pipeline_error" {
                assert!(
                    v["error"]["message"].is_array() && d.error.is_some(),
                    "{line}"
                );
            } else {
                assert!(d.error.is_none(), "{line}");
            }
        }
    }
}
