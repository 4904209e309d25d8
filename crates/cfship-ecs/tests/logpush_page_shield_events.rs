//! `cloudflare_logpush.page_shield_events` beyond Elastic's test document: actions, the URI parts
//! of `URL` and the `URLHost` override, related hosts, timestamps, the unguarded boolean, the 1.45
//! error format, both input shapes, hostile records.

mod common;

use cfship_ecs::logpush::Ds;
use common::logpush::{errors, run, run_json, run_line, transformer, with};
use serde_json::{json, Value};

const DS: Ds = Ds::PageShieldEvents;

fn base() -> Value {
    json!({
        "Action": "log", "CSPDirective": "script-src", "Host": "shop.example.org",
        "PageURL": "https://shop.example.org/cart?step=2", "PolicyID": "p-9",
        "ResourceType": "script", "Timestamp": "2023-05-04T11:29:14Z",
        "URL": "https://cdn.example.net:8443/lib/a.js?v=3#top", "URLContainsCDNCGIPath": false,
        "URLHost": "cdn.example.net"
    })
}

fn ps(d: &Value) -> &Value {
    &d["cloudflare_logpush"]["page_shield_events"]
}

fn run1(rec: &Value) -> Value {
    run(&transformer(None, true), DS, rec)
}

#[test]
fn a_full_record() {
    let d = run1(&base());
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["event"]["action"], "log");
    assert_eq!(d["event"]["category"], json!(["network"]));
    assert_eq!(d["event"]["type"], json!(["info"]));
    assert_eq!(d["host"]["name"], "shop.example.org");
    assert_eq!(d["rule"]["id"], "p-9");
    assert_eq!(
        d["url"],
        json!({
            "domain": "cdn.example.net", "fragment": "top", "original": "https://cdn.example.net:8443/lib/a.js?v=3#top",
            "path": "/lib/a.js", "port": 8443, "query": "v=3", "scheme": "https", "extension": "js"
        })
    );
    assert_eq!(
        d["related"]["hosts"],
        json!(["shop.example.org", "cdn.example.net"])
    );
    let c = ps(&d);
    assert_eq!(c["page_url"], "https://shop.example.org/cart?step=2");
    assert_eq!(c["url_contains_cdn_cgi_path"], false);
    assert_eq!(c["csp_directive"], "script-src");
    assert_eq!(c["resource_type"], "script");
}

#[test]
fn actions_and_hosts() {
    for (a, want) in [("log", "log"), ("allow", "allow"), ("ALLOW", "allow")] {
        let d = run1(&with(&base(), json!({ "Action": a })));
        assert_eq!(d["event"]["action"], want);
        assert_eq!(ps(&d)["action"], a);
    }
    // The same host twice is one related host.
    let d = run1(&with(&base(), json!({"URLHost": "shop.example.org"})));
    assert_eq!(d["related"]["hosts"], json!(["shop.example.org"]));
    // URLHost overrides the domain of URL; without it the URI parts' domain stays.
    let d = run1(&with(&base(), json!({"URLHost": "other.example"})));
    assert_eq!(d["url"]["domain"], "other.example");
    let d = run1(&with(&base(), json!({"URLHost": null})));
    assert_eq!(d["url"]["domain"], "cdn.example.net");
    assert_eq!(d["related"]["hosts"], json!(["shop.example.org"]));
}

