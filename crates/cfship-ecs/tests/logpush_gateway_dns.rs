//! `cloudflare_logpush.gateway_dns` (package 1.10.0) beyond Elastic's test documents: the
//! outcome from `RCode`, the strict copies of the era, every timestamp form, IPv6 and GeoIP,
//! both input shapes, hostile records.

mod common;

use cfship_ecs::logpush::Ds;
use common::logpush::{
    assert_both_shapes_agree, assert_error_list, assert_hostile_lines_give_documents_and,
    hostile_lines, run, transformer, with,
};
use serde_json::{json, Value};

const DS: Ds = Ds::GatewayDns;

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

fn run1(rec: &Value) -> Value {
    run(&transformer(None, true), DS, rec)
}

#[test]
fn outcome_from_the_response_code() {
    for (rcode, outcome, code) in [
        (json!(0), Some("success"), "0"),
        (json!(3), Some("failure"), "3"),
        (json!(2.5), Some("failure"), "2.5"),
        (json!(-1), None, "-1"),
    ] {
        let d = run1(&with(&base(), json!({ "RCode": rcode })));
        assert!(d.get("error").is_none(), "{rcode}: {d}");
        assert_eq!(d["event"]["outcome"].as_str(), outcome, "{rcode}");
        assert_eq!(d["dns"]["response_code"], code);
    }
    // A string code: `== 0` is false and `> 0` throws in the `if`.
    let d = run1(&with(&base(), json!({"RCode": "0"})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        d["error"]["message"],
        json!(["Processor \"conditional\" in pipeline \"\" failed with message \"Cannot apply [>] operation to types [java.lang.String] and [java.lang.Integer].\""])
    );
}

#[test]
fn a_full_record_and_the_strict_copies() {
    let d = run1(&base());
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
        let d = run1(&with(&base(), json!({ field: null })));
        assert_eq!(d["event"]["kind"], "pipeline_error", "{field}");
        let m = d["error"]["message"][0].as_str().unwrap();
        assert!(
            m.starts_with("Processor \"set\" in pipeline \"\" failed"),
            "{field}: {m}"
        );
    }
    // Fields without a copy are optional.
    let d = run1(&with(
        &base(),
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
        let d = run1(&with(&base(), json!({ "Datetime": v })));
        assert_eq!(d["@timestamp"], want, "{v}: {d}");
    }
}

#[test]
fn geoip_on_both_ends_with_ipv6() {
    let Some(geo) = common::geoip() else { return };
    let t = transformer(Some(geo), true);
    let d = run(
        &t,
        DS,
        &with(
            &base(),
            json!({"SrcIP": "2a02:cf40::1", "DstIP": "89.160.20.129"}),
        ),
    );
    assert_eq!(d["source"]["geo"]["country_iso_code"], "NO");
    assert_eq!(d["destination"]["geo"]["city_name"], "Linköping");
    assert_eq!(d["destination"]["as"]["number"], 29518);
    assert_eq!(d["related"]["ip"], json!(["2a02:cf40::1", "89.160.20.129"]));
    let d = run(&t, DS, &with(&base(), json!({"SrcIP": "bogus"})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
}

#[test]
fn duplicates_both_shapes_and_hostile_records() {
    let d = run(&transformer(None, false), DS, &base());
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
    assert_both_shapes_agree(&t, DS, &base());

    assert_hostile_lines_give_documents_and(&t, DS, &hostile_lines(&base()), assert_error_list);
}
