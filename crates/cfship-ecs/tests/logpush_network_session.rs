//! `cloudflare_logpush.network_session` (package 1.10.0) beyond Elastic's test documents: the
//! constants, the two session times (every timestamp form), the strict copies of the era
//! (a missing copied field is a `pipeline_error` document), GeoIP, IPv6, the duplicate removal,
//! empty values, both input shapes, hostile records.

mod common;

use cfship_ecs::logpush::Ds;
use common::logpush::{
    assert_both_shapes_agree, assert_hostile_lines_give_documents, errors, hostile_lines, run,
    run_doc, transformer, transformer_with_tags, with,
};
use serde_json::{json, Value};

const DS: Ds = Ds::NetworkSession;

fn base() -> Value {
    json!({
        "AccountID": "acc1", "BytesReceived": 679, "BytesSent": 2333,
        "ClientTCPHandshakeDurationMs": 12, "ClientTLSCipher": "TLS_AES_128_GCM_SHA256",
        "ClientTLSHandshakeDurationMs": 125, "ClientTLSVersion": "TLS 1.3",
        "ConnectionCloseReason": "CLIENT_CLOSED", "ConnectionReuse": false,
        "DestinationTunnelID": "tun-1", "DeviceID": "dev-1", "DeviceName": "vm1",
        "EgressColoName": "ORD", "EgressIP": "2a02:cf40::23", "EgressPort": 41052,
        "EgressRuleID": "r-1", "EgressRuleName": "Egress Rule 1", "Email": "user@test.com",
        "IngressColoName": "ORD", "Offramp": "INTERNET", "OriginIP": "89.160.20.129",
        "OriginPort": 80, "OriginTLSCertificateIssuer": "DigiCert Inc",
        "OriginTLSCertificateValidationResult": "VALID", "OriginTLSCipher": "TLS_ECDHE",
        "OriginTLSHandshakeDurationMs": 130, "OriginTLSVersion": "TLS 1.2", "Protocol": "TCP",
        "RuleEvaluationDurationMs": 10, "SessionEndTime": "2023-05-04T11:29:20Z",
        "SessionID": "s-1", "SessionStartTime": "2023-05-04T11:29:14Z",
        "SourceInternalIP": "10.0.0.1", "SourceIP": "67.43.156.2", "SourcePort": 52994,
        "UserID": "u-1", "VirtualNetworkID": "vnet-1"
    })
}

fn t() -> cfship_ecs::Transformer {
    transformer(common::geoip(), true)
}

fn doc(rec: &Value) -> Value {
    run(&t(), DS, rec)
}

fn set_error(path: &str, seg: &str) -> String {
    format!(
        "Processor \"set\" in pipeline \"\" failed with message \"field [{seg}] not present as part of path [{path}]\""
    )
}

#[test]
fn a_full_record_maps_every_field() {
    let d = doc(&base());
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["ecs"]["version"], "8.10.0");
    assert_eq!(d["event"]["category"], json!(["network", "session"]));
    assert_eq!(d["event"]["type"], json!(["connection"]));
    assert_eq!(d["event"]["kind"], "event");
    assert_eq!(d["event"]["id"], "s-1");
    assert_eq!(d["@timestamp"], "2023-05-04T11:29:14.000Z");
    assert_eq!(d["event"]["start"], "2023-05-04T11:29:14.000Z");
    assert_eq!(d["event"]["end"], "2023-05-04T11:29:20.000Z");
    assert!(d["event"].get("duration").is_none(), "no duration in 1.10");
    assert_eq!(d["destination"]["bytes"], 679);
    assert_eq!(d["destination"]["port"], 80);
    assert_eq!(d["source"]["bytes"], 2333);
    assert_eq!(d["source"]["port"], 52994);
    assert_eq!(d["network"]["transport"], "TCP");
    assert_eq!(d["vlan"]["id"], "vnet-1", "root vlan.id before 1.11");
    assert!(d["network"].get("vlan").is_none());
    assert_eq!(d["tls"]["server"]["issuer"], "DigiCert Inc");
    assert_eq!(d["host"], json!({"id": "dev-1", "name": "vm1"}));
    assert_eq!(d["user"], json!({"email": "user@test.com", "id": "u-1"}));
    assert_eq!(
        d["related"],
        json!({"hosts": ["dev-1", "vm1"], "ip": ["67.43.156.2", "89.160.20.129", "2a02:cf40::23"],
               "user": ["u-1", "user@test.com"]})
    );
    let c = &d["cloudflare_logpush"]["network_session"];
    assert_eq!(c["timestamp"], "2023-05-04T11:29:14.000Z");
    assert_eq!(
        c["session"],
        json!({"end": "2023-05-04T11:29:20.000Z", "id": "s-1", "start": "2023-05-04T11:29:14.000Z"})
    );
    assert_eq!(
        c["tcp"]["connection"],
        json!({"close_reason": "CLIENT_CLOSED", "reuse": false})
    );
    assert_eq!(
        c["egress"]["rule"],
        json!({"id": "r-1", "name": "Egress Rule 1"})
    );
    assert_eq!(
        c["tls"]["server"]["certificate"]["validation_result"],
        "VALID"
    );
    assert_eq!(c["source"]["internal_ip"], "10.0.0.1");
    assert_eq!(c["rule_evaluation"]["time_ms"], 10);
}

