//! `cloudflare_logpush.gateway_dns` (package 1.10.0) beyond Elastic's test documents: the
//! outcome from `RCode`, the strict copies of the era, every timestamp form, IPv6 and GeoIP,
//! both input shapes, hostile records.

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
        "ApplicationID": 0, "ColoCode": "ORD", "ColoID": 14, "Datetime": "2023-05-02T22:49:53Z",
        "DeviceID": "dev-1", "DeviceName": "vm1", "DstIP": "192.0.2.53", "DstPort": 53,
        "Email": "user@example.com", "Location": "HQ", "LocationID": "loc-1",
        "MatchedCategoryIDs": [7], "MatchedCategoryNames": ["Photography"], "Policy": "p",
        "PolicyID": "1412", "Protocol": "https", "QueryCategoryIDs": [], "QueryCategoryNames": [],
        "QueryName": "example.com", "QueryNameReversed": "com.example", "QuerySize": 48,
        "QueryType": 28, "QueryTypeName": "AAAA", "RCode": 0,
        "RData": [{"type": "28", "data": "AAAA"}], "ResolvedIPs": ["2001:db8::1"],
        "ResolverDecision": "allowedOnNoPolicyMatch", "SrcIP": "198.51.100.2", "SrcPort": 5353,
        "TimeZone": "UTC", "TimeZoneInferredMethod": "fromLocalTime", "UserID": "uid-1"
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
    let d = logpush::transform(t, Ds::GatewayDns, Input::Message(&line), 0);
    serde_json::from_str(&d.source).unwrap()
}

fn run(rec: &Value) -> Value {
    run_with(&transformer(None, true), rec)
}

#[test]
fn outcome_from_the_response_code() {
    for (rcode, outcome, code) in [
        (json!(0), Some("success"), "0"),
        (json!(3), Some("failure"), "3"),
        (json!(2.5), Some("failure"), "2.5"),
        (json!(-1), None, "-1"),
    ] {
        let d = run(&with(json!({ "RCode": rcode })));
        assert!(d.get("error").is_none(), "{rcode}: {d}");
        assert_eq!(d["event"]["outcome"].as_str(), outcome, "{rcode}");
        assert_eq!(d["dns"]["response_code"], code);
    }
    // A string code: `== 0` is false and `> 0` throws in the `if`.
    let d = run(&with(json!({"RCode": "0"})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        d["error"]["message"],
        json!(["Processor \"conditional\" in pipeline \"\" failed with message \"Cannot apply [>] operation to types [java.lang.String] and [java.lang.Integer].\""])
    );
}

#[test]
fn a_full_record_and_the_strict_copies() {
    let d = run(&base());
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["@timestamp"], "2023-05-02T22:49:53.000Z");
    assert_eq!(d["event"]["timezone"], "UTC");
    assert_eq!(d["network"]["protocol"], "https");
    assert_eq!(
        d["dns"]["question"],
        json!({"name": "example.com", "type": "AAAA"})
    );
    assert_eq!(d["dns"]["resolved_ip"], json!(["2001:db8::1"]));
    assert_eq!(d["dns"]["answers"], json!([{"type": "28", "data": "AAAA"}]));
    assert_eq!(d["related"]["ip"], json!(["198.51.100.2", "192.0.2.53"]));
    assert_eq!(d["related"]["hosts"], json!(["dev-1", "vm1"]));
    assert_eq!(d["related"]["user"], json!(["uid-1", "user@example.com"]));
    let c = &d["cloudflare_logpush"]["gateway_dns"];
    assert!(c["question"].get("category").is_none());
    assert_eq!(c["question"]["type_id"], 28);
    for field in [
        "Datetime",
        "DeviceID",
        "DeviceName",
        "Email",
        "DstIP",
        "DstPort",
        "Protocol",
        "QueryName",
        "QueryTypeName",
        "RCode",
        "RData",
        "ResolvedIPs",
        "SrcIP",
        "SrcPort",
        "TimeZone",
        "UserID",
    ] {
        let d = run(&with(json!({ field: null })));
        assert_eq!(d["event"]["kind"], "pipeline_error", "{field}");
        let m = d["error"]["message"][0].as_str().unwrap();
        assert!(
            m.starts_with("Processor \"set\" in pipeline \"\" failed"),
            "{field}: {m}"
        );
    }
    // Fields without a copy are optional.
    let d = run(&with(
        json!({"ColoCode": null, "Location": null, "MatchedCategoryIDs": null}),
    ));
    assert!(d.get("error").is_none());
}

#[test]
fn every_timestamp_form() {
    for (v, want) in [
        (json!(1683067793), "2023-05-02T22:49:53.000Z"),
        (json!(1683067793500u64), "2023-05-02T22:49:53.500Z"),
        (json!(1683067793500000000u64), "2023-05-02T22:49:53.500Z"),
        (json!("1683067793"), "2023-05-02T22:49:53.000Z"),
        (json!("1683067793500"), "2023-05-02T22:49:53.500Z"),
        (json!("1683067793500000000"), "2023-05-02T22:49:53.500Z"),
        (
            json!("2023-05-02T22:49:53.500Z"),
            "2023-05-02T22:49:53.500Z",
        ),
        (
            json!("2023-05-02T22:49:53.500000001Z"),
            "2023-05-02T22:49:53.500Z",
        ),
        (
            json!("2023-05-03T00:49:53+02:00"),
            "2023-05-02T22:49:53.000Z",
        ),
    ] {
        let d = run(&with(json!({ "Datetime": v })));
        assert_eq!(d["@timestamp"], want, "{v}: {d}");
    }
}

#[test]
fn geoip_on_both_ends_with_ipv6() {
    let Some(geo) = common::geoip() else { return };
    let t = transformer(Some(geo), true);
    let d = run_with(
        &t,
        &with(json!({"SrcIP": "2a02:cf40::1", "DstIP": "89.160.20.129"})),
    );
    assert_eq!(d["source"]["geo"]["country_iso_code"], "NO");
    assert_eq!(d["destination"]["geo"]["city_name"], "Linköping");
    assert_eq!(d["destination"]["as"]["number"], 29518);
    assert_eq!(d["related"]["ip"], json!(["2a02:cf40::1", "89.160.20.129"]));
    let d = run_with(&t, &with(json!({"SrcIP": "bogus"})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
}

#[test]
fn duplicates_both_shapes_and_hostile_records() {
    let d = run_with(&transformer(None, false), &base());
    let c = &d["cloudflare_logpush"]["gateway_dns"];
    for p in [
        "/timestamp",
        "/host",
        "/destination",
        "/protocol",
        "/response_code",
        "/answers",
        "/resolved_ip",
        "/source",
        "/timezone",
        "/user",
        "/question/name",
        "/question/type",
    ] {
        assert!(c.pointer(p).is_none(), "{p}: {c}");
    }
    assert_eq!(c["question"]["reversed"], "com.example");

    let t = transformer(None, true);
    let line = base().to_string();
    let a = logpush::transform(&t, Ds::GatewayDns, Input::Message(&line), 0);
    let b = logpush::transform(&t, Ds::GatewayDns, Input::Json(&line), 0);
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
            let d = logpush::transform(&t, Ds::GatewayDns, input, 0);
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
