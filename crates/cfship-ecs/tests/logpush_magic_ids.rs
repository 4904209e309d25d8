//! `cloudflare_logpush.magic_ids` beyond Elastic's test documents: every action entry, the
//! number-only timestamp script, the error formats of the era, missing addresses, both input
//! shapes, hostile records.

mod common;

use cfship_ecs::logpush::{self, Ds, Input};
use cfship_ecs::{Options, Transformer};
use serde_json::{json, Value};

fn transformer(geo: Option<std::sync::Arc<cfship_ecs::GeoIp>>, duplicates: bool) -> Transformer {
    let mut tags = vec!["preserve_original_event".to_string()];
    if duplicates {
        tags.push("preserve_duplicate_custom_fields".to_string());
    }
    let opts = Options {
        preserve_original: true,
        tags,
        ..Default::default()
    };
    Transformer::new(opts, geo).unwrap()
}

fn base() -> Value {
    json!({
        "Action": "pass", "ColoCode": "NRT", "ColoCity": "Tokyo", "DestinationIP": "192.0.2.9",
        "DestinationPort": 80, "Protocol": "tcp", "SignatureID": 2031296, "SignatureMessage": "ET x",
        "SignatureRevision": 1, "SourceIP": "2001:db8::9", "SourcePort": 44667,
        "Timestamp": "2023-09-11T03:02:57Z"
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
    let d = logpush::transform(t, Ds::MagicIds, Input::Message(&line), 0);
    serde_json::from_str(&d.source).unwrap()
}

fn run(rec: &Value) -> Value {
    run_with(&transformer(None, true), rec)
}

#[test]
fn every_action_entry() {
    for (a, types) in [
        ("pass", json!(["info", "allowed"])),
        ("block", json!(["info", "denied"])),
        ("log", json!(["info"])),
    ] {
        let d = run(&with(json!({ "Action": a })));
        assert_eq!(d["event"]["type"], types, "{a}");
        assert_eq!(d["event"]["action"], a);
        assert_eq!(
            d["event"]["category"],
            json!(["network", "intrusion_detection"])
        );
    }
    let d = run(&with(json!({ "Action": null })));
    assert_eq!(d["event"]["type"], json!(["info"]));
    assert!(d["event"].get("action").is_none());
}

#[test]
fn a_full_record_with_ipv6() {
    let d = run(&base());
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["source"], json!({"ip": "2001:db8::9", "port": 44667}));
    assert_eq!(d["destination"], json!({"ip": "192.0.2.9", "port": 80}));
    assert_eq!(d["network"]["transport"], "tcp");
    assert_eq!(d["related"]["ip"], json!(["192.0.2.9", "2001:db8::9"]));
    let c = &d["cloudflare_logpush"]["magic_ids"];
    assert_eq!(
        c["signature"],
        json!({"id": 2031296, "message": "ET x", "revision": 1})
    );
    assert_eq!(c["colo"], json!({"city": "Tokyo", "code": "NRT"}));
}

#[test]
fn timestamps_and_errors() {
    for (v, want) in [
        (json!(1694401377), "2023-09-11T03:02:57.000Z"),
        (json!(1694401377250u64), "2023-09-11T03:02:57.250Z"),
        (json!(1694401377250000000u64), "2023-09-11T03:02:57.250Z"),
        (json!("1694401377250"), "2023-09-11T03:02:57.250Z"),
        (
            json!("2023-09-11T03:02:57.250Z"),
            "2023-09-11T03:02:57.250Z",
        ),
        (
            json!("2023-09-11T03:02:57.250250250Z"),
            "2023-09-11T03:02:57.250Z",
        ),
        (
            json!("2023-09-11T05:02:57+02:00"),
            "2023-09-11T03:02:57.000Z",
        ),
    ] {
        let d = run(&with(json!({ "Timestamp": v })));
        assert_eq!(d["@timestamp"], want, "{v}: {d}");
    }
    let d = run(&with(json!({"Timestamp": null})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        d["error"]["message"],
        json!(["Processor \"set\" with tag \"set_timestamp\" in pipeline \"\" failed with message \"field [@timestamp] not present as part of path [@timestamp]\""])
    );
    assert!(d["tags"]
        .as_array()
        .unwrap()
        .contains(&json!("preserve_original_event")));
}

#[test]
fn missing_addresses_fail_the_city_lookup() {
    let Some(geo) = common::geoip() else { return };
    let t = transformer(Some(geo), true);
    let d = run_with(&t, &with(json!({"DestinationIP": "89.160.20.129"})));
    assert_eq!(d["destination"]["geo"]["country_iso_code"], "SE");
    let d = run_with(&t, &with(json!({"SourceIP": null})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert!(d["error"]["message"][0]
        .as_str()
        .unwrap()
        .starts_with("Processor \"geoip\" with tag \"geo_source_ip\""));
}

#[test]
fn duplicates_both_shapes_and_hostile_records() {
    let d = run_with(&transformer(None, false), &base());
    let c = &d["cloudflare_logpush"]["magic_ids"];
    for k in ["action", "timestamp", "destination", "source", "transport"] {
        assert!(c.get(k).is_none(), "{k}: {c}");
    }
    assert_eq!(c["signature"]["id"], 2031296);

    let t = transformer(None, true);
    let line = base().to_string();
    let a = logpush::transform(&t, Ds::MagicIds, Input::Message(&line), 0);
    let b = logpush::transform(&t, Ds::MagicIds, Input::Json(&line), 0);
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
            json!([]),
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
            let d = logpush::transform(&t, Ds::MagicIds, input, 0);
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
