//! `cloudflare_logpush.dns_firewall` beyond Elastic's test documents: transports, query types,
//! response codes, the unguarded conversions, GeoIP on both ends, timestamps, the 1.45 error
//! format, `N/A` cleanup, both input shapes, hostile records.

mod common;

use cfship_ecs::logpush::Ds;
use common::logpush::{errors, run, run_json, run_line, transformer, with};
use serde_json::{json, Value};

const DS: Ds = Ds::DnsFirewall;

fn base() -> Value {
    json!({
        "ClientResponseCode": 0, "ClusterID": "C1", "ColoCode": "SFO", "EDNSSubnet": "198.51.100.0",
        "EDNSSubnetLength": 24, "QueryDO": true, "QueryName": "example.com", "QueryRD": true,
        "QuerySize": 60, "QueryTCP": false, "QueryType": 1, "ResponseCached": true,
        "ResponseCachedStale": false, "SourceIP": "192.0.2.1", "Timestamp": "2023-09-19T12:30:00Z",
        "UpstreamIP": "203.0.113.53", "UpstreamResponseCode": 2, "UpstreamResponseTimeMs": 30
    })
}

fn df(d: &Value) -> &Value {
    &d["cloudflare_logpush"]["dns_firewall"]
}

fn run1(rec: &Value) -> Value {
    run(&transformer(None, true), DS, rec)
}

#[test]
fn a_full_record() {
    let d = run1(&base());
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["event"]["kind"], "event");
    assert_eq!(d["event"]["category"], json!(["network"]));
    assert_eq!(d["source"]["ip"], "192.0.2.1");
    assert_eq!(d["destination"]["ip"], "203.0.113.53");
    assert_eq!(
        d["dns"],
        json!({"question": {"name": "example.com", "type": "A"}, "response_code": "0"})
    );
    assert_eq!(d["network"]["transport"], "udp");
    assert_eq!(
        d["related"]["ip"],
        json!(["192.0.2.1", "198.51.100.0", "203.0.113.53"])
    );
    let c = df(&d);
    assert_eq!(c["upstream"]["response_code"], "2");
    assert_eq!(c["response"]["code"], "0");
    assert_eq!(c["question"]["type"], 1);
    assert_eq!(c["edns"]["subnet_length"], 24);
}

#[test]
fn transports_and_query_types() {
    for (tcp, want) in [
        (json!(true), Some("tcp")),
        (json!(false), Some("udp")),
        (json!("true"), Some("tcp")),
        (Value::Null, None),
    ] {
        let d = run1(&with(&base(), json!({ "QueryTCP": tcp })));
        assert_eq!(d["network"]["transport"].as_str(), want, "{tcp}");
    }
    for (t, want) in [
        (json!(1), Some("A")),
        (json!(28), Some("AAAA")),
        (json!(65), Some("HTTPS")),
        (json!(255), Some("ANY")),
        (json!(32769), Some("DLV")),
        (json!("15"), Some("MX")),
        (json!(54), None),
        (json!(70000), None),
    ] {
        let d = run1(&with(&base(), json!({ "QueryType": t })));
        assert_eq!(d["dns"]["question"]["type"].as_str(), want, "{t}");
        assert_eq!(df(&d)["question"]["type"], t);
    }
}

#[test]
fn response_codes() {
    let code = |patch: Value| {
        let d = run1(&with(&base(), patch));
        d["dns"]["response_code"].as_str().map(str::to_string)
    };
    assert_eq!(code(json!({})).as_deref(), Some("0"));
    assert_eq!(code(json!({"ClientResponseCode": 3})).as_deref(), Some("3"));
    assert_eq!(
        code(json!({"ClientResponseCode": null})).as_deref(),
        Some("2")
    );
    assert_eq!(
        code(json!({"ClientResponseCode": ""})).as_deref(),
        Some("2")
    );
    assert_eq!(
        code(json!({"ClientResponseCode": null, "UpstreamResponseCode": null})),
        None
    );
}