#[test]
fn urls_and_their_errors() {
    let d = run1(&with(
        &base(),
        json!({"URL": "https://[2001:db8::1]/x.js", "URLHost": null}),
    ));
    // java.net.URI's host of an IPv6 literal keeps its brackets.
    assert_eq!(d["url"]["domain"], "[2001:db8::1]");
    assert_eq!(d["url"]["path"], "/x.js");
    let d = run1(&with(&base(), json!({"URL": "cdn.example.net/a b.js"})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        errors(&d),
        vec!["Processor uri_parts with tag uri_parts_url in pipeline  failed with message: unable to parse URI [cdn.example.net/a b.js]".to_string()]
    );
    // The record goes on after the failed URI parts.
    assert_eq!(d["rule"]["id"], "p-9");
    assert_eq!(d["url"], json!({"domain": "cdn.example.net"}));
    assert!(d["tags"]
        .as_array()
        .unwrap()
        .contains(&json!("preserve_original_event")));
}

#[test]
fn timestamps_and_booleans() {
    for (v, want) in [
        (json!(1683199754), "2023-05-04T11:29:14.000Z"),
        (json!("1683199754"), "2023-05-04T11:29:14.000Z"),
        (json!(1683199754321u64), "2023-05-04T11:29:14.321Z"),
        (json!("1683199754321000000"), "2023-05-04T11:29:14.321Z"),
        (
            json!("2023-05-04T13:29:14+02:00"),
            "2023-05-04T11:29:14.000Z",
        ),
        (
            json!("2023-05-04T11:29:14.321987Z"),
            "2023-05-04T11:29:14.321Z",
        ),
    ] {
        let d = run1(&with(&base(), json!({ "Timestamp": v })));
        assert_eq!(d["@timestamp"], want, "{v}");
        assert_eq!(ps(&d)["timestamp"], want, "{v}");
    }
    let d = run1(&with(&base(), json!({"Timestamp": "tomorrow"})));
    assert_eq!(
        errors(&d),
        vec!["Processor date with tag date_json_Timestamp_70be028a in pipeline  failed with message: For input string: \"tomorrow\"".to_string()]
    );
    for (v, want) in [
        (json!("true"), json!(true)),
        (json!(true), json!(true)),
        (json!("False"), json!(false)),
    ] {
        let d = run1(&with(&base(), json!({ "URLContainsCDNCGIPath": v })));
        assert_eq!(ps(&d)["url_contains_cdn_cgi_path"], want, "{v}");
    }
    // No `!= ''` guard on that conversion.
    let d = run1(&with(&base(), json!({"URLContainsCDNCGIPath": ""})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert!(errors(&d)[0].starts_with(
        "Processor convert with tag convert_url_contains_cdn_cgi_path_bool in pipeline  failed with message: "
    ));
}

#[test]
fn missing_fields_and_duplicates() {
    let d = run1(&json!({"Timestamp": 1683199754, "Host": "N/A"}));
    assert_eq!(
        d,
        json!({
            "@timestamp": "2023-05-04T11:29:14.000Z",
            "cloudflare_logpush": {"page_shield_events": {"timestamp": "2023-05-04T11:29:14.000Z"}},
            "ecs": {"version": "9.3.0"},
            "event": {"category": ["network"], "kind": "event", "original": "{\"Host\":\"N/A\",\"Timestamp\":1683199754}", "type": ["info"]},
            "related": {"hosts": ["N/A"]},
            "tags": ["preserve_original_event", "preserve_duplicate_custom_fields"]
        })
    );
    let d = run(&transformer(None, false), DS, &base());
    let c = ps(&d);
    for k in ["action", "host", "url", "timestamp", "policy_id"] {
        assert!(c.get(k).is_none(), "{k}: {c}");
    }
    assert_eq!(c["url_host"], "cdn.example.net");
    assert_eq!(
        d["url"]["original"],
        "https://cdn.example.net:8443/lib/a.js?v=3#top"
    );
}

#[test]
fn both_input_shapes_and_hostile_records() {
    let t = transformer(None, true);
    let mut a = run(&t, DS, &base());
    let mut b = run_json(&t, DS, &base());
    a["event"].as_object_mut().unwrap().remove("original");
    b["event"].as_object_mut().unwrap().remove("original");
    assert_eq!(a, b);
    let d = run_line(&t, DS, "<html>");
    assert_eq!(d["event"]["kind"], "pipeline_error");
    for line in [
        "[1]",
        "{}",
        r#"{"URL":{"a":1},"Host":[1,2],"Action":5,"Timestamp":{"t":1},"PolicyID":[],"URLHost":{}}"#,
        r#"{"URL":"","Host":"","Timestamp":"","URLContainsCDNCGIPath":[1,"x"]}"#,
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

/// Oracle finding: `lowercase` of a list lower-cases each element (Elasticsearch's
/// `AbstractStringProcessor`), and fails on a list element that is not a string.
#[test]
fn lowercase_of_a_list_action() {
    let d = run1(&with(&base(), json!({"Action": ["LOG", "Block"]})));
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["event"]["action"], json!(["log", "block"]));
    assert_eq!(ps(&d)["action"], json!(["LOG", "Block"]));
    let d = run1(&with(&base(), json!({"Action": ["log", 7]})));
    assert_eq!(
        errors(&d),
        vec!["Processor lowercase with tag lowercase_event_action_9334b869 in pipeline  failed with message: value [7] of type [java.lang.Integer] in list field [event.action] cannot be cast to [java.lang.String]"]
    );
    assert_eq!(d["event"]["kind"], "pipeline_error");
}

/// Oracle finding: the `json` processor's failure names its tag.
#[test]
fn a_line_that_is_not_json_names_the_json_tag() {
    let d = run_line(&transformer(None, true), DS, "not json");
    let e = errors(&d);
    assert_eq!(e.len(), 1, "{d}");
    assert!(
        e[0].starts_with(
            "Processor json with tag json_event_original_to_json_cac66847 in pipeline  failed with message: "
        ),
        "{e:?}"
    );
}
