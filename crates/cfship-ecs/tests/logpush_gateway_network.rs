//! `cloudflare_logpush.gateway_network` (package 1.17.0) beyond Elastic's test documents: the
//! constants, missing optional and required fields, both input shapes, every timestamp form, IPv6,
//! empty values, and hostile records (one document each, never a panic).

mod common;

use cfship_ecs::logpush::Ds;
use common::logpush::{
    assert_both_shapes_agree, assert_hostile_lines_give_documents, errors, hostile_lines, run,
    run_doc, run_json, transformer, transformer_with_tags, with,
};
use serde_json::{json, Value};

const DS: Ds = Ds::GatewayNetwork;

fn base() -> Value {
    json!({
        "AccountID": "acc1", "Action": "allow", "Datetime": "2023-05-18T21:12:57Z",
        "DestinationIP": "198.51.100.20", "DestinationPort": 443, "DeviceID": "dev-1",
        "DeviceName": "laptop", "Email": "a@example.com", "OverrideIP": "192.0.2.4",
        "OverridePort": 8080, "PolicyID": "p1", "PolicyName": "Policy", "SNI": "www.example.org",
        "SessionID": "s-1", "SourceIP": "203.0.113.7", "SourceInternalIP": "10.0.0.3",
        "SourcePort": 40000, "Transport": "tcp", "UserID": "u-1"
    })
}

fn run1(rec: &Value) -> Value {
    run(&transformer(common::geoip(), true), DS, rec)
}

#[test]
fn full_record_maps_every_field() {
    let d = run1(&base());
    assert_eq!(d["event"]["category"], json!(["network"]));
    assert_eq!(d["event"]["type"], json!(["info"]));
    assert_eq!(d["event"]["kind"], "event");
    assert_eq!(d["event"]["action"], "allow");
    assert_eq!(d["event"]["id"], "s-1");
    assert_eq!(d["@timestamp"], "2023-05-18T21:12:57.000Z");
    assert_eq!(d["destination"]["ip"], "198.51.100.20");
    assert_eq!(d["destination"]["port"], 443);
    assert_eq!(d["destination"]["domain"], "www.example.org");
    assert_eq!(d["tls"]["client"]["server_name"], "www.example.org");
    assert_eq!(d["source"]["port"], 40000);
    assert_eq!(d["network"]["transport"], "tcp");
    assert_eq!(d["host"], json!({"id": "dev-1", "name": "laptop"}));
    assert_eq!(d["user"], json!({"id": "u-1", "email": "a@example.com"}));
    assert_eq!(
        d["related"],
        json!({"ip": ["203.0.113.7", "198.51.100.20", "192.0.2.4"],
               "hosts": ["www.example.org", "dev-1", "laptop"],
               "user": ["u-1", "a@example.com"]})
    );
    let cf = &d["cloudflare_logpush"]["gateway_network"];
    assert_eq!(cf["account_id"], "acc1");
    assert_eq!(cf["override"], json!({"ip": "192.0.2.4", "port": 8080}));
    assert_eq!(cf["policy"], json!({"id": "p1", "name": "Policy"}));
    assert_eq!(cf["source"]["internal_ip"], "10.0.0.3");
    assert_eq!(cf["timestamp"], "2023-05-18T21:12:57.000Z");
    assert!(d.get("error").is_none(), "{d}");
    assert!(d.get("json").is_none());
}

#[test]
fn the_constants_do_not_depend_on_the_action() {
    for action in [
        "allow",
        "block",
        "allowedOnNoRuleMatch",
        "override",
        "audit_ssh",
        "",
    ] {
        let d = run1(&with(&base(), json!({ "Action": action })));
        assert_eq!(d["event"]["category"], json!(["network"]), "{action}");
        assert_eq!(d["event"]["type"], json!(["info"]), "{action}");
        if action.is_empty() {
            // an empty string is copied, then the drop-empty script removes both
            assert!(d["event"].get("action").is_none(), "{d}");
        } else {
            assert_eq!(d["event"]["action"], action);
        }
    }
}

