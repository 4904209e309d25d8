//! `cloudflare_logpush.network_analytics` beyond Elastic's test documents: the outcome entries,
//! both Cloudflare spellings of the renamed fields, the SACK block forms, timestamps, IPv6 and
//! Community IDs, the era's error formats, both input shapes, hostile records.

mod common;

use cfship_ecs::logpush::Ds;
use common::logpush::{errors, run, run_json, run_line, transformer, with};
use serde_json::{json, Value};

const DS: Ds = Ds::NetworkAnalytics;

fn base() -> Value {
    json!({
        "Datetime": "2025-06-16T19:30:50Z", "Direction": "ingress", "Outcome": "pass",
        "IPSourceAddress": "81.2.69.144", "IPDestinationAddress": "81.2.69.142",
        "SourcePort": 59840, "DestinationPort": 80, "IPProtocol": 6, "IPProtocolName": "TCP",
        "SourceASN": 4812, "DestinationASN": 13335, "SourceGeoHash": "wtw3egg49gts",
        "DestinationGeoHash": "9q8yyf3hhvek", "ColoGeoHash": "9q9k93whbm56", "ColoID": 46,
        "RuleID": "r1", "Verdict": "pass", "TCPOptions": "1,1,5", "IPv4Options": ""
    })
}

fn na(d: &Value) -> &Value {
    &d["cloudflare_logpush"]["network_analytics"]
}

fn run1(rec: &Value) -> Value {
    run(&transformer(None, true), DS, rec)
}

#[test]
fn every_outcome_entry() {
    for (o, want) in [
        ("pass", Some("success")),
        ("drop", Some("failure")),
        ("other", None),
    ] {
        let d = run1(&with(&base(), json!({ "Outcome": o })));
        assert_eq!(d["event"]["outcome"].as_str(), want, "{o}");
        assert_eq!(na(&d)["outcome"].as_str(), want, "{o}");
        assert_eq!(d["event"]["category"], json!(["network"]));
        assert_eq!(d["event"]["type"], json!(["info"]));
        assert_eq!(d["event"]["kind"], "event");
    }
    let d = run1(&with(&base(), json!({ "Outcome": null })));
    assert!(d["event"].get("outcome").is_none());
}

#[test]
fn a_full_record_maps_ecs_and_related_fields() {
    let d = run1(&base());
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(
        d["source"],
        json!({"ip": "81.2.69.144", "port": 59840, "as": {"number": 4812}})
    );
    assert_eq!(
        d["destination"],
        json!({"ip": "81.2.69.142", "port": 80, "as": {"number": 13335}})
    );
    assert_eq!(d["network"]["transport"], "tcp");
    assert_eq!(d["network"]["direction"], "ingress");
    // The golden document of the same flow (line 5).
    assert_eq!(
        d["network"]["community_id"],
        "1:HZhQSA44esHBBeVTFg4fplzJwDY="
    );
    assert_eq!(d["rule"]["id"], "r1");
    assert_eq!(
        d["related"]["hash"],
        json!(["wtw3egg49gts", "9q8yyf3hhvek", "9q9k93whbm56"])
    );
    assert_eq!(d["related"]["ip"], json!(["81.2.69.144", "81.2.69.142"]));
    let c = na(&d);
    assert_eq!(c["colo"]["geo_location"], "9q9k93whbm56");
    assert_eq!(c["colo"]["id"], 46);
    // TCPOptions stays one string in this era; an empty IPv4Options is dropped.
    assert_eq!(c["tcp"]["options"], "1,1,5");
    assert!(c.get("ipv4").is_none());
}

#[test]
fn both_spellings_of_the_renamed_fields() {
    let pairs = [
        ("IPTTL", "IPTtl", "/ip/ttl/value"),
        ("IPTTLBuckets", "IPTtlBuckets", "/ip/ttl/buckets"),
        ("IPv4DSCP", "IPv4Dscp", "/ipv4/dscp"),
        ("IPv4ECN", "IPv4Ecn", "/ipv4/ecn"),
        ("IPv6DSCP", "IPv6Dscp", "/ipv6/dscp"),
        ("IPv6ECN", "IPv6Ecn", "/ipv6/ecn"),
        ("TCPMSS", "TCPMss", "/tcp/mss"),
        (
            "TCPSACKPermitted",
            "TCPSacksPermitted",
            "/tcp/sack/permitted",
        ),
        ("TCPTimestampECR", "TCPTimestampEcr", "/tcp/timestamp/ecr"),
    ];
    for (new, old, ptr) in pairs {
        let get = |d: &Value| na(d).pointer(ptr).cloned();
        let d = run1(&with(&base(), json!({ new: 54 })));
        assert_eq!(get(&d), Some(json!(54)), "{new}");
        let d = run1(&with(&base(), json!({ old: "54" })));
        assert_eq!(get(&d), Some(json!(54)), "{old}");
        let d = run1(&with(&base(), json!({ new: 54, old: 54 })));
        assert_eq!(get(&d), Some(json!(54)), "{new} = {old}");
        // Both present and different: the old value is appended as text, then both converted.
        let d = run1(&with(&base(), json!({ new: 54, old: 60 })));
        assert_eq!(get(&d), Some(json!([54, 60])), "{new} != {old}");
        // An empty new spelling gives way to the old one.
        let d = run1(&with(&base(), json!({ new: "", old: 7 })));
        assert_eq!(get(&d), Some(json!(7)), "{new} empty");
        let d = run1(&with(&base(), json!({ new: "", old: "" })));
        assert_eq!(get(&d), None, "{new} and {old} empty");
    }
    // GREEtherType is not read in this era; GREEthertype is.
    let d = run1(&with(&base(), json!({ "GREEtherType": 2048 })));
    assert!(na(&d).get("gre").is_none(), "{d}");
    let d = run1(&with(&base(), json!({ "GREEthertype": 2048 })));
    assert_eq!(na(&d)["gre"]["ether"]["type"], 2048);
}

