//! `cloudflare_logpush.dex_application_tests` (package 2.1.0) beyond Elastic's test documents:
//! every `host.os.type` entry, both test kinds (HTTP, traceroute), every timestamp form of
//! `Timestamp` and `TracerouteTimeEnd`, the tagged 2.x error messages, missing and empty fields,
//! IPv6, both input shapes, hostile records.

mod common;

use cfship_ecs::logpush::{self, Ds, Input};
use common::logpush::{
    assert_both_shapes_agree, assert_hostile_lines_give_documents, assert_pipeline_error, errors,
    hostile_lines, run_doc, transformer_with_tags, with,
};
use serde_json::{json, Value};

const DS: Ds = Ds::DexApplicationTests;
const TAGS: &[&str] = &["preserve_original_event"];

fn http() -> Value {
    json!({
        "AccountID": "acc1", "ClientPlatform": "mac", "ClientVersion": "2024.6.415.0",
        "ColoCode": "SJC", "DeviceID": "dev-1", "DeviceRegistrationID": "reg-1",
        "ExecutionContext": "inTunnel", "HTTPClientIPASN": 64500, "HTTPClientIPASO": "ISP",
        "HTTPClientIPAddress": "203.0.113.10", "HTTPClientIPCity": "San Jose",
        "HTTPClientIPCountryISO": "US", "HTTPClientIPNetmask": "255.255.255.0",
        "HTTPClientIPStateISO": "US-CA", "HTTPClientIPVersion": "IPv4", "HTTPClientIPZip": "95113",
        "HTTPConnectEndMs": 120, "HTTPConnectStartMs": 90, "HTTPMethod": "GET",
        "HTTPResponseBody": "", "HTTPResponseBodyBytes": 5120, "HTTPResponseHeaderBytes": 320,
        "HTTPResponseHeaders": [{"name": "content-type", "value": "application/json"}],
        "HTTPServerIPASN": 64501, "HTTPServerIPAddress": "2001:db8::25",
        "HTTPServerIPVersion": "IPv6", "HTTPStatusCode": 200,
        "HTTPURL": "https://dash.example.com:8443/api/v4/health?full=1",
        "TestID": "t-1", "TestType": "http", "Timestamp": "2023-10-11T00:00:00Z",
        "TunnelType": "wireguard", "UserEmail": "user@example.com", "UserID": "u-1"
    })
}

fn traceroute() -> Value {
    json!({
        "AccountID": "acc1", "ClientPlatform": "windows", "DeviceID": "dev-2", "TestID": "t-2",
        "TestType": "traceroute", "Timestamp": 1697000400,
        "TracerouteDestinationHostname": "api.example.com",
        "TracerouteDestinationIPAddress": "198.51.100.40", "TracerouteDestinationIPASN": "64501",
        "TracerouteDestinationIPVersion": "IPv4", "TracerouteDurationMs": 350,
        "TracerouteHops": [{"ttl": 1, "rtts": [11, 13], "errors": ["N/A"], "ip": {"address": "192.0.2.1"}}],
        "TracerouteMaxTTL": 30, "TracerouteProtocol": "icmp", "TracerouteSize": 64,
        "TracerouteSourceIPAddress": "2001:db8::55", "TracerouteSourceIPASN": 64500,
        "TracerouteStatus": "destinationReached", "TracerouteTimeEnd": "2023-10-11T01:30:05Z",
        "TracerouteVersion": 1, "UserEmail": "admin@example.com", "UserID": 42
    })
}

fn run(rec: &Value) -> Value {
    run_doc(&transformer_with_tags(None, TAGS), DS, &rec.to_string()).0
}

fn err(tag: &str, ty: &str, msg: &str) -> String {
    format!("Processor {ty} with tag {tag} in pipeline  failed with message: {msg}")
}

