//! `cloudflare_logpush.workers_trace` (package 1.8.1) beyond Elastic's test documents: the
//! outcome table, snake-cased nested keys, every timestamp form, the tagged error format, the
//! strict copies, both input shapes, hostile records.

mod common;

use cfship_ecs::logpush::Ds;
use common::logpush::{
    assert_both_shapes_agree, assert_error_list, assert_hostile_lines_give_documents_and,
    hostile_lines, run, transformer, with,
};
use serde_json::{json, Value};

const DS: Ds = Ds::WorkersTrace;

fn base() -> Value {
    json!({
        "Event": {"RayID": "ray-1", "Request": {"URL": "https://w.example.dev/a/b.js?x=1", "Method": "POST"},
                  "Response": {"Status": 500}, "CpuTimeMs": 3},
        "EventTimestampMs": 1689852946804u64, "EventType": "fetch",
        "Exceptions": [{"Message": "boom", "Stack": "at x", "Nested": [{"InnerKey": 1}]}],
        "Logs": [{"level": "error", "message": "m", "TimeStamp": 1}],
        "Outcome": "exception", "ScriptName": "worker-1", "ScriptTags": ["t"],
        "DispatchNamespace": "ns"
    })
}

fn run1(rec: &Value) -> Value {
    run(&transformer(None, true), DS, rec)
}

#[test]
fn outcome_table() {
    for (o, outcome, types) in [
        ("exception", Some("failure"), json!(["info", "error"])),
        ("ok", Some("success"), json!(["info"])),
        ("canceled", None, json!(["info"])),
        ("exceededCpu", None, json!(["info"])),
    ] {
        let d = run1(&with(&base(), json!({ "Outcome": o })));
        assert_eq!(d["event"]["outcome"].as_str(), outcome, "{o}");
        assert_eq!(d["event"]["type"], types, "{o}");
        assert_eq!(d["event"]["category"], json!(["web"]));
    }
}

#[test]
fn keys_are_snake_cased_recursively() {
    let d = run1(&base());
    assert!(d.get("error").is_none(), "{d}");
    let c = &d["cloudflare_logpush"]["workers_trace"];
    assert_eq!(
        c["event"],
        json!({"ray_id": "ray-1", "request": {"url": "https://w.example.dev/a/b.js?x=1", "method": "POST"},
               "response": {"status": 500}, "cpu_time_ms": 3})
    );
    // Maps inside lists are converted; a list inside a list element's map too (it is a map).
    assert_eq!(
        c["exceptions"],
        json!([{"message": "boom", "stack": "at x", "nested": [{"inner_key": 1}]}])
    );
    assert_eq!(
        c["logs"],
        json!([{"level": "error", "message": "m", "time_stamp": 1}])
    );
    assert_eq!(c["dispatch_namespace"], "ns");
    assert_eq!(d["event"]["id"], "ray-1");
    assert_eq!(
        d["http"],
        json!({"request": {"method": "POST"}, "response": {"status_code": 500}})
    );
    assert_eq!(d["url"]["extension"], "js");
    assert_eq!(d["url"]["query"], "x=1");
    assert_eq!(d["url"]["original"], "https://w.example.dev/a/b.js?x=1");
}

#[test]
fn every_timestamp_form() {
    for (v, want) in [
        (json!(1689852946), "2023-07-20T11:35:46.000Z"),
        (json!(1689852946804u64), "2023-07-20T11:35:46.804Z"),
        (json!(1689852946804000000u64), "2023-07-20T11:35:46.804Z"),
        (json!("1689852946"), "2023-07-20T11:35:46.000Z"),
        (json!("1689852946804"), "2023-07-20T11:35:46.804Z"),
        (json!("1689852946804000000"), "2023-07-20T11:35:46.804Z"),
        (
            json!("2023-07-20T11:35:46.804Z"),
            "2023-07-20T11:35:46.804Z",
        ),
        (
            json!("2023-07-20T11:35:46.804999999Z"),
            "2023-07-20T11:35:46.804Z",
        ),
        (
            json!("2023-07-20T13:35:46+02:00"),
            "2023-07-20T11:35:46.000Z",
        ),
    ] {
        let d = run1(&with(&base(), json!({ "EventTimestampMs": v })));
        assert_eq!(d["@timestamp"], want, "{v}: {d}");
    }
}

#[test]
fn tagged_errors_and_strict_copies() {
    let d = run1(&with(&base(), json!({"EventTimestampMs": "later"})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        d["error"]["message"],
        json!([
            "Processor \"date\" with tag \"date_event_timestamp\" in pipeline \"\" failed with message \"For input string: \"later\"\"",
            "Processor \"set\" with tag \"set_timestamp\" in pipeline \"\" failed with message \"field [@timestamp] not present as part of path [@timestamp]\""
        ])
    );
    let d = run1(&with(&base(), json!({"EventType": null})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert!(d["error"]["message"][0]
        .as_str()
        .unwrap()
        .starts_with("Processor \"set\" with tag \"set_event_action\""));
    // Optional: everything else.
    let d = run1(
        &json!({"EventTimestampMs": 1689852946804u64, "EventType": "scheduled", "Exceptions": [], "Logs": []}),
    );
    assert!(d.get("error").is_none(), "{d}");
    assert!(d.get("url").is_none() && d.get("http").is_none());
    assert!(d["cloudflare_logpush"]["workers_trace"]
        .get("logs")
        .is_none());
    // An unparsable URL fails the pipeline (uri_parts has no handler).
    let d = run1(&with(
        &base(),
        json!({"Event": {"Request": {"URL": "http://bad host/"}}}),
    ));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert!(d["error"]["message"][0]
        .as_str()
        .unwrap()
        .starts_with("Processor \"uri_parts\" with tag \"uri_parts_http_url\""));
}

#[test]
fn duplicates_both_shapes_and_hostile_records() {
    let d = run(&transformer(None, false), DS, &base());
    let c = &d["cloudflare_logpush"]["workers_trace"];
    for p in [
        "/event/ray_id",
        "/event/request",
        "/event/response",
        "/outcome",
        "/timestamp",
        "/type",
    ] {
        assert!(c.pointer(p).is_none(), "{p}: {c}");
    }
    assert_eq!(c["event"]["cpu_time_ms"], 3);

    let t = transformer(None, true);
    assert_both_shapes_agree(&t, DS, &base());

    assert_hostile_lines_give_documents_and(&t, DS, &hostile_lines(&base()), assert_error_list);
}
