//! `cloudflare_logpush.dex_device_state_events` (package 2.1.0) beyond Elastic's test documents:
//! the address lists (`source.ip`, `host.ip`, `related.ip`), the in-place IP converts that drop a
//! bad address, booleans and floats, every timestamp form of its script, the tagged 2.x error
//! messages, missing and empty fields, both input shapes, hostile records.

mod common;

use cfship_ecs::logpush::Ds;
use common::logpush::{
    assert_both_shapes_agree, assert_hostile_lines_give_documents, assert_pipeline_error, errors,
    hostile_lines, run_doc, transformer_with_tags, with,
};
use serde_json::{json, Value};

const DS: Ds = Ds::DexDeviceStateEvents;
const TAGS: &[&str] = &["preserve_original_event"];

fn base() -> Value {
    json!({
        "AccountID": "acc1", "AlwaysOn": true, "AppFirewallEnabled": "false",
        "BatteryCharging": "TRUE", "BatteryCycles": 120, "BatteryPercentage": 0.875,
        "CPUPercentage": 0.1, "CPUPercentageByApp": [{"name": "warp", "percentage": 0.03}],
        "ClientPlatform": "mac", "ClientVersion": "2024.6.415.0", "ConnectionType": "wifi",
        "DeviceID": "dev-1", "DeviceIPv4Address": "203.0.113.10", "DeviceIPv6Address": "2001:db8::10",
        "DeviceRegistrationID": "reg-1", "DiskUsagePercentage": "0.5",
        "GatewayIPv4Address": "192.0.2.1", "GatewayIPv6Address": "2001:db8::1",
        "HandshakeLatencyMs": -1, "ISPIPv4ASN": 64500, "ISPIPv4ASO": "ISP",
        "ISPIPv4Address": "198.51.100.20", "ISPIPv4CountryISO": "US",
        "ISPIPv6ASN": "64501", "ISPIPv6Address": "2001:db8:abcd::20", "Mode": "warp",
        "Status": "connected", "SwitchLocked": false, "Timestamp": "2023-10-11T00:00:00Z",
        "TunnelStatsDownstream": {"Bytes": 10, "Packets": 2}, "WiFiStrengthDBM": "-55"
    })
}

fn run(rec: &Value) -> Value {
    run_doc(&transformer_with_tags(None, TAGS), DS, &rec.to_string()).0
}

fn err(tag: &str, ty: &str, msg: &str) -> String {
    format!("Processor {ty} with tag {tag} in pipeline  failed with message: {msg}")
}

fn cf(d: &Value) -> &Value {
    &d["cloudflare_logpush"]["dex_device_state_events"]
}

#[test]
fn a_full_record_with_both_address_families() {
    let d = run(&base());
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["event"]["category"], json!(["host"]));
    assert_eq!(d["event"]["type"], json!(["info"]));
    assert_eq!(d["@timestamp"], "2023-10-11T00:00:00.000Z");
    assert_eq!(
        d["source"]["ip"],
        json!(["198.51.100.20", "2001:db8:abcd::20"])
    );
    assert_eq!(
        d["source"]["as"],
        json!({"number": 64500, "organization": {"name": "ISP"}})
    );
    assert_eq!(d["source"]["geo"], json!({"country_iso_code": "US"}));
    assert_eq!(d["host"]["ip"], json!(["203.0.113.10", "2001:db8::10"]));
    assert_eq!(d["host"]["os"], json!({"name": "mac", "type": "macos"}));
    assert_eq!(d["host"]["cpu"]["usage"], 0.1);
    assert_eq!(d["host"]["id"], "dev-1");
    assert_eq!(d["related"]["hosts"], json!(["dev-1"]));
    assert_eq!(
        d["related"]["ip"],
        json!([
            "198.51.100.20",
            "2001:db8:abcd::20",
            "203.0.113.10",
            "2001:db8::10",
            "192.0.2.1",
            "2001:db8::1"
        ])
    );
    let c = cf(&d);
    assert_eq!(c["always_on"], true);
    assert_eq!(c["app_firewall_enabled"], false, "\"false\" → boolean");
    assert_eq!(
        c["battery"],
        json!({"charging": true, "cycles": 120, "percentage": 0.875})
    );
    assert_eq!(c["disk"]["usage_percentage"], 0.5, "\"0.5\" → float");
    assert_eq!(c["switch_locked"], false);
    assert_eq!(c["handshake_latency_ms"], -1);
    assert_eq!(c["wifi_strength_dbm"], -55, "\"-55\" → long");
    assert_eq!(c["isp"]["ipv6"]["asn"], 64501);
    assert_eq!(c["gateway"]["ipv6"]["address"], "2001:db8::1");
    assert_eq!(
        c["tunnel_stats"]["downstream"],
        json!({"Bytes": 10, "Packets": 2})
    );
    assert_eq!(
        c["cpu"]["percentage_by_app"],
        json!([{"name": "warp", "percentage": 0.03}])
    );
    assert_eq!(c["network"], json!({"connection_type": "wifi"}));
}