#[test]
fn every_host_os_type_entry() {
    for (platform, want) in [
        ("mac", json!("macos")),
        ("macOS 14.5", json!("macos")),
        ("windows", json!("windows")),
        ("Windows 11", json!("windows")),
        ("linux", json!("linux")),
        ("Ubuntu Linux", json!("linux")),
        ("unix", json!("unix")),
        ("iOS", json!("ios")),
        ("ipados", json!(null)),
        ("android", json!("android")),
        ("ChromeOS", json!(null)),
        // Every type contains the empty name: the first one wins (upstream).
        ("", json!("linux")),
        ("os", json!("macos")),
    ] {
        let d = run(&with(&http(), json!({ "ClientPlatform": platform })));
        assert_eq!(d["host"]["os"]["type"], want, "{platform}: {d}");
        assert!(d.get("error").is_none(), "{platform}: {d}");
        if !platform.is_empty() {
            assert_eq!(d["host"]["os"]["name"], platform);
        } else {
            assert!(d["host"]["os"].get("name").is_none());
        }
    }
    let d = run(&with(&http(), json!({ "ClientPlatform": null })));
    assert!(d["host"].get("os").is_none(), "{d}");
    // A non-string platform has no toLowerCase: the script's handler appends the error.
    let d = run(&with(&http(), json!({ "ClientPlatform": 7 })));
    assert_pipeline_error(
        &d,
        &[&err(
            "script_map_host_os_type",
            "script",
            "dynamic method [java.lang.Integer, toLowerCase/0] not found",
        )],
    );
    assert_eq!(d["host"]["os"]["name"], 7);
    assert_eq!(
        d["url"]["domain"], "dash.example.com",
        "the pipeline goes on"
    );
}

#[test]
fn an_http_test() {
    let d = run(&http());
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["event"]["category"], json!(["network"]));
    assert_eq!(d["event"]["type"], json!(["info"]));
    assert_eq!(d["event"]["kind"], "event");
    assert_eq!(d["ecs"]["version"], "9.3.0");
    assert_eq!(d["@timestamp"], "2023-10-11T00:00:00.000Z");
    assert_eq!(
        d["url"],
        json!({"domain": "dash.example.com", "original": "https://dash.example.com:8443/api/v4/health?full=1",
               "path": "/api/v4/health", "port": 8443, "query": "full=1", "scheme": "https"})
    );
    assert_eq!(
        d["source"],
        json!({"as": {"number": 64500, "organization": {"name": "ISP"}},
               "geo": {"city_name": "San Jose", "country_iso_code": "US", "postal_code": "95113",
                       "region_iso_code": "US-CA"},
               "ip": "203.0.113.10"})
    );
    assert_eq!(
        d["destination"],
        json!({"as": {"number": 64501}, "ip": "2001:db8::25"})
    );
    assert_eq!(
        d["http"],
        json!({"request": {"method": "GET"}, "response": {"body": {"bytes": 5120}, "status_code": 200}})
    );
    assert_eq!(d["device"]["id"], "dev-1");
    assert_eq!(d["host"]["id"], "dev-1");
    assert_eq!(d["user_agent"]["version"], "2024.6.415.0");
    assert_eq!(
        d["related"],
        json!({"hosts": ["dev-1", "dash.example.com"], "ip": ["203.0.113.10", "2001:db8::25"],
               "user": ["user@example.com", "u-1"]})
    );
    let c = &d["cloudflare_logpush"]["dex_application_tests"];
    assert_eq!(
        c["http"]["timings"],
        json!({"connect_end_ms": 120, "connect_start_ms": 90})
    );
    assert_eq!(c["http"]["server_ip"], json!({"version": "IPv6"}));
    assert_eq!(c["http"]["response"]["header_bytes"], 320);
    assert_eq!(c["version"], "2024.6.415.0");
    assert_eq!(c["test"], json!({"id": "t-1", "type": "http"}));
    // The empty body is dropped; url.full is replaced by uri_parts.
    assert!(d["http"]["response"]
        .get("body")
        .unwrap()
        .get("content")
        .is_none());
    assert!(d["url"].get("full").is_none());
}