#[test]
fn sack_blocks_in_every_form() {
    let blocks = |patch: Value| {
        let d = run1(&with(&base(), patch));
        (na(&d)["tcp"]["sack"]["blocks"].clone(), errors(&d))
    };
    assert_eq!(
        blocks(json!({"TCPSACKBlocks": "1,2, 3"})),
        (json!([1, 2, 3]), vec![])
    );
    assert_eq!(blocks(json!({"TCPSACKBlocks": 9})), (json!(9), vec![]));
    assert_eq!(blocks(json!({"TCPSACKBlocks": ""})), (Value::Null, vec![]));
    assert_eq!(blocks(json!({"TCPSackBlocks": 1})), (json!([1]), vec![]));
    assert_eq!(
        blocks(json!({"TCPSackBlocks": "4, 5"})),
        (json!([4, 5]), vec![])
    );
    assert_eq!(
        blocks(json!({"TCPSackBlocks": [6, 7]})),
        (json!([6, 7]), vec![])
    );
    assert_eq!(
        blocks(json!({"TCPSACKBlocks": "1,2", "TCPSackBlocks": "2,3"})),
        (json!([1, 2, 3]), vec![])
    );
    assert_eq!(blocks(json!({"TCPSackBlocks": []})), (Value::Null, vec![]));
    // The old spelling's "" is split into [""], which the convert refuses.
    let (b, e) = blocks(json!({"TCPSackBlocks": ""}));
    assert_eq!(b, Value::Null);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with(
            "Processor \"convert\" with tag convert_tcp_sack_blocks in pipeline \"\" failed with message \""
        ),
        "{e:?}"
    );
}

#[test]
fn timestamps() {
    for (v, want) in [
        (json!(1750102250), "2025-06-16T19:30:50.000Z"),
        (json!("1750102250"), "2025-06-16T19:30:50.000Z"),
        (json!(1750102250123u64), "2025-06-16T19:30:50.123Z"),
        (json!(1750102250123456789u64), "2025-06-16T19:30:50.123Z"),
        (json!("1750102250123456789"), "2025-06-16T19:30:50.123Z"),
        (
            json!("2025-06-16T19:30:50.123Z"),
            "2025-06-16T19:30:50.123Z",
        ),
        (
            json!("2025-06-16T19:30:50.123456789Z"),
            "2025-06-16T19:30:50.123Z",
        ),
        (
            json!("2025-06-16T21:30:50+02:00"),
            "2025-06-16T19:30:50.000Z",
        ),
    ] {
        let d = run1(&with(&base(), json!({ "Datetime": v })));
        assert_eq!(d["@timestamp"], want, "{v}");
        assert_eq!(na(&d)["timestamp"], want, "{v}");
    }
    // A bad time: the date processor appends the bare message and the pipeline goes on.
    let d = run1(&with(&base(), json!({"Datetime": "yesterday"})));
    assert_eq!(
        errors(&d),
        vec!["For input string: \"yesterday\"".to_string()]
    );
    assert_eq!(d["event"]["kind"], "event");
    assert!(d.get("@timestamp").is_none());
    assert_eq!(d["source"]["ip"], "81.2.69.144");
    // No time at all: no @timestamp, no error.
    let d = run1(&with(&base(), json!({"Datetime": null})));
    assert!(d.get("@timestamp").is_none() && d.get("error").is_none());
}