#[test]
fn geoip_on_both_addresses() {
    if common::geoip().is_none() {
        return;
    }
    let d = doc(&base());
    assert_eq!(d["destination"]["geo"]["country_iso_code"], "SE");
    assert_eq!(d["destination"]["as"]["number"], 29518);
    assert_eq!(
        d["destination"]["as"]["organization"]["name"],
        "Bredband2 AB"
    );
    assert_eq!(d["source"]["geo"]["country_iso_code"], "BT");
    assert_eq!(d["source"]["as"]["number"], 35908);
    // IPv6 addresses, one in the test City database.
    let d = doc(&with(
        &base(),
        json!({"SourceIP": "2a02:cf40::1", "OriginIP": "2001:db8::9"}),
    ));
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["source"]["geo"]["country_iso_code"], "NO");
    assert!(d["destination"].get("geo").is_none());
    assert_eq!(
        d["related"]["ip"],
        json!(["2a02:cf40::1", "2001:db8::9", "2a02:cf40::23"])
    );
}

#[test]
fn every_timestamp_form_of_both_times() {
    for (v, want) in [
        (json!(1683199754), "2023-05-04T11:29:14.000Z"),
        (json!(1683199754250u64), "2023-05-04T11:29:14.250Z"),
        (json!(1683199754250000000u64), "2023-05-04T11:29:14.250Z"),
        (json!("1683199754"), "2023-05-04T11:29:14.000Z"),
        (json!("1683199754250"), "2023-05-04T11:29:14.250Z"),
        (json!("1683199754250000000"), "2023-05-04T11:29:14.250Z"),
        (json!("2023-05-04T11:29:14Z"), "2023-05-04T11:29:14.000Z"),
        (
            json!("2023-05-04T11:29:14.250Z"),
            "2023-05-04T11:29:14.250Z",
        ),
        (
            json!("2023-05-04T11:29:14.250250250Z"),
            "2023-05-04T11:29:14.250Z",
        ),
        (
            json!("2023-05-04T20:59:14+09:30"),
            "2023-05-04T11:29:14.000Z",
        ),
        (
            json!("2023-05-04T11:29:14+0000"),
            "2023-05-04T11:29:14.000Z",
        ),
    ] {
        let d = doc(&with(
            &base(),
            json!({"SessionStartTime": v, "SessionEndTime": v}),
        ));
        assert!(d.get("error").is_none(), "{v}: {d}");
        assert_eq!(d["@timestamp"], want, "{v}");
        assert_eq!(d["event"]["start"], want, "{v}");
        assert_eq!(d["event"]["end"], want, "{v}");
    }
}