#[test]
fn duplicates_are_removed_without_the_tag() {
    let (d, _) = run_doc(
        &transformer(common::geoip(), false),
        DS,
        &base().to_string(),
    );
    let cf = &d["cloudflare_logpush"]["gateway_network"];
    for gone in [
        "timestamp",
        "action",
        "destination",
        "host",
        "sni",
        "session_id",
        "source",
        "transport",
        "user",
    ] {
        if gone == "source" {
            assert_eq!(cf["source"], json!({"internal_ip": "10.0.0.3"}), "{cf}");
        } else {
            assert!(cf.get(gone).is_none(), "{gone}: {cf}");
        }
    }
    assert_eq!(cf["account_id"], "acc1");
    assert_eq!(d["source"]["ip"], "203.0.113.7");
}

#[test]
fn optional_fields_may_be_missing() {
    let d = run1(&with(
        &base(),
        json!({
            "AccountID": null, "OverrideIP": null, "OverridePort": null, "PolicyID": null,
            "PolicyName": null, "SourceInternalIP": null
        }),
    ));
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["related"]["ip"], json!(["203.0.113.7", "198.51.100.20"]));
    let cf = &d["cloudflare_logpush"]["gateway_network"];
    assert!(cf.get("override").is_none() && cf.get("policy").is_none());
}

/// 1.17.0's `set … copy_from` processors have neither `ignore_failure` nor `ignore_empty_value`:
/// a record without one of the copied fields is a pipeline_error document (upstream behaviour of
/// that version), still one document with the original kept.
#[test]
fn a_missing_copied_field_is_a_pipeline_error() {
    for key in [
        "Action",
        "DestinationPort",
        "DeviceID",
        "DeviceName",
        "SNI",
        "SessionID",
        "SourcePort",
        "Transport",
        "UserID",
        "Email",
    ] {
        let rec = with(&base(), json!({ key: null }));
        let (d, doc) = run_doc(&transformer(common::geoip(), true), DS, &rec.to_string());
        assert_eq!(d["event"]["kind"], "pipeline_error", "{key}: {d}");
        let e = errors(&d);
        assert_eq!(e.len(), 1, "{key}: {e:?}");
        assert!(
            e[0].starts_with("Processor \"set\"") && e[0].contains("failed with message \"field ["),
            "{key}: {e:?}"
        );
        assert!(
            e[0].contains("not present as part of path [cloudflare_logpush.gateway_network."),
            "{key}: {e:?}"
        );
        assert_eq!(doc.error.as_deref(), Some(e[0].as_str()));
        assert_eq!(d["event"]["original"], rec.to_string());
    }
}

#[test]
fn a_missing_ip_fails_the_city_lookup_or_the_copy() {
    for key in ["SourceIP", "DestinationIP"] {
        let d = run1(&with(&base(), json!({ key: null })));
        assert_eq!(d["event"]["kind"], "pipeline_error", "{key}: {d}");
        assert_eq!(errors(&d).len(), 1);
    }
}

#[test]
fn every_timestamp_form() {
    let cases: &[(Value, &str)] = &[
        (json!(1684444377), "2023-05-18T21:12:57.000Z"),
        (json!(1684444377058u64), "2023-05-18T21:12:57.058Z"),
        (json!(1684444377058000000u64), "2023-05-18T21:12:57.058Z"),
        (json!("1684444377"), "2023-05-18T21:12:57.000Z"),
        (json!("1684444377058"), "2023-05-18T21:12:57.058Z"),
        (json!("1684444377058000000"), "2023-05-18T21:12:57.058Z"),
        (json!("2023-05-18T21:12:57Z"), "2023-05-18T21:12:57.000Z"),
        (
            json!("2023-05-18T21:12:57.123Z"),
            "2023-05-18T21:12:57.123Z",
        ),
        (
            json!("2023-05-18T21:12:57.123456789Z"),
            "2023-05-18T21:12:57.123Z",
        ),
        (
            json!("2023-05-19T06:42:57+09:30"),
            "2023-05-18T21:12:57.000Z",
        ),
        (
            json!("2023-05-18T23:12:57+02:00"),
            "2023-05-18T21:12:57.000Z",
        ),
    ];
    for (ts, want) in cases {
        let d = run1(&with(&base(), json!({ "Datetime": ts })));
        assert_eq!(d["@timestamp"], *want, "{ts}: {d}");
        assert_eq!(
            d["cloudflare_logpush"]["gateway_network"]["timestamp"],
            *want
        );
        assert!(d.get("error").is_none(), "{ts}: {d}");
    }
}

