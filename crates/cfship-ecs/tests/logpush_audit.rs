//! `cloudflare_logpush.audit` (package 1.8.1) beyond Elastic's test documents: the outcome from
//! `ActionResult`, every timestamp form, IPv6 and invalid actor IPs, the error formats of the era
//! (bare processor messages, quoted pipeline failures, no `pipeline_error` for processor
//! messages), the `json` processor that ignores failures, both input shapes, hostile records.

mod common;

use cfship_ecs::logpush::Ds;
use common::logpush::{
    assert_both_shapes_agree, assert_error_list, assert_hostile_lines_give_documents_and,
    hostile_lines, run, run_doc, transformer, with,
};
use serde_json::{json, Value};

const DS: Ds = Ds::Audit;

fn base() -> Value {
    json!({
        "ActionResult": true, "ActionType": "Token_Create", "ActorEmail": "user@example.com",
        "ActorID": "actor-1", "ActorIP": "81.2.69.142", "ActorType": "user", "ID": "id-1",
        "Interface": "UI", "Metadata": {"token_name": "t"}, "NewValue": {"k": "v"},
        "OldValue": {"k": "old"}, "OwnerID": "owner-1", "ResourceID": "res-1",
        "ResourceType": "account", "When": "2021-11-30T20:19:48Z"
    })
}

fn run1(rec: &Value) -> Value {
    run(&transformer(None, true), DS, rec)
}

#[test]
fn outcome_from_action_result() {
    for (r, want) in [
        (json!(true), "success"),
        (json!(false), "failure"),
        (json!("true"), "failure"),
        (json!(1), "failure"),
    ] {
        let d = run1(&with(&base(), json!({ "ActionResult": r })));
        assert_eq!(d["event"]["outcome"], want, "{r}");
        assert_eq!(d["cloudflare_logpush"]["audit"]["action"]["result"], want);
    }
    let d = run1(&with(&base(), json!({ "ActionResult": null })));
    assert_eq!(d["event"]["outcome"], "failure");
}

#[test]
fn a_full_record() {
    let d = run1(&base());
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["event"]["category"], json!(["authentication"]));
    assert_eq!(d["event"]["type"], json!(["info"]));
    assert_eq!(d["event"]["kind"], "event");
    assert_eq!(d["event"]["action"], "token_create");
    assert_eq!(d["event"]["id"], "id-1");
    assert_eq!(d["event"]["provider"], "UI");
    assert_eq!(
        d["user"],
        json!({"email": "user@example.com", "id": "actor-1"})
    );
    assert_eq!(d["source"]["ip"], "81.2.69.142");
    assert_eq!(
        d["related"],
        json!({"ip": ["81.2.69.142"], "user": ["actor-1"]})
    );
    let c = &d["cloudflare_logpush"]["audit"];
    assert_eq!(c["action"]["type"], "Token_Create");
    assert_eq!(c["owner"]["id"], "owner-1");
    assert_eq!(c["new_value"], json!({"k": "v"}));
    assert_eq!(c["timestamp"], "2021-11-30T20:19:48.000Z");
}

#[test]
fn every_timestamp_form() {
    for (v, want) in [
        (json!(1638303588), "2021-11-30T20:19:48.000Z"),
        (json!(1638303588999u64), "2021-11-30T20:19:48.999Z"),
        (json!(1638303588999000000u64), "2021-11-30T20:19:48.999Z"),
        (json!("1638303588"), "2021-11-30T20:19:48.000Z"),
        (json!("1638303588999"), "2021-11-30T20:19:48.999Z"),
        (json!("1638303588999000000"), "2021-11-30T20:19:48.999Z"),
        (
            json!("2021-11-30T20:19:48.999Z"),
            "2021-11-30T20:19:48.999Z",
        ),
        (
            json!("2021-11-30T20:19:48.999999999Z"),
            "2021-11-30T20:19:48.999Z",
        ),
        (
            json!("2021-11-30T21:19:48+01:00"),
            "2021-11-30T20:19:48.000Z",
        ),
    ] {
        let d = run1(&with(&base(), json!({ "When": v })));
        assert_eq!(d["@timestamp"], want, "{v}: {d}");
        assert!(d.get("error").is_none(), "{v}");
    }
}

#[test]
fn error_formats_of_the_era() {
    // A processor's own handler appends the bare message; the document stays an event (1.8).
    let d = run1(&with(&base(), json!({"When": "never", "ActorIP": "bad"})));
    assert_eq!(
        d["error"]["message"],
        json!([
            "For input string: \"never\"",
            "'bad' is not an IP string literal."
        ])
    );
    assert_eq!(d["event"]["kind"], "event");
    assert!(d.get("@timestamp").is_none() && d.get("source").is_none());
    assert_eq!(d["user"]["id"], "actor-1");
    // A failing processor without a handler fails the pipeline: the quoted format, no tag.
    let (d, doc) = run_doc(
        &transformer(None, true),
        DS,
        &with(&base(), json!({"ActionType": 5})).to_string(),
    );
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        d["error"]["message"],
        json!(["Processor 'lowercase' failed with message 'field [event.action] of type [java.lang.Integer] cannot be cast to [java.lang.String]'"])
    );
    assert!(doc.error.is_some());
    assert!(d["event"]["original"].is_string());
}

#[test]
fn ipv6_and_optional_fields() {
    let d = run1(&with(&base(), json!({"ActorIP": "2001:db8::5"})));
    assert_eq!(d["source"]["ip"], "2001:db8::5");
    assert_eq!(d["related"]["ip"], json!(["2001:db8::5"]));
    // Every field but the time is optional.
    let d = run1(&json!({"When": 1638303588}));
    assert!(d.get("error").is_none(), "{d}");
    assert!(d.get("user").is_none() && d.get("related").is_none());
    assert_eq!(d["event"]["outcome"], "failure");
    // Empty values are dropped.
    let d = run1(&with(
        &base(),
        json!({"Interface": "", "Metadata": {}, "NewValue": [], "ActorIP": ""}),
    ));
    assert!(d["event"].get("provider").is_none());
    let c = &d["cloudflare_logpush"]["audit"];
    assert!(c.get("interface").is_none() && c.get("metadata").is_none());
    assert!(c.get("new_value").is_none() && c["actor"].get("ip").is_none());
}

#[test]
fn json_failures_are_ignored() {
    for line in ["not json", "[1]", "{", "42"] {
        let (d, doc) = run_doc(&transformer(None, true), DS, line);
        assert!(doc.error.is_none(), "{line}");
        assert_eq!(d["event"]["kind"], "event");
        assert_eq!(d["event"]["outcome"], "failure");
        assert_eq!(d["event"]["original"], line);
    }
}

#[test]
fn duplicates_both_shapes_and_hostile_records() {
    let (d, _) = run_doc(&transformer(None, false), DS, &base().to_string());
    let c = &d["cloudflare_logpush"]["audit"];
    for p in [
        "/timestamp",
        "/action",
        "/id",
        "/interface",
        "/actor/ip",
        "/actor/email",
        "/actor/id",
    ] {
        assert!(c.pointer(p).is_none(), "{p}: {c}");
    }
    assert_eq!(c["actor"]["type"], "user");
    assert_eq!(d["event"]["outcome"], "success");

    let t = transformer(None, true);
    assert_both_shapes_agree(&t, DS, &base());

    assert_hostile_lines_give_documents_and(&t, DS, &hostile_lines(&base()), assert_error_list);
}
