//! `cloudflare_logpush.email_security_alerts` (package 1.46.x) beyond Elastic's test documents:
//! every `event.kind` entry, the address fields (`email.*`, `related.user`), the HELO server
//! (`server.domain` only for a name, the City lookup without `ignore_missing`), links and
//! attachments with the two Painless HashSets (`related.hosts`, `related.hash`), the quoted error
//! format, every timestamp form, duplicates, both input shapes, hostile records.

mod common;

use cfship_ecs::logpush::Ds;
use common::logpush::{
    assert_both_shapes_agree, assert_hostile_lines_give_documents, errors, hostile_lines, run,
    run_doc, transformer, transformer_with_tags, with,
};
use serde_json::{json, Value};

const DS: Ds = Ds::EmailSecurityAlerts;

fn base() -> Value {
    json!({
        "AlertID": "a-1", "AlertReasons": ["because"], "CC": ["cc@example.org"],
        "CCName": ["CC Name"], "FinalDisposition": "unset", "From": "from@example.com",
        "FromName": "From Name", "Links": ["https://example.net/x?y=1"], "MessageDeliveryMode": "api",
        "MessageID": "<m@example.com>", "Origin": "external", "OriginalSender": "orig@example.com",
        "ReplyTo": "reply@example.com", "ReplyToName": "Reply Name",
        "SMTPEnvelopeFrom": "env@example.com", "SMTPEnvelopeTo": ["rcpt@example.org"],
        "SMTPHeloServerIP": "81.2.69.144", "SMTPHeloServerName": "mx.example.com",
        "Subject": "hello", "ThreatCategories": ["Spam"], "Timestamp": "2024-08-28T15:32:35Z",
        "To": ["to@example.org"], "ToName": ["To Name"]
    })
}

fn t() -> cfship_ecs::Transformer {
    transformer(common::geoip(), true)
}

fn doc(rec: &Value) -> Value {
    run(&t(), DS, rec)
}

fn quoted(ty: &str, tag: &str, msg: &str) -> String {
    format!("Processor '{ty}' with tag '{tag}' failed with message '{msg}'")
}

#[test]
fn every_event_kind_entry() {
    for (disposition, kind) in [
        (json!("unset"), "event"),
        (json!("malicious"), "alert"),
        (json!("suspicious"), "alert"),
        (json!("spoof"), "alert"),
        (json!("spam"), "alert"),
        (json!("bulk"), "alert"),
        (json!(null), "event"),
        (json!(""), "alert"),
    ] {
        let d = doc(&with(&base(), json!({ "FinalDisposition": disposition })));
        assert_eq!(d["event"]["kind"], kind, "{disposition}");
        assert_eq!(d["event"]["category"], json!(["email", "network"]));
        assert_eq!(d["event"]["type"], json!(["info"]));
    }
}

#[test]
fn a_full_record() {
    let d = doc(&base());
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["@timestamp"], "2024-08-28T15:32:35.000Z");
    assert_eq!(
        d["email"],
        json!({"cc": {"address": ["cc@example.org"]}, "from": {"address": ["from@example.com"]},
               "message_id": "<m@example.com>", "reply_to": {"address": ["reply@example.com"]},
               "subject": "hello", "to": {"address": ["to@example.org"]}})
    );
    assert_eq!(
        d["related"]["user"],
        json!([
            "from@example.com",
            "From Name",
            "env@example.com",
            "orig@example.com",
            "Reply Name",
            "reply@example.com",
            "to@example.org",
            "rcpt@example.org",
            "To Name",
            "cc@example.org",
            "CC Name"
        ])
    );
    // A HashSet of the link's domain, the HELO name and the users' domains, in Java's order.
    let mut hosts: Vec<String> = d["related"]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let order = hosts.clone();
    hosts.sort();
    assert_eq!(
        hosts,
        [
            "example.com",
            "example.net",
            "example.org",
            "mx.example.com"
        ]
    );
    let java: Vec<String> = cfship_ecs::logpush::engine::java_hash_set_order(
        [
            "example.net",
            "mx.example.com",
            "example.com",
            "example.org",
        ]
        .iter()
        .map(|s| cfship_ecs::doc::Val::str(*s))
        .collect(),
    )
    .iter()
    .map(|v| v.as_str().unwrap().to_string())
    .collect();
    assert_eq!(order, java);
    assert_eq!(d["server"]["address"], "mx.example.com");
    assert_eq!(d["server"]["domain"], "mx.example.com");
    assert_eq!(d["server"]["ip"], "81.2.69.144");
    assert_eq!(d["related"]["ip"], json!(["81.2.69.144"]));
    let c = &d["cloudflare_logpush"]["email_security_alerts"];
    assert_eq!(c["timestamp"], "2024-08-28T15:32:35.000Z");
    assert_eq!(c["links"], json!(["https://example.net/x?y=1"]));
    assert_eq!(c["message_delivery_mode"], "api");
    assert!(d.get("file").is_none() && d["related"].get("hash").is_none());
}

