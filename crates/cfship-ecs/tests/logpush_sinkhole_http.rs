//! `cloudflare_logpush.sinkhole_http` beyond Elastic's test documents: header splitting, the
//! number-only timestamp script, the error formats of the era (bare processor messages, tagged
//! pipeline failures), GeoIP with IPv6, both input shapes, hostile records.

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
        "AccountID": "acc", "Body": "x=1", "BodyLength": 3, "DestAddr": "192.0.2.1",
        "Headers": "Host: a.example\nAccept: */*\n", "Host": "a.example", "Method": "POST",
        "Password": "p", "R2Path": "", "Referrer": "https://r.example/", "SinkholeID": "sh",
        "SrcAddr": "198.51.100.1", "Timestamp": "2023-09-19T12:00:00Z", "URI": "/login",
        "URL": "https://a.example/login", "UserAgent": "curl/8.0", "Username": "bob"
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
    let d = logpush::transform(t, Ds::SinkholeHttp, Input::Message(&line), 0);
    serde_json::from_str(&d.source).unwrap()
}

fn run(rec: &Value) -> Value {
    run_with(&transformer(None, true), rec)
}

#[test]
fn a_full_record_and_header_splitting() {
    let d = run(&base());
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
    let d = run(&with(json!({"Headers": "\nA: b"})));
    assert_eq!(
        d["cloudflare_logpush"]["sinkhole_http"]["request"]["headers"],
        json!(["A: b"])
    );
    let d = run(&with(json!({"Headers": 7})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        d["error"]["message"],
        json!(["Processor \"split\" with tag \"split_headers\" in pipeline \"\" failed with message \"field [cloudflare_logpush.sinkhole_http.request.headers] of type [java.lang.Integer] cannot be cast to [java.lang.String]\""])
    );
}

#[test]
fn timestamps_numbers_are_normalised_strings_are_not() {
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
        // A numeric string skips the script: `UNIX_MS` reads it as milliseconds.
        (json!("1695124800123"), "2023-09-19T12:00:00.123Z"),
        (json!("1695124800"), "1970-01-20T14:52:04.800Z"),
    ] {
        let d = run(&with(json!({ "Timestamp": v })));
        assert_eq!(d["@timestamp"], want, "{v}: {d}");
    }
    // A bad time: the date appends the bare message, then the strict copy fails the pipeline.
    let d = run(&with(json!({"Timestamp": "x"})));
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
fn geoip_ipv6_and_missing_addresses() {
    let Some(geo) = common::geoip() else { return };
    let t = transformer(Some(geo), true);
    let d = run_with(&t, &with(json!({"SrcAddr": "2a02:cf40::7"})));
    assert_eq!(d["source"]["geo"]["country_iso_code"], "NO");
    let d = run_with(&t, &with(json!({"DestAddr": null})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert!(d["error"]["message"][0]
        .as_str()
        .unwrap()
        .starts_with("Processor \"geoip\" with tag \"geo_destination_ip\""));
}

#[test]
fn duplicates_both_shapes_and_hostile_records() {
    let d = run_with(&transformer(None, false), &base());
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
    let line = base().to_string();
    let a = logpush::transform(&t, Ds::SinkholeHttp, Input::Message(&line), 0);
    let b = logpush::transform(&t, Ds::SinkholeHttp, Input::Json(&line), 0);
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
            let d = logpush::transform(&t, Ds::SinkholeHttp, input, 0);
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