#[test]
fn a_bad_timestamp_is_reported_then_the_copy_fails() {
    let d = run1(&with(&base(), json!({ "Datetime": "yesterday" })));
    let e = errors(&d);
    assert_eq!(d["event"]["kind"], "pipeline_error", "{d}");
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].contains("yesterday"), "{e:?}");
    assert!(e[1].starts_with("Processor \"set\""), "{e:?}");
    // no Datetime at all: no date error, the timestamp copy fails
    let d = run1(&with(&base(), json!({ "Datetime": null })));
    assert_eq!(errors(&d).len(), 1, "{d}");
    assert_eq!(d["event"]["kind"], "pipeline_error");
}

#[test]
fn ipv6_addresses() {
    let d = run1(&with(
        &base(),
        json!({
            "SourceIP": "2001:db8::7", "DestinationIP": "2a02:cf40::23", "OverrideIP": "2001:db8::1",
            "SourceInternalIP": "fd00::3"
        }),
    ));
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["source"]["ip"], "2001:db8::7");
    assert_eq!(d["destination"]["ip"], "2a02:cf40::23");
    assert_eq!(
        d["related"]["ip"],
        json!(["2001:db8::7", "2a02:cf40::23", "2001:db8::1"])
    );
}

#[test]
fn empty_values_are_dropped() {
    let d = run1(&with(
        &base(),
        json!({ "PolicyName": "", "PolicyID": "", "AccountID": [], "OverridePort": {} }),
    ));
    assert!(d.get("error").is_none(), "{d}");
    let cf = &d["cloudflare_logpush"]["gateway_network"];
    assert!(cf.get("policy").is_none(), "{cf}");
    assert!(cf.get("account_id").is_none(), "{cf}");
    assert!(cf["override"].get("port").is_none(), "{cf}");
}

#[test]
fn both_input_shapes_give_the_same_document() {
    let t = transformer(common::geoip(), true);
    assert_both_shapes_agree(&t, DS, &base());
    // without preserve_original_event, json input has no event.original
    let plain = transformer_with_tags(common::geoip(), &[]);
    let c = run_json(&plain, DS, &base());
    assert!(c["event"].get("original").is_none(), "{c}");
    assert_eq!(c["event"]["id"], "s-1");
}

#[test]
fn hostile_records_give_one_document_each() {
    let huge = "9".repeat(400);
    let inputs: Vec<String> = vec![
        String::new(),
        "not json".into(),
        "[1,2,3]".into(),
        "null".into(),
        "\"str\"".into(),
        "{\"Datetime\":".into(),
        "{}".into(),
        with(&base(), json!({ "Datetime": huge.clone() })).to_string(),
        with(&base(), json!({ "Datetime": [1, 2] })).to_string(),
        with(&base(), json!({ "SourceIP": 42 })).to_string(),
        with(&base(), json!({ "DestinationIP": "not-an-ip" })).to_string(),
        with(&base(), json!({ "SourcePort": "x".repeat(10_000) })).to_string(),
        with(&base(), json!({ "SNI": {"nested": [null, {}]} })).to_string(),
        with(&base(), json!({ "Action": true })).to_string(),
        format!("{{\"Datetime\": {huge}}}"),
        "{\"a\":\"\\ud800\"}".into(),
    ];
    let t = transformer(common::geoip(), true);
    let mut lines = hostile_lines(&base());
    lines.extend(inputs);
    assert_hostile_lines_give_documents(&t, DS, &lines);
}