#[test]
fn a_traceroute_test_with_strings_and_numbers_converted() {
    let d = run(&traceroute());
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["@timestamp"], "2023-10-11T05:00:00.000Z");
    assert_eq!(d["destination"]["domain"], "api.example.com");
    assert_eq!(d["destination"]["as"]["number"], 64501, "string ASN → long");
    assert_eq!(d["source"]["ip"], "2001:db8::55");
    assert_eq!(d["network"]["transport"], "icmp");
    assert_eq!(d["user"]["id"], "42", "the user id is a string");
    let t = &d["cloudflare_logpush"]["dex_application_tests"]["traceroute"];
    assert_eq!(t["version"], "1");
    assert_eq!(t["time_end"], "2023-10-11T01:30:05.000Z");
    // Hops are kept as sent; "N/A" stays in a list (only maps drop it).
    assert_eq!(
        t["hops"],
        json!([{"errors": ["N/A"], "ip": {"address": "192.0.2.1"}, "rtts": [11, 13], "ttl": 1}])
    );
    assert_eq!(d["related"]["hosts"], json!(["dev-2", "api.example.com"]));
    assert!(d.get("url").is_none() && d.get("http").is_none());
}

#[test]
fn every_timestamp_form() {
    for (v, want) in [
        (json!(1697000400), "2023-10-11T05:00:00.000Z"),
        (json!(1697000400250u64), "2023-10-11T05:00:00.250Z"),
        (json!(1697000400250000000u64), "2023-10-11T05:00:00.250Z"),
        (json!("1697000400"), "2023-10-11T05:00:00.000Z"),
        (json!("1697000400250"), "2023-10-11T05:00:00.250Z"),
        (json!("1697000400250000000"), "2023-10-11T05:00:00.250Z"),
        (json!(1697000400.9), "2023-10-11T05:00:00.000Z"),
        (json!("2023-10-11T05:00:00Z"), "2023-10-11T05:00:00.000Z"),
        (
            json!("2023-10-11T05:00:00.250Z"),
            "2023-10-11T05:00:00.250Z",
        ),
        (
            json!("2023-10-11T05:00:00.250250250Z"),
            "2023-10-11T05:00:00.250Z",
        ),
        (
            json!("2023-10-11T07:00:00+02:00"),
            "2023-10-11T05:00:00.000Z",
        ),
        (
            json!("2023-10-11T05:00:00+0000"),
            "2023-10-11T05:00:00.000Z",
        ),
    ] {
        let d = run(&with(
            &traceroute(),
            json!({ "Timestamp": v, "TracerouteTimeEnd": v }),
        ));
        assert_eq!(d["@timestamp"], want, "{v}: {d}");
        let t = &d["cloudflare_logpush"]["dex_application_tests"]["traceroute"];
        // Only Timestamp is converted to long first: a numeric string TracerouteTimeEnd reaches
        // the date processor as text, read as UNIX_MS (upstream).
        let end = match v.as_str() {
            Some("1697000400") => json!("1970-01-20T15:23:20.400Z"),
            Some("1697000400250000000") => t["time_end"].clone(),
            Some(_) | None => json!(want),
        };
        assert_eq!(t["time_end"], end, "{v}");
        assert!(d.get("error").is_none(), "{v}: {d}");
    }
    // Missing or empty: no @timestamp, no error.
    for v in [json!(null), json!("")] {
        let d = run(&with(&traceroute(), json!({ "Timestamp": v })));
        assert!(
            d.get("@timestamp").is_none() && d.get("error").is_none(),
            "{d}"
        );
    }
    // Unparsable: each date processor appends its error and the pipeline goes on.
    let d = run(&with(
        &traceroute(),
        json!({"Timestamp": "yesterday", "TracerouteTimeEnd": true}),
    ));
    assert_pipeline_error(
        &d,
        &[
            &err(
                "date_json_Timestamp",
                "date",
                "For input string: \"yesterday\"",
            ),
            &err(
                "date_traceroute_time_end",
                "date",
                "For input string: \"true\"",
            ),
        ],
    );
    assert!(d.get("@timestamp").is_none());
    assert_eq!(d["destination"]["domain"], "api.example.com");
}