#[test]
fn geoip_on_the_helo_address_and_ipv6() {
    if common::geoip().is_none() {
        return;
    }
    let d = doc(&base());
    assert_eq!(d["server"]["geo"]["country_iso_code"], "GB");
    let d = doc(&with(&base(), json!({"SMTPHeloServerIP": "2a02:cf40::25"})));
    assert_eq!(d["server"]["geo"]["country_iso_code"], "NO");
    assert_eq!(d["related"]["ip"], json!(["2a02:cf40::25"]));
    // An IP as HELO name: no server.domain, and no host from it.
    let d = doc(&with(&base(), json!({"SMTPHeloServerName": "2001:db8::1"})));
    assert_eq!(d["server"]["address"], "2001:db8::1");
    assert!(d["server"].get("domain").is_none(), "{d}");
    assert!(!d["related"]["hosts"]
        .as_array()
        .unwrap()
        .contains(&json!("2001:db8::1")));
}

#[test]
fn a_missing_helo_address_fails_the_city_lookup_as_upstream() {
    let d = doc(&with(&base(), json!({"SMTPHeloServerIP": null})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        errors(&d),
        [quoted(
            "geoip",
            "geoip_server_ip_to_server_geo_bc3fd9f9",
            "field [ip] not present as part of path [server.ip]"
        )]
    );
    assert!(d["tags"]
        .as_array()
        .unwrap()
        .contains(&json!("preserve_original_event")));
    // An empty one: the convert's error, then the same failure.
    let d = doc(&with(&base(), json!({"SMTPHeloServerIP": ""})));
    assert_eq!(
        errors(&d),
        [
            quoted(
                "convert",
                "convert_smtp_helo_server_ip",
                "'' is not an IP string literal."
            ),
            quoted(
                "geoip",
                "geoip_server_ip_to_server_geo_bc3fd9f9",
                "field [ip] not present as part of path [server.ip]"
            )
        ]
    );
}

#[test]
fn to_as_a_string_or_a_list() {
    let d = doc(&with(
        &base(),
        json!({"To": "one@example.org", "ToName": "One"}),
    ));
    assert_eq!(d["email"]["to"]["address"], json!(["one@example.org"]));
    // A string To / ToName is not walked into related.user (only lists are).
    let users = d["related"]["user"].as_array().unwrap();
    assert!(!users.contains(&json!("one@example.org")) && !users.contains(&json!("One")));
    let d = doc(&with(
        &base(),
        json!({"To": ["a@x.org", "b@y.org", "a@x.org"]}),
    ));
    assert_eq!(d["email"]["to"]["address"], json!(["a@x.org", "b@y.org"]));
    let d = doc(&with(
        &base(),
        json!({"To": null, "From": "", "FromName": ""}),
    ));
    assert!(
        d["email"].get("to").is_none() && d["email"].get("from").is_none(),
        "{d}"
    );
    assert_eq!(d["related"]["user"][0], "env@example.com");
}

#[test]
fn links_and_the_host_set() {
    // A link without a host (mailto) renders an empty domain, which the set keeps; a link
    // uri_parts cannot read appends its error.
    let d = doc(&with(
        &base(),
        json!({"Links": ["mailto:x@example.com", "http://[bad", "https://example.net/"]}),
    ));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    let e = errors(&d);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("Processor 'uri_parts' with tag 'uri_parts_links' failed with message '"),
        "{e:?}"
    );
    let hosts = d["related"]["hosts"].as_array().unwrap();
    assert!(hosts.contains(&json!("")), "{hosts:?}");
    assert!(hosts.contains(&json!("example.net")), "{hosts:?}");
    // Users without a single '@' give no domain; no link, no HELO name: the set can be empty.
    let d = doc(&json!({
        "From": "nobody", "SMTPHeloServerIP": "81.2.69.144", "Timestamp": 1724859155
    }));
    assert_eq!(
        d["related"]["hosts"],
        json!([]),
        "an empty HashSet is kept: {d}"
    );
    assert_eq!(d["related"]["user"], json!(["nobody"]));
    // Only a HELO name, no user and no link: the script writes into a missing `related`.
    let d = doc(&json!({"SMTPHeloServerName": "mx", "SMTPHeloServerIP": "81.2.69.144"}));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert!(errors(&d)[0].starts_with("Processor 'conditional' with tag 'script_45dae815' failed"));
}

