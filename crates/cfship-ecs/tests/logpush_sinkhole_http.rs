//! `cloudflare_logpush.sinkhole_http` beyond Elastic's test documents: header splitting, the
//! timestamp script (numbers and numeric strings), the error formats of the era (bare processor messages, tagged
//! pipeline failures), GeoIP with IPv6, both input shapes, hostile records.

mod common;

use cfship_ecs::logpush::Ds;
use common::logpush::{
    assert_both_shapes_agree, assert_error_list, assert_hostile_lines_give_documents_and,
    hostile_lines, run, transformer, with,
};
use serde_json::{json, Value};

const DS: Ds = Ds::SinkholeHttp;

fn base() -> Value {
    json!({
        "AccountID": "acc", "Body": "x=1", "BodyLength": 3, "DestAddr": "192.0.2.1",
        "Headers": "Host: a.example\nAccept: */*\n", "Host": "a.example", "Method": "POST",
        "Password": "p", "R2Path": "", "Referrer": "https://r.example/", "SinkholeID": "sh",
        "SrcAddr": "198.51.100.1", "Timestamp": "2023-09-19T12:00:00Z", "URI": "/login",
        "URL": "https://a.example/login", "UserAgent": "curl/8.0", "Username": "bob"
    })
}

fn run1(rec: &Value) -> Value {
    run(&transformer(None, true), DS, rec)
}

#[test]
fn a_full_record_and_header_splitting() {
    let d = run1(&base());
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["event"]["category"], json!(["network"]));
    let c = &d["cloudflare_logpush"]["sinkhole_http"];
    // Java's split drops the trailing empty string.
    assert_eq!(
        c["request"]["headers"],
        json!(["Host: a.example", "Accept: */*"])
    );
    assert!(c.get("r2path").is_none());
    assert_eq!(d["host"]["name"], "a.example");
    assert_eq!(
        d["http"]["request"]["body"],
        json!({"bytes": 3, "content": "x=1"})
    );
    assert_eq!(d["url"]["original"], "https://a.example/login");
    assert_eq!(d["user"]["name"], "bob");
    assert_eq!(d["related"]["ip"], json!(["192.0.2.1", "198.51.100.1"]));
    let d = run1(&with(&base(), json!({"Headers": "\nA: b"})));
    assert_eq!(
        d["cloudflare_logpush"]["sinkhole_http"]["request"]["headers"],
        json!(["A: b"])
    );
    let d = run1(&with(&base(), json!({"Headers": 7})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        d["error"]["message"],
        json!(["Processor \"split\" with tag \"split_headers\" in pipeline \"\" failed with message \"field [cloudflare_logpush.sinkhole_http.request.headers] of type [java.lang.Integer] cannot be cast to [java.lang.String]\""])
    );
}