#[test]
fn bad_or_missing_times() {
    // A bad start: the date error, then the strict copy of @timestamp fails the pipeline.
    let d = doc(&with(&base(), json!({"SessionStartTime": "yesterday"})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        errors(&d),
        [
            "For input string: \"yesterday\"".to_string(),
            set_error("@timestamp", "@timestamp")
        ]
    );
    // A bad end: its date error is appended, then the copy of the unparsed value goes on.
    let d = doc(&with(&base(), json!({"SessionEndTime": "later"})));
    assert_eq!(errors(&d), ["For input string: \"later\""]);
    assert_eq!(d["event"]["end"], "later");
    assert!(
        d["event"]["kind"] == "event",
        "1.10 marks only pipeline failures: {d}"
    );
    // No end: its copy fails.
    let d = doc(&with(&base(), json!({"SessionEndTime": null})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        errors(&d),
        [set_error(
            "cloudflare_logpush.network_session.session.end",
            "end"
        )]
    );
}

#[test]
fn a_missing_copied_field_is_a_pipeline_error() {
    for (key, path, seg) in [
        (
            "BytesReceived",
            "cloudflare_logpush.network_session.destination.bytes",
            "destination",
        ),
        (
            "BytesSent",
            "cloudflare_logpush.network_session.source.bytes",
            "source",
        ),
        (
            "DeviceID",
            "cloudflare_logpush.network_session.host.id",
            "host",
        ),
        (
            "DeviceName",
            "cloudflare_logpush.network_session.host.name",
            "name",
        ),
        (
            "OriginPort",
            "cloudflare_logpush.network_session.destination.port",
            "port",
        ),
        (
            "OriginTLSCertificateIssuer",
            "cloudflare_logpush.network_session.tls.server.certificate.issuer",
            "tls",
        ),
        (
            "Protocol",
            "cloudflare_logpush.network_session.transport",
            "transport",
        ),
        (
            "SessionID",
            "cloudflare_logpush.network_session.session.id",
            "session",
        ),
        (
            "SourcePort",
            "cloudflare_logpush.network_session.source.port",
            "port",
        ),
        (
            "UserID",
            "cloudflare_logpush.network_session.user.id",
            "user",
        ),
        (
            "Email",
            "cloudflare_logpush.network_session.user.email",
            "email",
        ),
        (
            "VirtualNetworkID",
            "cloudflare_logpush.network_session.vlan.id",
            "vlan",
        ),
    ] {
        let rec = with(&base(), json!({ key: null }));
        let (d, document) = run_doc(&t(), DS, &rec.to_string());
        assert_eq!(d["event"]["kind"], "pipeline_error", "{key}: {d}");
        assert_eq!(errors(&d), [set_error(path, seg)], "{key}");
        assert_eq!(
            document.error.as_deref(),
            Some(set_error(path, seg).as_str())
        );
        assert_eq!(d["event"]["original"], rec.to_string());
    }
    // A missing address fails its copy (the City lookup has no ignore_missing either).
    for key in ["OriginIP", "SourceIP"] {
        let d = doc(&with(&base(), json!({ key: null })));
        assert_eq!(d["event"]["kind"], "pipeline_error", "{key}: {d}");
        assert!(errors(&d)[0].starts_with("Processor \"set\""), "{key}");
    }
    // The custom-only fields may be missing.
    let d = doc(&with(
        &base(),
        json!({"AccountID": null, "EgressIP": null, "Offramp": null, "ConnectionReuse": null,
               "OriginTLSVersion": null, "SourceInternalIP": null}),
    ));
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["related"]["ip"], json!(["67.43.156.2", "89.160.20.129"]));
}

#[test]
fn duplicates_removed_without_the_tag() {
    let d = run(&transformer(common::geoip(), false), DS, &base());
    let c = &d["cloudflare_logpush"]["network_session"];
    for k in ["timestamp", "host", "transport", "session", "user", "vlan"] {
        assert!(c.get(k).is_none(), "{k}: {c}");
    }
    assert_eq!(c["destination"], json!({"tunnel_id": "tun-1"}));
    assert_eq!(c["source"], json!({"internal_ip": "10.0.0.1"}));
    assert_eq!(
        c["tls"]["server"]["certificate"],
        json!({"validation_result": "VALID"})
    );
    assert_eq!(d["vlan"]["id"], "vnet-1");
}

#[test]
fn empty_values_both_shapes_and_hostile_records() {
    let d = doc(&with(
        &base(),
        json!({"EgressRuleName": "", "Offramp": "N/A"}),
    ));
    let c = &d["cloudflare_logpush"]["network_session"];
    assert_eq!(c["egress"]["rule"], json!({"id": "r-1"}));
    assert_eq!(c["offramp"], "N/A", "1.10 keeps N/A");
    assert_both_shapes_agree(&t(), DS, &base());
    let plain = transformer_with_tags(common::geoip(), &[]);
    let (d, _) = run_doc(&plain, DS, &base().to_string());
    assert!(
        d["event"].get("original").is_none() && d.get("tags").is_none(),
        "{d}"
    );
    assert_hostile_lines_give_documents(&t(), DS, &hostile_lines(&base()));
}
