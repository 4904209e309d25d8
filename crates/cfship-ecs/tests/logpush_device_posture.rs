//! `cloudflare_logpush.device_posture` (package 1.17.0) beyond Elastic's test documents: the
//! outcome from `PostureEvaluatedResult`, the strict copies, every timestamp form, optional user
//! fields, the duplicate removal (with its upstream gap), both input shapes, hostile records.

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
        "ClientVersion": "2023.3.258", "DeviceID": "dev-1", "DeviceManufacturer": "Acme",
        "DeviceModel": "M1", "DeviceName": "laptop-1", "DeviceSerialNumber": "SN1",
        "DeviceType": "mac", "Email": "user@example.com", "OSVersion": "14.1",
        "PolicyID": "p-1", "PostureCheckName": "Disk encryption", "PostureCheckType": "disk_encryption",
        "PostureEvaluatedResult": false, "PostureExpectedJSON": {"encrypted": true},
        "PostureReceivedJSON": {"encrypted": false, "extra": null},
        "Timestamp": "2023-05-17T12:00:00Z", "UserUID": "uid-1"
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
    let d = logpush::transform(t, Ds::DevicePosture, Input::Message(&line), 0);
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
fn outcome_from_the_evaluated_result() {
    for (result, want) in [
        (json!(true), Some("success")),
        (json!(false), Some("failure")),
        (json!("true"), None),
        (json!(1), None),
    ] {
        let d = run(&with(json!({ "PostureEvaluatedResult": result })));
        assert!(d.get("error").is_none(), "{result}: {d}");
        assert_eq!(d["event"]["outcome"].as_str(), want, "{result}");
        assert_eq!(d["event"]["category"], json!(["host"]));
        assert_eq!(d["event"]["type"], json!(["info"]));
    }
    let d = run(&with(json!({ "PostureEvaluatedResult": null })));
    assert!(d["event"].get("outcome").is_none());
}

#[test]
fn a_full_record() {
    let d = run(&base());
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["@timestamp"], "2023-05-17T12:00:00.000Z");
    assert_eq!(
        d["host"],
        json!({"id": "dev-1", "name": "laptop-1", "os": {"family": "mac", "version": "14.1"}})
    );
    assert_eq!(
        d["rule"],
        json!({"category": "disk_encryption", "id": "p-1", "name": "Disk encryption"})
    );
    assert_eq!(d["user_agent"]["version"], "2023.3.258");
    assert_eq!(d["related"]["hosts"], json!(["dev-1", "laptop-1"]));
    assert_eq!(d["related"]["user"], json!(["uid-1", "user@example.com"]));
    let c = &d["cloudflare_logpush"]["device_posture"];
    assert_eq!(c["eval"]["received"], json!({"encrypted": false}));
    assert_eq!(c["host"]["serial"], "SN1");
}

#[test]
fn every_timestamp_form() {
    for (v, want) in [
        (json!(1684324800), "2023-05-17T12:00:00.000Z"),
        (json!(1684324800250u64), "2023-05-17T12:00:00.250Z"),
        (json!(1684324800250000000u64), "2023-05-17T12:00:00.250Z"),
        (json!("1684324800"), "2023-05-17T12:00:00.000Z"),
        (json!("1684324800250"), "2023-05-17T12:00:00.250Z"),
        (json!("1684324800250000000"), "2023-05-17T12:00:00.250Z"),
        (
            json!("2023-05-17T12:00:00.250Z"),
            "2023-05-17T12:00:00.250Z",
        ),
        (
            json!("2023-05-17T12:00:00.250999999Z"),
            "2023-05-17T12:00:00.250Z",
        ),
        (
            json!("2023-05-17T14:00:00+02:00"),
            "2023-05-17T12:00:00.000Z",
        ),
    ] {
        let d = run(&with(json!({ "Timestamp": v })));
        assert_eq!(d["@timestamp"], want, "{v}: {d}");
        assert!(d.get("error").is_none(), "{v}");
    }
}

#[test]
fn strict_copies_and_optional_fields() {
    for (field, path) in [
        ("ClientVersion", "cloudflare_logpush.device_posture.version"),
        ("DeviceID", "cloudflare_logpush.device_posture.host.id"),
        ("DeviceName", "cloudflare_logpush.device_posture.host.name"),
        (
            "DeviceType",
            "cloudflare_logpush.device_posture.host.os.family",
        ),
        (
            "OSVersion",
            "cloudflare_logpush.device_posture.host.os.version",
        ),
        ("PolicyID", "cloudflare_logpush.device_posture.rule.id"),
        (
            "PostureCheckName",
            "cloudflare_logpush.device_posture.rule.name",
        ),
        (
            "PostureCheckType",
            "cloudflare_logpush.device_posture.rule.category",
        ),
        ("Timestamp", "@timestamp"),
    ] {
        let d = run(&with(json!({ field: null })));
        assert_eq!(d["event"]["kind"], "pipeline_error", "{field}");
        let errs = errors(&d);
        assert_eq!(errs.len(), 1, "{field}: {errs:?}");
        assert!(
            errs[0].starts_with(&format!("Processor \"set\" in pipeline \"{PIPELINE}\""))
                && errs[0].contains(&format!("as part of path [{path}]")),
            "{field}: {errs:?}"
        );
    }
    // User fields, manufacturer, model, serial and the JSON objects are optional.
    let d = run(&with(json!({
        "UserUID": null, "Email": "", "DeviceManufacturer": null, "DeviceModel": null,
        "DeviceSerialNumber": null, "PostureExpectedJSON": {}, "PostureReceivedJSON": null
    })));
    assert!(d.get("error").is_none(), "{d}");
    assert!(
        d.get("user").is_none() && d["related"].get("user").is_none(),
        "{d}"
    );
    assert!(d["cloudflare_logpush"]["device_posture"]["eval"]
        .get("expected")
        .is_none());
}

#[test]
fn duplicates_removed_without_the_tag() {
    let d = run_with(&transformer(false), &base());
    let c = &d["cloudflare_logpush"]["device_posture"];
    for p in [
        "/timestamp",
        "/version",
        "/host/id",
        "/host/name",
        "/host/os",
        "/rule",
        "/user",
    ] {
        assert!(c.pointer(p).is_none(), "{p}: {c}");
    }
    // Upstream removes `device_posture.result`, which does not exist: eval.result stays.
    assert_eq!(c["eval"]["result"], false);
    assert_eq!(c["host"]["serial"], "SN1");
    assert_eq!(d["host"]["id"], "dev-1");
}

#[test]
fn both_shapes_and_hostile_records() {
    let t = transformer(true);
    let line = base().to_string();
    let a = logpush::transform(&t, Ds::DevicePosture, Input::Message(&line), 0);
    let b = logpush::transform(&t, Ds::DevicePosture, Input::Json(&line), 0);
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
            let d = logpush::transform(&t, Ds::DevicePosture, input, 0);
            let v: Value = serde_json::from_str(&d.source).unwrap();
            if v["event"]["kind"] == "pipeline_error" {
                assert!(!errors(&v).is_empty() && d.error.is_some(), "{line}");
            } else {
                assert!(d.error.is_none(), "{line}");
            }
        }
    }
}
