//! `cloudflare_logpush.workers_trace` (package 1.8.1) beyond Elastic's test documents: the
//! outcome table, snake-cased nested keys, every timestamp form, the tagged error format, the
//! strict copies, both input shapes, hostile records.

use cfship_ecs::logpush::{self, Ds, Input};
use cfship_ecs::{Options, Transformer};
use serde_json::{json, Value};

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
        "Event": {"RayID": "ray-1", "Request": {"URL": "https://w.example.dev/a/b.js?x=1", "Method": "POST"},
                  "Response": {"Status": 500}, "CpuTimeMs": 3},
        "EventTimestampMs": 1689852946804u64, "EventType": "fetch",
        "Exceptions": [{"Message": "boom", "Stack": "at x", "Nested": [{"InnerKey": 1}]}],
        "Logs": [{"level": "error", "message": "m", "TimeStamp": 1}],
        "Outcome": "exception", "ScriptName": "worker-1", "ScriptTags": ["t"],
        "DispatchNamespace": "ns"
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
    let d = logpush::transform(t, Ds::WorkersTrace, Input::Message(&line), 0);
    serde_json::from_str(&d.source).unwrap()
}

fn run(rec: &Value) -> Value {
    run_with(&transformer(true), rec)
}

#[test]
fn outcome_table() {
    for (o, outcome, types) in [
        ("exception", Some("failure"), json!(["info", "error"])),
        ("ok", Some("success"), json!(["info"])),
        ("canceled", None, json!(["info"])),
        ("exceededCpu", None, json!(["info"])),
    ] {
        let d = run(&with(json!({ "Outcome": o })));
        assert_eq!(d["event"]["outcome"].as_str(), outcome, "{o}");
        assert_eq!(d["event"]["type"], types, "{o}");
        assert_eq!(d["event"]["category"], json!(["web"]));
    }
}

#[test]
fn keys_are_snake_cased_recursively() {
    let d = run(&base());
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
        let d = run(&with(json!({ "EventTimestampMs": v })));
        assert_eq!(d["@timestamp"], want, "{v}: {d}");
    }
}

#[test]
fn tagged_errors_and_strict_copies() {
    let d = run(&with(json!({"EventTimestampMs": "later"})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        d["error"]["message"],
        json!([
            "Processor \"date\" with tag \"date_event_timestamp\" in pipeline \"\" failed with message \"For input string: \"later\"\"",
            "Processor \"set\" with tag \"set_timestamp\" in pipeline \"\" failed with message \"field [@timestamp] not present as part of path [@timestamp]\""
        ])
    );
    let d = run(&with(json!({"EventType": null})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert!(d["error"]["message"][0]
        .as_str()
        .unwrap()
        .starts_with("Processor \"set\" with tag \"set_event_action\""));
    // Optional: everything else.
    let d = run(
        &json!({"EventTimestampMs": 1689852946804u64, "EventType": "scheduled", "Exceptions": [], "Logs": []}),
    );
    assert!(d.get("error").is_none(), "{d}");
    assert!(d.get("url").is_none() && d.get("http").is_none());
    assert!(d["cloudflare_logpush"]["workers_trace"]
        .get("logs")
        .is_none());
    // An unparsable URL fails the pipeline (uri_parts has no handler).
    let d = run(&with(
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
    let d = run_with(&transformer(false), &base());
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

    let t = transformer(true);
    let line = base().to_string();
    let a = logpush::transform(&t, Ds::WorkersTrace, Input::Message(&line), 0);
    let b = logpush::transform(&t, Ds::WorkersTrace, Input::Json(&line), 0);
    let mut a: Value = serde_json::from_str(&a.source).unwrap();
    let mut b: Value = serde_json::from_str(&b.source).unwrap();
    a["event"].as_object_mut().unwrap().remove("original");
    b["event"].as_object_mut().unwrap().remove("original");
    assert_eq!(a, b);

    let mut lines: Vec<String> = vec!["".into(), "x".into(), "[]".into(), "{}".into()];
    for (k, _) in base().as_object().unwrap() {
        for bad in [
            json!(true),
            json!({"o": [1]}),
            json!([[{"A": 1}]]),
            json!(1e300),
            json!(""),
        ] {
            let mut rec = base();
            rec[k.as_str()] = bad;
            lines.push(rec.to_string());
        }
    }
    for line in &lines {
        for input in [Input::Message(line), Input::Json(line)] {
            let d = logpush::transform(&t, Ds::WorkersTrace, input, 0);
            let v: Value = serde_json::from_str(&d.source).unwrap();
            if v["event"]["kind"] == "pipeline_error" {
                assert!(
                    v["error"]["message"].is_array() && d.error.is_some(),
                    "{line}"
                );
            }
        }
    }
}