#[test]
fn timestamps_numbers_and_numeric_strings_are_normalised() {
    for (v, want) in [
        (json!(1695124800), "2023-09-19T12:00:00.000Z"),
        (json!(1695124800123u64), "2023-09-19T12:00:00.123Z"),
        (json!(1695124800123456789u64), "2023-09-19T12:00:00.123Z"),
        (
            json!("2023-09-19T12:00:00.123Z"),
            "2023-09-19T12:00:00.123Z",
        ),
        (
            json!("2023-09-19T12:00:00.123456789Z"),
            "2023-09-19T12:00:00.123Z",
        ),
        (
            json!("2023-09-19T14:00:00+02:00"),
            "2023-09-19T12:00:00.000Z",
        ),
        // The 5c39cccd script parses numeric strings too (`Long.parseLong`): s / ms / ns.
        (json!("1695124800123"), "2023-09-19T12:00:00.123Z"),
        (json!("1695124800"), "2023-09-19T12:00:00.000Z"),
        (json!("1695124800123456789"), "2023-09-19T12:00:00.123Z"),
    ] {
        let d = run1(&with(&base(), json!({ "Timestamp": v })));
        assert_eq!(d["@timestamp"], want, "{v}: {d}");
    }
    // A bad time: the date appends the bare message, then the strict copy fails the pipeline.
    let d = run1(&with(&base(), json!({"Timestamp": "x"})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        d["error"]["message"],
        json!([
            "For input string: \"x\"",
            "Processor \"set\" with tag \"set_timestamp\" in pipeline \"\" failed with message \"field [@timestamp] not present as part of path [@timestamp]\""
        ])
    );
    assert_eq!(
        d["tags"],
        json!([
            "preserve_original_event",
            "preserve_duplicate_custom_fields"
        ])
    );
}

#[test]
fn an_empty_user_agent_is_parsed_as_other() {
    // No `if:` on this era's `user_agent`: "" is parsed, the clean-up drops `original`.
    let d = run1(&with(&base(), json!({"UserAgent": ""})));
    assert_eq!(
        d["user_agent"],
        json!({"name": "Other", "device": {"name": "Other"}})
    );
    assert_eq!(d["event"]["kind"], "event");
}

#[test]
fn a_uri_parts_failure_is_the_conditional_wrappers_and_json_escaped() {
    let d = run1(&with(&base(), json!({"URL": "/quote\"char"})));
    assert_eq!(
        d["error"]["message"],
        json!([
            "Processor \"conditional\" with tag \"\" in pipeline \"\" failed with message \"unable to parse URI [/quote\\\"char]\""
        ])
    );
}

#[test]
fn geoip_on_a_non_string_or_a_list() {
    let d = run1(&with(&base(), json!({"DestAddr": 7})));
    assert_eq!(
        d["error"]["message"],
        json!(["Processor \"geoip\" with tag \"geo_destination_ip\" in pipeline \"\" failed with message \"field [destination.ip] should contain only string or array of strings\""])
    );
    // A list: elements are looked up in order, the first with data wins (first_only), and
    // elements after it are never checked.
    let Some(geo) = common::geoip() else { return };
    let t = transformer(Some(geo), true);
    let d = run(
        &t,
        DS,
        &with(
            &base(),
            json!({"DestAddr": ["10.1.2.3", "89.160.20.129", 7]}),
        ),
    );
    assert_eq!(d["destination"]["geo"]["country_iso_code"], "SE", "{d}");
    assert_eq!(d["destination"]["as"]["number"], 29518);
    let d = run(&t, DS, &with(&base(), json!({"DestAddr": ["10.1.2.3", 7]})));
    assert_eq!(
        d["error"]["message"],
        json!(["Processor \"geoip\" with tag \"geo_destination_ip\" in pipeline \"\" failed with message \"array in field [destination.ip] should only contain strings\""])
    );
}

#[test]
fn geoip_ipv6_and_missing_addresses() {
    let Some(geo) = common::geoip() else { return };
    let t = transformer(Some(geo), true);
    let d = run(&t, DS, &with(&base(), json!({"SrcAddr": "2a02:cf40::7"})));
    assert_eq!(d["source"]["geo"]["country_iso_code"], "NO");
    let d = run(&t, DS, &with(&base(), json!({"DestAddr": null})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert!(d["error"]["message"][0]
        .as_str()
        .unwrap()
        .starts_with("Processor \"geoip\" with tag \"geo_destination_ip\""));
}

#[test]
fn duplicates_both_shapes_and_hostile_records() {
    let d = run(&transformer(None, false), DS, &base());
    let c = &d["cloudflare_logpush"]["sinkhole_http"];
    for p in [
        "/timestamp",
        "/destination",
        "/source",
        "/request/body",
        "/request/method",
        "/request/referrer",
        "/host",
        "/user",
        "/user_agent",
        "/request/uri",
        "/request/url",
    ] {
        assert!(c.pointer(p).is_none(), "{p}: {c}");
    }
    assert_eq!(c["sinkhole_id"], "sh");

    let t = transformer(None, true);
    assert_both_shapes_agree(&t, DS, &base());

    assert_hostile_lines_give_documents_and(&t, DS, &hostile_lines(&base()), assert_error_list);
}
