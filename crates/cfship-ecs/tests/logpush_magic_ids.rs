//! `cloudflare_logpush.magic_ids` beyond Elastic's test documents: every action entry, the
//! number-only timestamp script, the error formats of the era, missing addresses, both input
//! shapes, hostile records.

mod common;

use cfship_ecs::logpush::Ds;
use common::logpush::{
    assert_both_shapes_agree, assert_error_list, assert_hostile_lines_give_documents_and,
    hostile_lines, run, transformer, with,
};
use serde_json::{json, Value};

const DS: Ds = Ds::MagicIds;

fn base() -> Value {
    json!({
        "Action": "pass", "ColoCode": "NRT", "ColoCity": "Tokyo", "DestinationIP": "192.0.2.9",
        "DestinationPort": 80, "Protocol": "tcp", "SignatureID": 2031296, "SignatureMessage": "ET x",
        "SignatureRevision": 1, "SourceIP": "2001:db8::9", "SourcePort": 44667,
        "Timestamp": "2023-09-11T03:02:57Z"
    })
}

fn run1(rec: &Value) -> Value {
    run(&transformer(None, true), DS, rec)
}

#[test]
fn every_action_entry() {
    for (a, types) in [
        ("pass", json!(["info", "allowed"])),
        ("block", json!(["info", "denied"])),
        ("log", json!(["info"])),
    ] {
        let d = run1(&with(&base(), json!({ "Action": a })));
        assert_eq!(d["event"]["type"], types, "{a}");
        assert_eq!(d["event"]["action"], a);
        assert_eq!(
            d["event"]["category"],
            json!(["network", "intrusion_detection"])
        );
    }
    let d = run1(&with(&base(), json!({ "Action": null })));
    assert_eq!(d["event"]["type"], json!(["info"]));
    assert!(d["event"].get("action").is_none());
}

#[test]
fn a_full_record_with_ipv6() {
    let d = run1(&base());
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
        let d = run1(&with(&base(), json!({ "Timestamp": v })));
        assert_eq!(d["@timestamp"], want, "{v}: {d}");
    }
    let d = run1(&with(&base(), json!({"Timestamp": null})));
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
    let d = run(
        &t,
        DS,
        &with(&base(), json!({"DestinationIP": "89.160.20.129"})),
    );
    assert_eq!(d["destination"]["geo"]["country_iso_code"], "SE");
    let d = run(&t, DS, &with(&base(), json!({"SourceIP": null})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert!(d["error"]["message"][0]
        .as_str()
        .unwrap()
        .starts_with("Processor \"geoip\" with tag \"geo_source_ip\""));
}

#[test]
fn duplicates_both_shapes_and_hostile_records() {
    let d = run(&transformer(None, false), DS, &base());
    let c = &d["cloudflare_logpush"]["magic_ids"];
    for k in ["action", "timestamp", "destination", "source", "transport"] {
        assert!(c.get(k).is_none(), "{k}: {c}");
    }
    assert_eq!(c["signature"]["id"], 2031296);

    let t = transformer(None, true);
    assert_both_shapes_agree(&t, DS, &base());

    assert_hostile_lines_give_documents_and(&t, DS, &hostile_lines(&base()), assert_error_list);
}
