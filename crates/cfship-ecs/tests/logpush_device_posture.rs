//! `cloudflare_logpush.device_posture` (package 1.17.0) beyond Elastic's test documents: the
//! outcome from `PostureEvaluatedResult`, the strict copies, every timestamp form, optional user
//! fields, the duplicate removal (with its upstream gap), both input shapes, hostile records.

mod common;

use cfship_ecs::logpush::Ds;
use common::logpush::{
    assert_both_shapes_agree, assert_hostile_lines_give_documents, errors, hostile_lines, run,
    transformer, with,
};
use serde_json::{json, Value};

/// `_ingest.on_failure_pipeline` of a top-level pipeline: unset, so it renders as nothing.
const PIPELINE: &str = "";

const DS: Ds = Ds::DevicePosture;

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

fn run1(rec: &Value) -> Value {
    run(&transformer(None, true), DS, rec)
}

#[test]
fn outcome_from_the_evaluated_result() {
    for (result, want) in [
        (json!(true), Some("success")),
        (json!(false), Some("failure")),
        (json!("true"), None),
        (json!(1), None),
    ] {
        let d = run1(&with(&base(), json!({ "PostureEvaluatedResult": result })));
        assert!(d.get("error").is_none(), "{result}: {d}");
        assert_eq!(d["event"]["outcome"].as_str(), want, "{result}");
        assert_eq!(d["event"]["category"], json!(["host"]));
        assert_eq!(d["event"]["type"], json!(["info"]));
    }
    let d = run1(&with(&base(), json!({ "PostureEvaluatedResult": null })));
    assert!(d["event"].get("outcome").is_none());
}

#[test]
fn a_full_record() {
    let d = run1(&base());
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
        let d = run1(&with(&base(), json!({ "Timestamp": v })));
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
        let d = run1(&with(&base(), json!({ field: null })));
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
    let d = run1(&with(
        &base(),
        json!({
            "UserUID": null, "Email": "", "DeviceManufacturer": null, "DeviceModel": null,
            "DeviceSerialNumber": null, "PostureExpectedJSON": {}, "PostureReceivedJSON": null
        }),
    ));
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
    let d = run(&transformer(None, false), DS, &base());
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
    let t = transformer(None, true);
    assert_both_shapes_agree(&t, DS, &base());

    assert_hostile_lines_give_documents(&t, DS, &hostile_lines(&base()));
}