#[test]
fn attachments_files_and_the_hash_set() {
    let d = doc(&with(
        &base(),
        json!({"Attachments": [
            {"Name": "a.pdf", "ContentTypeComputed": "application/pdf", "Md5": "m1", "Sha256": "s1"},
            {"Name": "b.txt", "Md5": "m1"},
            {"Encrypted": true}
        ]}),
    ));
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(
        d["file"],
        json!([{"hash": {"md5": "m1", "sha256": "s1"}, "mime_type": "application/pdf", "name": "a.pdf"},
               {"hash": {"md5": "m1"}, "name": "b.txt"}])
    );
    assert_eq!(
        d["email"]["attachments"],
        json!([{"file": {"hash": {"md5": "m1", "sha256": "s1"}, "mime_type": "application/pdf", "name": "a.pdf"}},
               {"file": {"hash": {"md5": "m1"}, "name": "b.txt"}}])
    );
    let mut h: Vec<&str> = d["related"]["hash"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    h.sort();
    assert_eq!(h, ["m1", "s1"]);
    // No hashes, or no attachments at all in the list: related.hash stays an empty set.
    for atts in [json!([{"Name": "n"}]), json!([])] {
        let d = doc(&with(&base(), json!({ "Attachments": atts })));
        assert_eq!(d["related"]["hash"], json!([]), "{d}");
    }
    // An attachment that is not an object fails the script (and the pipeline). The script has an
    // `if:`, so its failure names the ConditionalProcessor wrapper; Painless words the field read
    // by the receiver's kind (found by the differential oracle).
    for (att, msg) in [
        (
            json!("x"),
            "dynamic getter [java.lang.String, Name] not found",
        ),
        (
            json!(null),
            "cannot access method/field [Name] from a null def reference",
        ),
        (json!([1]), "Illegal list shortcut value [Name]."),
    ] {
        let d = doc(&with(&base(), json!({ "Attachments": [att] })));
        assert_eq!(
            errors(&d),
            [quoted("conditional", "script_218079c2", msg)],
            "{att}"
        );
    }
}

#[test]
fn a_null_list_element_renders_as_nothing() {
    // `append … '{{{_ingest._value}}}'` of a null element renders "" (Mustache), which the
    // drop-empty script then removes: no "null" user or address (found by the differential oracle).
    let d = doc(&with(
        &base(),
        json!({"To": [null], "ToName": [null, "To Name"], "CC": null, "CCName": null}),
    ));
    assert!(d.get("error").is_none(), "{d}");
    assert!(d["email"].get("to").is_none(), "{d}");
    let users = d["related"]["user"].as_array().unwrap();
    assert!(users.iter().all(|u| u != "null" && u != ""), "{users:?}");
    assert!(users.iter().any(|u| u == "To Name"), "{users:?}");
}

#[test]
fn every_timestamp_form_and_a_bad_one() {
    for (v, want) in [
        (json!(1724859155), "2024-08-28T15:32:35.000Z"),
        (json!(1724859155250u64), "2024-08-28T15:32:35.250Z"),
        (json!(1724859155250000000u64), "2024-08-28T15:32:35.250Z"),
        (json!("1724859155"), "2024-08-28T15:32:35.000Z"),
        (json!("1724859155250"), "2024-08-28T15:32:35.250Z"),
        (
            json!("2024-08-28T15:32:35.250Z"),
            "2024-08-28T15:32:35.250Z",
        ),
        (
            json!("2024-08-28T15:32:35.250250250Z"),
            "2024-08-28T15:32:35.250Z",
        ),
        (
            json!("2024-08-28T17:32:35+02:00"),
            "2024-08-28T15:32:35.000Z",
        ),
    ] {
        let d = doc(&with(&base(), json!({ "Timestamp": v })));
        assert_eq!(d["@timestamp"], want, "{v}");
        assert_eq!(
            d["cloudflare_logpush"]["email_security_alerts"]["timestamp"],
            want
        );
        assert!(d.get("error").is_none(), "{v}: {d}");
    }
    let d = doc(&with(&base(), json!({"Timestamp": "soon"})));
    assert_eq!(
        errors(&d),
        [quoted(
            "date",
            "date_json_Timestamp_a965763d",
            "For input string: \"soon\""
        )]
    );
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert!(d.get("@timestamp").is_none());
    let d = doc(&with(&base(), json!({"Timestamp": null})));
    assert!(
        d.get("@timestamp").is_none() && d.get("error").is_none(),
        "{d}"
    );
}

#[test]
fn duplicates_shapes_and_hostile_records() {
    let d = run(&transformer(common::geoip(), false), DS, &base());
    let c = &d["cloudflare_logpush"]["email_security_alerts"];
    for k in [
        "timestamp",
        "smtp_helo_server_ip",
        "from",
        "to",
        "cc",
        "subject",
        "message_id",
        "reply_to",
    ] {
        assert!(c.get(k).is_none(), "{k}: {c}");
    }
    assert_eq!(c["from_name"], "From Name");
    assert_both_shapes_agree(&t(), DS, &base());
    let plain = transformer_with_tags(common::geoip(), &[]);
    let (d, _) = run_doc(&plain, DS, &base().to_string());
    assert!(
        d["event"].get("original").is_none() && d.get("tags").is_none(),
        "{d}"
    );
    // Not JSON: the json processor ignores it; the City lookup then fails.
    let (d, _) = run_doc(&t(), DS, "not json");
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(d["event"]["original"], "not json");
    assert_hostile_lines_give_documents(&t(), DS, &hostile_lines(&base()));
}