#[test]
fn convert_failures_are_appended_and_the_record_is_kept() {
    let d = run(&with(
        &http(),
        json!({"HTTPClientIPAddress": "not-an-ip", "HTTPClientIPASN": "", "HTTPStatusCode": "OK",
               "HTTPConnectStartMs": 1.5}),
    ));
    assert_pipeline_error(
        &d,
        &[
            &err(
                "convert_json_HTTPClientIPAddress_to_source_ip",
                "convert",
                "'not-an-ip' is not an IP string literal.",
            ),
            &err(
                "convert_json_HTTPClientIPASN_to_source_as_number",
                "convert",
                "For input string: \"\"",
            ),
            &err(
                "convert_json_HTTPStatusCode_to_http_response_status_code",
                "convert",
                "For input string: \"OK\"",
            ),
            &err(
                "convert_json_HTTPConnectStartMs",
                "convert",
                "For input string: \"1.5\"",
            ),
        ],
    );
    assert!(d["source"].get("ip").is_none());
    assert_eq!(d["related"]["ip"], json!(["2001:db8::25"]));
    // An empty address is skipped by the convert's `if`, with no error.
    let d = run(&with(&http(), json!({"HTTPClientIPAddress": ""})));
    assert!(d.get("error").is_none(), "{d}");
}

#[test]
fn a_record_with_both_halves_fails_on_the_renames_as_upstream() {
    let mut rec = http();
    rec["TracerouteDestinationIPASO"] = json!("Edge");
    rec["HTTPServerIPASO"] = json!("Hosting");
    let (d, doc) = run_doc(&transformer_with_tags(None, TAGS), DS, &rec.to_string());
    let want = err(
        "rename_json_TracerouteDestinationIPASO_to_destination_as_organization_name",
        "rename",
        "field [destination.as.organization.name] already exists",
    );
    assert_pipeline_error(&d, &[&want]);
    assert_eq!(doc.error.as_deref(), Some(want.as_str()));
    assert!(d["event"]["original"].is_string());
    // The pipeline stopped: nothing after the rename ran.
    assert!(d.get("related").is_none());
}

#[test]
fn missing_optional_fields_na_and_empty_values() {
    let d = run(&json!({"Timestamp": "2023-10-11T00:00:00Z"}));
    assert!(d.get("error").is_none(), "{d}");
    let keys: Vec<&String> = d.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["@timestamp", "ecs", "event", "tags"], "{d}");
    let d = run(&with(
        &http(),
        json!({"ColoCode": "N/A", "HTTPResponseHeaders": [], "HTTPMethod": "", "TestType": "N/A",
               "HTTPErrorMessage": null}),
    ));
    let c = &d["cloudflare_logpush"]["dex_application_tests"];
    assert!(
        c.get("colo").is_none() && c["test"].get("type").is_none(),
        "{c}"
    );
    assert!(c["http"]["response"].get("headers").is_none());
    assert!(d["http"]["request"].get("method").is_none());
    assert!(d.get("error").is_none());
}

#[test]
fn tags_input_shapes_and_non_records() {
    let t = transformer_with_tags(None, TAGS);
    assert_both_shapes_agree(&t, DS, &http());
    assert_both_shapes_agree(&t, DS, &traceroute());
    // Without the tag: no event.original, no tags (2.1.0 configs have no duplicate tag).
    let plain = transformer_with_tags(None, &[]);
    let line = http().to_string();
    let d: Value =
        serde_json::from_str(&logpush::transform(&plain, DS, Input::Json(&line), 0).source)
            .unwrap();
    assert!(
        d["event"].get("original").is_none() && d.get("tags").is_none(),
        "{d}"
    );
    assert_eq!(
        d["cloudflare_logpush"]["dex_application_tests"]["version"],
        "2024.6.415.0"
    );
    // A line that is not a JSON object fails the json processor, named by its tag; the processor
    // has an `if:`, so Elasticsearch reports it as its ConditionalProcessor wrapper (found by the
    // differential oracle, tests/oracle_elastic_pipelines.rs).
    for line in ["[1,2]", "not json"] {
        let (d, _) = run_doc(&t, DS, line);
        assert_eq!(d["event"]["kind"], "pipeline_error");
        let e = errors(&d);
        assert!(
            e[0].starts_with("Processor conditional with tag json_event_original_to_json in pipeline  failed with message: "),
            "{e:?}"
        );
        assert_eq!(d["event"]["original"], line);
    }
}

#[test]
fn hostile_records_give_one_document_each() {
    let t = transformer_with_tags(None, TAGS);
    let mut lines = hostile_lines(&http());
    lines.extend(hostile_lines(&traceroute()));
    assert_hostile_lines_give_documents(&t, DS, &lines);
}