#[test]
fn one_address_family_gives_one_element_lists() {
    let d = run(&with(
        &base(),
        json!({"ISPIPv4Address": null, "DeviceIPv6Address": null, "GatewayIPv4Address": null}),
    ));
    assert_eq!(d["source"]["ip"], json!(["2001:db8:abcd::20"]));
    assert_eq!(d["host"]["ip"], json!(["203.0.113.10"]));
    assert_eq!(
        d["related"]["ip"],
        json!(["2001:db8:abcd::20", "203.0.113.10", "2001:db8::1"])
    );
    // The same address twice is listed once in related.ip.
    let d = run(&with(
        &base(),
        json!({"DeviceIPv4Address": "198.51.100.20"}),
    ));
    assert_eq!(
        d["related"]["ip"],
        json!([
            "198.51.100.20",
            "2001:db8:abcd::20",
            "2001:db8::10",
            "192.0.2.1",
            "2001:db8::1"
        ])
    );
    // No address at all: no lists.
    let d = run(&with(
        &base(),
        json!({"ISPIPv4Address": null, "ISPIPv6Address": "", "DeviceIPv4Address": null,
               "DeviceIPv6Address": "", "GatewayIPv4Address": "", "GatewayIPv6Address": null}),
    ));
    assert!(
        d["source"].get("ip").is_none() && d["host"].get("ip").is_none(),
        "{d}"
    );
    assert!(d["related"].get("ip").is_none(), "{d}");
    assert!(d.get("error").is_none(), "{d}");
}

#[test]
fn a_bad_address_is_dropped_with_its_error() {
    let d = run(&with(
        &base(),
        json!({"ISPIPv4Address": "999.1.1.1", "DeviceIPv6Address": 12, "GatewayIPv4Address": "gw"}),
    ));
    assert_pipeline_error(
        &d,
        &[
            // Elasticsearch 8 casts the value to a String first (found by the differential oracle).
            &err(
                "convert_json_DeviceIPv6Address_to_ip",
                "convert",
                "class java.lang.Integer cannot be cast to class java.lang.String (java.lang.Integer and java.lang.String are in module java.base of loader 'bootstrap')",
            ),
            &err(
                "convert_json_GatewayIPv4Address_to_ip",
                "convert",
                "'gw' is not an IP string literal.",
            ),
            &err(
                "convert_json_ISPIPv4Address_to_ip",
                "convert",
                "'999.1.1.1' is not an IP string literal.",
            ),
        ],
    );
    assert_eq!(d["source"]["ip"], json!(["2001:db8:abcd::20"]));
    assert_eq!(d["host"]["ip"], json!(["203.0.113.10"]));
    assert!(cf(&d)["gateway"].get("ipv4").is_none());
    assert_eq!(
        d["related"]["ip"],
        json!(["2001:db8:abcd::20", "203.0.113.10", "2001:db8::1"])
    );
}

/// Conversions the differential oracle (tests/oracle_elastic_pipelines.rs) found wrong: Java's
/// `toString()` of a map, `Float.parseFloat`'s grammar, messages and infinity, and a list of
/// addresses, which `convert type: ip` passes element by element.
#[test]
fn conversions_as_java_does_them() {
    let d = run(&with(
        &base(),
        json!({
            "ClientVersion": {"nested": "2024.6.415.0"},
            "DiskUsagePercentage": 1e300,
            "RAMUsedPercentage": "0.25f",
            "BatteryPercentage": " ",
            "CPUPercentage": "inf",
            "ISPIPv4Address": ["10.1.2.3", "89.160.20.129"],
        }),
    ));
    assert_eq!(d["user_agent"]["version"], "{nested=2024.6.415.0}");
    assert_eq!(cf(&d)["version"], "{nested=2024.6.415.0}");
    assert_eq!(cf(&d)["disk"]["usage_percentage"], "Infinity");
    assert_eq!(cf(&d)["ram"]["used_percentage"], 0.25);
    assert_eq!(
        d["source"]["ip"],
        json!(["{0=10.1.2.3, 1=89.160.20.129}", "2001:db8:abcd::20"])
    );
    assert_pipeline_error(
        &d,
        &[
            &err("convert_json_BatteryPercentage", "convert", "empty String"),
            &err(
                "convert_json_CPUPercentage",
                "convert",
                "For input string: \"inf\"",
            ),
        ],
    );
}