#[test]
fn unguarded_conversions_fail_on_empty_strings() {
    let d = run1(&with(&base(), json!({"QuerySize": ""})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    let e = errors(&d);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("Processor convert with tag convert_querysize_to_long in pipeline  failed with message: "),
        "{e:?}"
    );
    assert_eq!(
        d["tags"],
        json!([
            "preserve_original_event",
            "preserve_duplicate_custom_fields"
        ])
    );
    // The record goes on: later fields are still there.
    assert_eq!(df(&d)["upstream"]["response_time_ms"], 30);
    // Booleans from text, and a refused one.
    let d = run1(&with(
        &base(),
        json!({"QueryDO": "FALSE", "ResponseCached": "true"}),
    ));
    assert_eq!(df(&d)["question"]["dnssec_ok"], false);
    assert_eq!(df(&d)["response"]["cached"], true);
    let d = run1(&with(&base(), json!({"QueryRD": "yes"})));
    assert!(errors(&d)[0].starts_with("Processor convert with tag convert_queryrd_to_boolean"));
    // A bad address: the convert's message; no source, and GeoIP skipped.
    let d = run1(&with(&base(), json!({"SourceIP": "resolver"})));
    assert_eq!(
        errors(&d),
        vec!["Processor convert with tag convert_sourceip_to_ip in pipeline  failed with message: 'resolver' is not an IP string literal.".to_string()]
    );
    assert!(d.get("source").is_none());
}

#[test]
fn geoip_on_both_ends_and_ipv6() {
    let Some(geo) = common::geoip() else { return };
    let t = transformer(Some(geo), true);
    let d = run(
        &t,
        DS,
        &with(
            &base(),
            json!({"SourceIP": "89.160.20.129", "UpstreamIP": "2a02:cf40::23"}),
        ),
    );
    assert_eq!(d["source"]["geo"]["country_iso_code"], "SE");
    assert_eq!(d["source"]["as"]["number"], 29518);
    assert_eq!(d["source"]["as"]["organization"]["name"], "Bredband2 AB");
    assert_eq!(d["destination"]["geo"]["country_iso_code"], "NO");
    assert_eq!(d["destination"]["ip"], "2a02:cf40::23");
    // Missing addresses: the lookups are skipped, no error.
    let d = run(
        &t,
        DS,
        &with(&base(), json!({"SourceIP": null, "UpstreamIP": ""})),
    );
    assert!(d.get("error").is_none(), "{d}");
    assert!(d.get("source").is_none() && d.get("destination").is_none());
    assert_eq!(d["related"]["ip"], json!(["198.51.100.0"]));
}

#[test]
fn timestamps() {
    for (v, want) in [
        (json!(1695126600), "2023-09-19T12:30:00.000Z"),
        (json!("1695126600"), "2023-09-19T12:30:00.000Z"),
        (json!(1695126600500u64), "2023-09-19T12:30:00.500Z"),
        (json!(1695126600500000000u64), "2023-09-19T12:30:00.500Z"),
        (json!("2023-09-19T12:30:00.5Z"), "2023-09-19T12:30:00.500Z"),
        (
            json!("2023-09-19T14:30:00+02:00"),
            "2023-09-19T12:30:00.000Z",
        ),
    ] {
        let d = run1(&with(&base(), json!({ "Timestamp": v })));
        assert_eq!(d["@timestamp"], want, "{v}");
        assert_eq!(df(&d)["timestamp"], want, "{v}");
    }
    let d = run1(&with(&base(), json!({"Timestamp": "later"})));
    assert_eq!(
        errors(&d),
        vec!["Processor date with tag date_event_timestamp in pipeline  failed with message: For input string: \"later\"".to_string()]
    );
    assert_eq!(d["event"]["kind"], "pipeline_error");
}

#[test]
fn missing_fields_na_and_duplicates() {
    let d = run1(&json!({"Timestamp": 1695126600, "ClusterID": "N/A", "ColoCode": ["N/A"]}));
    assert_eq!(
        d,
        json!({
            "@timestamp": "2023-09-19T12:30:00.000Z",
            "cloudflare_logpush": {"dns_firewall": {"colo": {"code": ["N/A"]}, "timestamp": "2023-09-19T12:30:00.000Z"}},
            "ecs": {"version": "9.3.0"},
            "event": {"category": ["network"], "kind": "event", "original": "{\"ClusterID\":\"N/A\",\"ColoCode\":[\"N/A\"],\"Timestamp\":1695126600}", "type": ["info"]},
            "tags": ["preserve_original_event", "preserve_duplicate_custom_fields"]
        })
    );
    let d = run(&transformer(None, false), DS, &base());
    let c = df(&d);
    for p in [
        "/timestamp",
        "/source/ip",
        "/question/name",
        "/response/code",
    ] {
        assert!(c.pointer(p).is_none(), "{p}: {c}");
    }
    assert_eq!(c["upstream"]["ip"], "203.0.113.53");
    assert_eq!(d["dns"]["response_code"], "0");
}

#[test]
fn both_input_shapes_and_hostile_records() {
    let t = transformer(None, true);
    let mut a = run(&t, DS, &base());
    let mut b = run_json(&t, DS, &base());
    a["event"].as_object_mut().unwrap().remove("original");
    b["event"].as_object_mut().unwrap().remove("original");
    assert_eq!(a, b);
    let d = run_line(&t, DS, "not json");
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert!(errors(&d)[0].starts_with("Processor json with tag"), "{d}");
    for line in [
        "[]",
        "{}",
        r#"{"QueryType":{"a":1},"QueryName":[1],"ClientResponseCode":[0,3],"QueryTCP":[true],"SourceIP":["1.2.3.4"],"Timestamp":[1]}"#,
        r#"{"QuerySize":1e300,"EDNSSubnetLength":"24x","UpstreamResponseTimeMs":-1,"QueryType":-5}"#,
    ] {
        let d = run_line(&t, DS, line);
        assert_eq!(d["ecs"]["version"], "9.3.0", "{line}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]
    /// Any field of a full record replaced by any JSON value, or removed: one valid document.
    #[test]
    fn mutated_records_give_one_document(rec in common::logpush::mutations(base())) {
        common::logpush::assert_one_document(&transformer(None, true), DS, &rec);
        common::logpush::assert_one_document(&transformer(None, false), DS, &rec);
    }
}

/// Oracle findings in `convert`: `ip` of a non-string fails the cast to String (the JVM's
/// ClassCastException text), a list is converted one level deep (an inner list is one element,
/// its Java `toString()`), and a null element fails `value.toString()`.
#[test]
fn convert_of_non_strings_nested_lists_and_null_elements() {
    let d = run1(&with(&base(), json!({"EDNSSubnet": ["198.51.100.0", 7]})));
    assert_eq!(
        errors(&d),
        vec!["Processor convert with tag convert_ednssubnet_to_ip in pipeline  failed with message: class java.lang.Integer cannot be cast to class java.lang.String (java.lang.Integer and java.lang.String are in module java.base of loader 'bootstrap')"]
    );
    let d = run1(&with(&base(), json!({"SourceIP": "300.1.2.3"})));
    assert_eq!(
        errors(&d),
        vec!["Processor convert with tag convert_sourceip_to_ip in pipeline  failed with message: '300.1.2.3' is not an IP string literal."]
    );
    let d = run1(&with(
        &base(),
        json!({"ClientResponseCode": [[1, "a"], {"k": "v"}]}),
    ));
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(df(&d)["response"]["code"], json!(["[1, a]", "{k=v}"]));
    let d = run1(&with(&base(), json!({"ClientResponseCode": [0, null]})));
    assert_eq!(
        errors(&d),
        vec![
            r#"Processor convert with tag convert_dns_response_code in pipeline  failed with message: Cannot invoke "Object.toString()" because "value" is null"#
        ]
    );
    let d = run1(&with(&base(), json!({"QuerySize": [[60]]})));
    assert_eq!(
        errors(&d),
        vec![
            r#"Processor convert with tag convert_querysize_to_long in pipeline  failed with message: For input string: "[60]""#
        ]
    );
}

/// Oracle finding: the `json` processor's failure names its tag (`json_event_original`).
#[test]
fn a_line_that_is_not_json_names_the_json_tag() {
    let d = run_line(&transformer(None, true), DS, "{\"cut");
    let e = errors(&d);
    assert_eq!(e.len(), 1, "{d}");
    assert!(
        e[0].starts_with(
            "Processor json with tag json_event_original in pipeline  failed with message: "
        ),
        "{e:?}"
    );
}
