//! `cloudflare_logpush.spectrum_event` beyond Elastic's test documents: actions, every form of
//! the connect/disconnect times (zeros skipped, the ISO zero kept), the TLS version dissect, IPv6
//! and Community IDs, the era's error format, both input shapes, hostile records.

mod common;

use cfship_ecs::logpush::Ds;
use common::logpush::{errors, run, run_json, run_line, transformer, with};
use serde_json::{json, Value};

const DS: Ds = Ds::SpectrumEvent;

fn base() -> Value {
    json!({
        "Application": "app1", "ClientAsn": 200391, "ClientBytes": 10, "ClientCountry": "bg",
        "ClientIP": "67.43.156.0", "ClientPort": 40456, "ClientProto": "TCP", "ClientTcpRtt": 5,
        "ClientTlsCipher": "AES", "ClientTlsProtocol": "TLSv1.3", "ColoCode": "SOF",
        "ConnectTimestamp": "2022-05-26T09:24:00Z", "DisconnectTimestamp": "2022-05-26T09:25:00Z",
        "Event": "disconnect", "IpFirewall": true, "OriginBytes": 20, "OriginIP": "175.16.199.0",
        "OriginPort": 3389, "OriginProto": "tcp", "Status": 200, "Timestamp": "2022-05-26T09:25:00Z"
    })
}

fn se(d: &Value) -> &Value {
    &d["cloudflare_logpush"]["spectrum_event"]
}

fn run1(rec: &Value) -> Value {
    run(&transformer(None, true), DS, rec)
}

#[test]
fn a_full_record() {
    let d = run1(&base());
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["event"]["action"], "disconnect");
    assert_eq!(d["event"]["id"], "app1");
    assert_eq!(d["event"]["start"], "2022-05-26T09:24:00.000Z");
    assert_eq!(d["event"]["end"], "2022-05-26T09:25:00.000Z");
    assert_eq!(d["event"]["category"], json!(["network"]));
    assert_eq!(d["event"]["type"], json!(["info"]));
    assert_eq!(
        d["source"],
        json!({"as": {"number": 200391}, "bytes": 10, "geo": {"country_iso_code": "bg"}, "ip": "67.43.156.0", "port": 40456})
    );
    assert_eq!(
        d["destination"],
        json!({"bytes": 20, "ip": "175.16.199.0", "port": 3389})
    );
    assert_eq!(d["http"]["response"]["status_code"], 200);
    assert_eq!(d["network"]["transport"], "tcp");
    assert_eq!(se(&d)["client"]["protocol"], "TCP");
    // The golden documents' flow.
    assert_eq!(
        d["network"]["community_id"],
        "1:X7lywUVKlduqRq5SyCRaBj4hLP0="
    );
    assert_eq!(
        d["tls"],
        json!({"version": "1.3", "version_protocol": "tls"})
    );
    assert_eq!(d["related"]["ip"], json!(["67.43.156.0", "175.16.199.0"]));
    assert_eq!(se(&d)["ip_firewall"], true);
}

#[test]
fn actions_are_lower_cased_in_ecs_only() {
    for (e, want) in [
        ("connect", "connect"),
        ("Disconnect", "disconnect"),
        ("PROGRESS", "progress"),
    ] {
        let d = run1(&with(&base(), json!({ "Event": e })));
        assert_eq!(d["event"]["action"], want);
        assert_eq!(se(&d)["action"], e);
    }
    let d = run1(&with(&base(), json!({ "Event": null })));
    assert!(d["event"].get("action").is_none());
}

#[test]
fn connect_and_disconnect_times() {
    for (v, want) in [
        (json!(0), None),
        (json!("0"), None),
        (json!(""), None),
        (json!(0.0), None),
        (
            json!("1970-01-01T00:00:00Z"),
            Some("1970-01-01T00:00:00.000Z"),
        ),
        (json!(1653557040), Some("2022-05-26T09:24:00.000Z")),
        (json!("1653557040"), Some("2022-05-26T09:24:00.000Z")),
        (json!(1653557040250u64), Some("2022-05-26T09:24:00.250Z")),
        (
            json!("1653557040250000000"),
            Some("2022-05-26T09:24:00.250Z"),
        ),
        (
            json!("2022-05-26T11:24:00+02:00"),
            Some("2022-05-26T09:24:00.000Z"),
        ),
        (
            json!("2022-05-26T09:24:00.250Z"),
            Some("2022-05-26T09:24:00.250Z"),
        ),
    ] {
        let d = run1(&with(
            &base(),
            json!({"ConnectTimestamp": v, "DisconnectTimestamp": v}),
        ));
        assert_eq!(d["event"]["start"].as_str(), want, "{v}");
        assert_eq!(d["event"]["end"].as_str(), want, "{v}");
        assert_eq!(se(&d)["connect"]["time"].as_str(), want, "{v}");
        assert!(d.get("error").is_none(), "{v}: {d}");
    }
    // An unreadable time: the date processor appends the bare message; the record goes on.
    let d = run1(&with(&base(), json!({"ConnectTimestamp": "soon"})));
    assert_eq!(errors(&d).len(), 1, "{d}");
    assert!(!errors(&d)[0].starts_with("Processor"), "{d}");
    assert_eq!(d["event"]["kind"], "event");
    assert!(d["event"].get("start").is_none());
    assert_eq!(d["event"]["end"], "2022-05-26T09:25:00.000Z");
}