#[test]
fn booleans_floats_and_longs() {
    let d = run(&with(
        &base(),
        json!({"AlwaysOn": "yes", "BatteryPercentage": "full", "BatteryCycles": 1.5,
               "SwitchLocked": "", "CPUPercentage": "", "RAMUsedPercentage": 0.663}),
    ));
    assert_pipeline_error(
        &d,
        &[
            &err(
                "convert_json_AlwaysOn",
                "convert",
                "[yes] is not a boolean value, cannot convert to boolean",
            ),
            &err(
                "convert_json_BatteryCycles",
                "convert",
                "For input string: \"1.5\"",
            ),
            // The root cause, Float.parseFloat's NumberFormatException (found by the oracle).
            &err(
                "convert_json_BatteryPercentage",
                "convert",
                "For input string: \"full\"",
            ),
        ],
    );
    let c = cf(&d);
    assert!(
        c.get("always_on").is_none() && c.get("switch_locked").is_none(),
        "{c}"
    );
    assert!(c["battery"].get("percentage").is_none() && c["battery"].get("cycles").is_none());
    assert_eq!(c["ram"]["used_percentage"], 0.663);
    // An empty CPUPercentage is skipped: no cpu.percentage, no host.cpu.usage.
    assert!(d["host"].get("cpu").is_none(), "{d}");
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
        // A double in seconds is cast (truncated) and scaled.
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
        let d = run(&with(&base(), json!({ "Timestamp": v })));
        assert_eq!(d["@timestamp"], want, "{v}: {d}");
        assert!(d.get("error").is_none(), "{v}: {d}");
    }
    // A double in milliseconds is left as a double, which no date format reads (upstream).
    let d = run(&with(&base(), json!({"Timestamp": 1697000400250.5})));
    assert_eq!(errors(&d).len(), 1, "{d}");
    assert!(errors(&d)[0].starts_with(
        "Processor date with tag date_json_Timestamp in pipeline  failed with message: "
    ));
    // An integer beyond long: the script's cast fails, then the date.
    let d = run(&with(
        &base(),
        json!({"Timestamp": 18446744073709551615u64}),
    ));
    let e = errors(&d);
    assert_eq!(
        e[0],
        err(
            "script_timestamp_to_milli",
            "script",
            "cannot explicitly cast def [java.math.BigInteger] to long"
        )
    );
    assert!(
        e[1].starts_with("Processor date with tag date_json_Timestamp"),
        "{e:?}"
    );
    for v in [json!(null), json!("")] {
        let d = run(&with(&base(), json!({ "Timestamp": v })));
        assert!(
            d.get("@timestamp").is_none() && d.get("error").is_none(),
            "{d}"
        );
    }
}

#[test]
fn missing_optional_fields_na_and_empty_values() {
    let d = run(&json!({"Timestamp": 1697000400}));
    assert!(d.get("error").is_none(), "{d}");
    let keys: Vec<&String> = d.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["@timestamp", "ecs", "event", "tags"], "{d}");
    let d = run(&with(
        &base(),
        json!({"Mode": "N/A", "Status": "", "CPUPercentageByApp": [], "ConnectionType": null,
               "TunnelStatsDownstream": {"Bytes": "N/A", "Packets": ""}}),
    ));
    let c = cf(&d);
    for k in ["mode", "status", "cpu", "network", "tunnel_stats"] {
        if k == "cpu" {
            assert!(c["cpu"].get("percentage_by_app").is_none(), "{c}");
        } else {
            assert!(c.get(k).is_none(), "{k}: {c}");
        }
    }
    assert!(d.get("error").is_none());
}

#[test]
fn both_shapes_and_hostile_records() {
    let t = transformer_with_tags(None, TAGS);
    assert_both_shapes_agree(&t, DS, &base());
    let plain = transformer_with_tags(None, &[]);
    let (d, _) = run_doc(&plain, DS, &base().to_string());
    assert!(
        d["event"].get("original").is_none() && d.get("tags").is_none(),
        "{d}"
    );
    assert_hostile_lines_give_documents(&t, DS, &hostile_lines(&base()));
}