#[test]
fn ipv6_udp_and_icmp_flows() {
    let v6 = with(
        &base(),
        json!({"IPSourceAddress": "2a02:cf40::23", "IPDestinationAddress": "2001:db8::1",
               "IPProtocolName": "UDP", "IPProtocol": 17}),
    );
    let d = run1(&v6);
    assert_eq!(d["source"]["ip"], "2a02:cf40::23");
    assert_eq!(d["network"]["transport"], "udp");
    let id = d["network"]["community_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("1:") && id.len() == 30, "{id}");
    // The reverse direction has the same Community ID.
    let back = with(
        &v6,
        json!({"IPSourceAddress": "2001:db8::1", "IPDestinationAddress": "2a02:cf40::23",
               "SourcePort": 80, "DestinationPort": 59840}),
    );
    assert_eq!(run1(&back)["network"]["community_id"], id.as_str());
    // ICMP: the pipeline sets no ECS icmp fields, so the type counts as 0 (echo reply).
    let icmp = with(&base(), json!({"IPProtocolName": "ICMP", "IPProtocol": 1}));
    let d = run1(&icmp);
    assert!(d["network"]["community_id"].as_str().is_some(), "{d}");
    // An unknown protocol name: the processor fails, ignored.
    let d = run1(&with(&base(), json!({"IPProtocolName": "quic"})));
    assert!(d["network"].get("community_id").is_none());
    assert!(d.get("error").is_none());
    // No ports for tcp: still computed, with ports 0 (Elasticsearch's reading of a missing port).
    let d = run1(&with(
        &base(),
        json!({"SourcePort": null, "DestinationPort": null}),
    ));
    assert!(d["network"]["community_id"].as_str().is_some());
}

#[test]
fn missing_optional_fields_and_duplicates() {
    let d = run1(&json!({"Datetime": 1750102250}));
    assert_eq!(
        d,
        json!({
            "@timestamp": "2025-06-16T19:30:50.000Z",
            "cloudflare_logpush": {"network_analytics": {"timestamp": "2025-06-16T19:30:50.000Z"}},
            "ecs": {"version": "8.11.0"},
            "event": {"category": ["network"], "kind": "event", "original": "{\"Datetime\":1750102250}", "type": ["info"]},
            "tags": ["preserve_original_event", "preserve_duplicate_custom_fields"]
        })
    );
    let d = run(&transformer(None, false), DS, &base());
    let c = na(&d);
    for p in [
        "/timestamp",
        "/outcome",
        "/destination/asn",
        "/destination/ip",
        "/destination/port",
        "/direction",
        "/ip/protocol/name",
        "/source/ip",
        "/source/asn",
        "/source/port",
        "/rule/id",
    ] {
        assert!(c.pointer(p).is_none(), "{p}: {c}");
    }
    assert_eq!(c["ip"]["protocol"]["value"], 6);
    assert_eq!(d["source"]["ip"], "81.2.69.144");
}

#[test]
fn errors_in_the_era_format() {
    // A bad address: the tagged convert appends its message, the record goes on.
    let d = run1(&with(&base(), json!({"IPSourceAddress": "not-an-ip"})));
    assert_eq!(
        errors(&d),
        vec!["Processor \"convert\" with tag convert_ip_source_address in pipeline \"\" failed with message \"'not-an-ip' is not an IP string literal.\"".to_string()]
    );
    assert_eq!(d["event"]["kind"], "event");
    assert!(d.get("source").is_some_and(|s| s.get("ip").is_none()));
    // An untagged processor failing stops the pipeline: a pipeline_error document.
    let d = run1(&with(&base(), json!({"IPProtocolName": 17})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        errors(&d),
        vec!["Processor \"lowercase\" with tag  in pipeline \"\" failed with message \"field [network.transport] of type [java.lang.Integer] cannot be cast to [java.lang.String]\"".to_string()]
    );
    assert_eq!(
        d["tags"],
        json!([
            "preserve_original_event",
            "preserve_duplicate_custom_fields"
        ])
    );
    assert!(d["event"]["original"].is_string());
}

#[test]
fn both_input_shapes_and_hostile_records() {
    let t = transformer(None, true);
    let mut a = run(&t, DS, &base());
    let mut b = run_json(&t, DS, &base());
    a["event"].as_object_mut().unwrap().remove("original");
    b["event"].as_object_mut().unwrap().remove("original");
    assert_eq!(a, b);

    // Not JSON: the json processor ignores its failure; the constants remain.
    let d = run_line(&t, DS, "{not json");
    assert_eq!(d["event"]["kind"], "event");
    assert!(d.get("error").is_none());
    for line in [
        "[]",
        "null",
        "42",
        "\"x\"",
        "{}",
        r#"{"Datetime":{"a":1},"IPSourceAddress":[1,2],"Direction":{"x":"y"},"TCPSACKBlocks":{"a":1},"TCPSackBlocks":[[1],{"b":2}],"IPTTL":[1,2],"IPTtl":{"z":1},"SourcePort":1e300,"Outcome":7}"#,
        r#"{"IPSourceAddress":"::ffff:1.2.3.4","IPDestinationAddress":"1.2.3.4","IPProtocolName":"tcp","SourcePort":"70000"}"#,
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