#[test]
fn event_timestamps() {
    for (v, want) in [
        (json!(1653557040), "2022-05-26T09:24:00.000Z"),
        (json!("1653557040000"), "2022-05-26T09:24:00.000Z"),
        (json!(1653557040000000000u64), "2022-05-26T09:24:00.000Z"),
        (
            json!("2022-05-26T09:24:00.123456Z"),
            "2022-05-26T09:24:00.123Z",
        ),
    ] {
        let d = run1(&with(&base(), json!({ "Timestamp": v })));
        assert_eq!(d["@timestamp"], want, "{v}");
        assert_eq!(se(&d)["timestamp"], want, "{v}");
    }
    let d = run1(&with(&base(), json!({"Timestamp": "never"})));
    assert_eq!(errors(&d), vec!["For input string: \"never\"".to_string()]);
    assert!(d.get("@timestamp").is_none());
}

#[test]
fn tls_versions() {
    for (p, want) in [
        (
            "TLSv1.2",
            json!({"version": "1.2", "version_protocol": "tls"}),
        ),
        ("SSLv3", json!({"version": "3", "version_protocol": "ssl"})),
        ("none", Value::Null),
        ("unknown", Value::Null),
    ] {
        let d = run1(&with(&base(), json!({ "ClientTlsProtocol": p })));
        assert_eq!(d["tls"], want, "{p}");
        assert_eq!(se(&d)["client"]["tls"]["protocol"], p);
    }
    // No `v`: the dissect has no handler, so the pipeline fails.
    let d = run1(&with(&base(), json!({"ClientTlsProtocol": "QUIC"})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        errors(&d),
        vec!["Processor \"dissect\" in pipeline \"\" failed with message \"Unable to find match for dissect pattern: %{tls.version_protocol}v%{tls.version} against source: QUIC\"".to_string()]
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
fn ipv6_and_udp_flows() {
    let v6 = with(
        &base(),
        json!({"ClientIP": "2a02:cf40::23", "OriginIP": "2001:db8::7", "ClientProto": "udp"}),
    );
    let d = run1(&v6);
    assert_eq!(d["source"]["ip"], "2a02:cf40::23");
    assert_eq!(d["related"]["ip"], json!(["2a02:cf40::23", "2001:db8::7"]));
    let id = d["network"]["community_id"].as_str().unwrap().to_string();
    let back = with(
        &v6,
        json!({"ClientIP": "2001:db8::7", "OriginIP": "2a02:cf40::23", "ClientPort": 3389, "OriginPort": 40456}),
    );
    assert_eq!(run1(&back)["network"]["community_id"], id.as_str());
    // A bad origin address: the convert's bare message; no destination, no Community ID.
    let d = run1(&with(&base(), json!({"OriginIP": "origin.example"})));
    assert_eq!(
        errors(&d),
        vec!["'origin.example' is not an IP string literal.".to_string()]
    );
    assert!(d.get("destination").is_some_and(|x| x.get("ip").is_none()));
    assert!(d["network"].get("community_id").is_none());
}

#[test]
fn missing_optional_fields_and_duplicates() {
    let d = run1(&json!({"Timestamp": 1653557040}));
    assert_eq!(
        d,
        json!({
            "@timestamp": "2022-05-26T09:24:00.000Z",
            "cloudflare_logpush": {"spectrum_event": {"timestamp": "2022-05-26T09:24:00.000Z"}},
            "ecs": {"version": "8.11.0"},
            "event": {"category": ["network"], "kind": "event", "original": "{\"Timestamp\":1653557040}", "type": ["info"]},
            "tags": ["preserve_original_event", "preserve_duplicate_custom_fields"]
        })
    );
    let d = run(&transformer(None, false), DS, &base());
    let c = se(&d);
    for p in [
        "/timestamp",
        "/origin/bytes",
        "/origin/ip",
        "/origin/port",
        "/application",
        "/action",
        "/status",
        "/client/asn",
        "/client/bytes",
        "/client/country",
        "/client/ip",
        "/client/port",
    ] {
        assert!(c.pointer(p).is_none(), "{p}: {c}");
    }
    assert_eq!(c["origin"]["protocol"], "tcp");
    assert_eq!(d["source"]["ip"], "67.43.156.0");
    assert_eq!(d["related"]["ip"], json!(["67.43.156.0", "175.16.199.0"]));
}

#[test]
fn both_input_shapes_and_hostile_records() {
    let t = transformer(None, true);
    let mut a = run(&t, DS, &base());
    let mut b = run_json(&t, DS, &base());
    a["event"].as_object_mut().unwrap().remove("original");
    b["event"].as_object_mut().unwrap().remove("original");
    assert_eq!(a, b);

    // Not JSON: this pipeline's json processor has no ignore_failure.
    let d = run_line(&t, DS, "{broken");
    assert_eq!(d["event"]["kind"], "pipeline_error");
    let e = errors(&d);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("Processor \"json\" in pipeline \"\" failed with message \""),
        "{e:?}"
    );
    assert_eq!(d["event"]["original"], "{broken");
    for line in [
        "[]",
        "null",
        "{}",
        r#"{"ConnectTimestamp":{"a":1},"DisconnectTimestamp":[0],"ClientTlsProtocol":7,"Event":["x"],"ClientIP":12,"ClientProto":{"p":1},"Timestamp":true}"#,
        r#"{"ConnectTimestamp":1e400,"Status":"x","ClientPort":"-1","OriginPort":99999999999}"#,
    ] {
        let d = run_line(&t, DS, line);
        assert_eq!(d["ecs"]["version"], "8.11.0", "{line}");
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
