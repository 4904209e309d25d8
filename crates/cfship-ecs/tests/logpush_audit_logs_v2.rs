//! `cloudflare_logpush.audit_logs_v2` (a Cloudflare dataset with no Elastic pipeline): each record is
//! mapped onto the v1 `audit_logs` fields and goes through the `audit` data stream's pipeline. The
//! v2 record of an event gives the document its v1 record gives, but for what v1 has and v2 lacks
//! (before/after values) and the v2 facts kept as metadata; every action result, actor context,
//! timestamp form, both input shapes, hostile records.

mod common;

use cfship_ecs::logpush::{self, Ds, Input};
use cfship_ecs::{Options, Transformer};
use common::logpush::{
    assert_both_shapes_agree, assert_hostile_lines_give_documents, hostile_lines, run, with,
};
use serde_json::{json, Value};

fn transformer() -> Transformer {
    let opts = Options {
        preserve_original: true,
        tags: vec![
            "preserve_original_event".to_string(),
            "preserve_duplicate_custom_fields".to_string(),
        ],
        namespace: Some("default".into()),
        ..Default::default()
    };
    Transformer::new(opts, None).unwrap()
}

fn doc(ds: Ds, rec: &Value) -> Value {
    run(&transformer(), ds, rec)
}

/// A v2 record (Cloudflare's `audit_logs_v2` field list) and the v1 record (`audit_logs`) of the
/// same event.
fn pair() -> (Value, Value) {
    let v2 = json!({
        "AccountID": "owner-1", "AccountName": "Acme", "ActionDescription": "Create API token",
        "ActionResult": "success", "ActionTimestamp": "2021-11-30T20:19:48Z",
        "ActionType": "create", "ActorContext": "dash", "ActorEmail": "user@example.com",
        "ActorID": "actor-1", "ActorIPAddress": "81.2.69.142",
        "ActorTokenDetails": {"id": "tok-1", "name": "ci"}, "ActorType": "user",
        "AuditLogID": "id1", "Raw": {"cf_ray_id": "8a1b", "method": "POST", "status_code": 200,
        "uri": "/accounts/owner-1/tokens", "user_agent": "curl/8"},
        "ResourceID": "res-1", "ResourceProduct": "api_tokens",
        "ResourceRequest": {"name": "ci", "policies": [1, 2, 3]},
        "ResourceResponse": {"id": "res-1"}, "ResourceScope": "accounts",
        "ResourceType": "account", "ResourceValue": {"x": 1}, "ZoneID": "", "ZoneName": ""
    });
    let v1 = json!({
        "ActionResult": true, "ActionType": "create", "ActorEmail": "user@example.com",
        "ActorID": "actor-1", "ActorIP": "81.2.69.142", "ActorType": "user", "ID": "id1",
        "Interface": "UI", "OwnerID": "owner-1", "ResourceID": "res-1",
        "ResourceType": "account", "When": "2021-11-30T20:19:48Z"
    });
    (v2, v1)
}

#[test]
fn a_v2_record_gives_the_v1_document_of_the_same_event() {
    let (v2, v1) = pair();
    let mut a = doc(Ds::AuditLogsV2, &v2);
    let mut b = doc(Ds::Audit, &v1);
    assert!(a.get("error").is_none(), "{a}");
    // What differs by construction: the record text, the v2-only facts, the tag naming the dataset.
    let meta = a["cloudflare_logpush"]["audit"]
        .as_object_mut()
        .unwrap()
        .remove("metadata")
        .unwrap();
    assert_eq!(
        meta,
        json!({
            "actor_context": "dash", "token_id": "tok-1", "token_name": "ci",
            "account_name": "Acme", "action_description": "Create API token",
            "resource_product": "api_tokens", "resource_scope": "accounts",
            "cf_ray_id": "8a1b", "method": "POST", "uri": "/accounts/owner-1/tokens",
            "user_agent": "curl/8", "status_code": 200
        })
    );
    for d in [&mut a, &mut b] {
        d["event"].as_object_mut().unwrap().remove("original");
    }
    assert_eq!(a, b);
    // The documents belong to the audit data stream.
    assert_eq!(a["data_stream"]["dataset"], "cloudflare_logpush.audit");
    assert_eq!(a["event"]["dataset"], "cloudflare_logpush.audit");
    assert_eq!(Ds::AuditLogsV2.data_stream(), "audit");
    assert!(!Ds::AuditLogsV2.is_elastic());
    assert!(Ds::Audit.is_elastic());
    // request/response/value objects are not carried (v1 has no place for them).
    let s = a.to_string();
    assert!(
        !s.contains("policies") && !s.contains("ResourceValue"),
        "{s}"
    );
}

#[test]
fn action_results_and_actor_contexts() {
    for (r, want) in [
        (json!("success"), "success"),
        (json!("SUCCESS"), "success"),
        (json!("failure"), "failure"),
        (json!(""), "failure"),
        (json!(null), "failure"),
        (json!(true), "success"),
        (json!(7), "failure"),
    ] {
        let d = doc(
            Ds::AuditLogsV2,
            &with(&pair().0, json!({ "ActionResult": r })),
        );
        assert_eq!(d["event"]["outcome"], want, "{r}");
    }
    for (c, want) in [
        ("dash", Some("UI")),
        ("api_key", Some("API")),
        ("api_token", Some("API")),
        ("oauth", Some("API")),
        ("origin_ca_key", Some("API")),
        ("system", None),
    ] {
        let d = doc(
            Ds::AuditLogsV2,
            &with(&pair().0, json!({ "ActorContext": c })),
        );
        assert_eq!(d["event"]["provider"].as_str(), want, "{c}");
        assert_eq!(
            d["cloudflare_logpush"]["audit"]["metadata"]["actor_context"],
            c
        );
    }
}

#[test]
fn every_timestamp_form_of_the_audit_pipeline() {
    for t in [
        json!("2021-11-30T20:19:48Z"),
        json!(1638303588),
        json!("1638303588"),
        json!(1638303588000_i64),
        json!(1638303588000000000_i64),
    ] {
        let d = doc(
            Ds::AuditLogsV2,
            &with(&pair().0, json!({ "ActionTimestamp": t })),
        );
        assert_eq!(d["@timestamp"], "2021-11-30T20:19:48.000Z", "{t}");
    }
    // No time: the read time (as Elastic Agent stamps every event), no error (as for v1).
    let d = doc(
        Ds::AuditLogsV2,
        &with(&pair().0, json!({ "ActionTimestamp": null })),
    );
    assert!(d["@timestamp"].is_string());
    let d = doc(
        Ds::AuditLogsV2,
        &with(&pair().0, json!({ "ActionTimestamp": "yesterday" })),
    );
    assert!(
        d["error"]["message"].to_string().contains("yesterday"),
        "{d}"
    );
}

#[test]
fn ipv6_and_both_input_shapes() {
    let rec = with(&pair().0, json!({ "ActorIPAddress": "2001:db8::1" }));
    let a = doc(Ds::AuditLogsV2, &rec);
    assert_eq!(a["source"]["ip"], "2001:db8::1");
    assert_eq!(a["related"]["ip"], json!(["2001:db8::1"]));
    assert_both_shapes_agree(&transformer(), Ds::AuditLogsV2, &rec);
}

#[test]
fn hostile_records_give_one_document_each_and_never_panic() {
    let t = transformer();
    let mut lines = hostile_lines(&pair().0);
    lines.extend(
        [
            r#"{"ActorTokenDetails":"x","Raw":[1],"ActionResult":{"a":1}}"#,
            r#"{"AuditLogID":{"nested":true},"ActionTimestamp":[1,2]}"#,
            r#"{"ActorIPAddress":"999.1.1.1"}"#,
            "{\"ActionType\":\"\u{0}\u{7f}\"}",
        ]
        .map(String::from),
    );
    assert_hostile_lines_give_documents(&t, Ds::AuditLogsV2, &lines);
    for line in &lines {
        let d = logpush::transform(&t, Ds::AuditLogsV2, Input::Message(line), 0);
        let v: Value = serde_json::from_str(&d.source).unwrap();
        assert_eq!(
            v["data_stream"]["dataset"], "cloudflare_logpush.audit",
            "{line}"
        );
        assert_eq!(d.id, cfship_ecs::fingerprint::fingerprint_str(line));
    }
    // An invalid actor IP is the v1 pipeline's appended convert error.
    let d = doc(
        Ds::AuditLogsV2,
        &with(&pair().0, json!({ "ActorIPAddress": "999.1.1.1" })),
    );
    assert!(
        d["error"]["message"].to_string().contains("999.1.1.1"),
        "{d}"
    );
}

#[test]
fn the_dataset_is_known_by_its_cloudflare_and_data_stream_names() {
    assert_eq!(
        Ds::from_name("cloudflare_logpush.audit_logs_v2"),
        Some(Ds::AuditLogsV2)
    );
    assert_eq!(Ds::AuditLogsV2.spec().cloudflare, "audit_logs_v2");
    assert_eq!(
        "cloudflare_logpush.audit_logs_v2".parse::<cfship_ecs::Dataset>(),
        Ok(cfship_ecs::Dataset::Logpush(Ds::AuditLogsV2))
    );
}

#[test]
fn every_data_stream_is_listed_once_under_its_own_name() {
    let mut names = std::collections::HashSet::new();
    for &ds in Ds::ALL {
        let d = cfship_ecs::Dataset::Logpush(ds);
        assert_eq!(d.name(), format!("cloudflare_logpush.{}", ds.name()));
        assert_eq!(d.name().parse::<cfship_ecs::Dataset>(), Ok(d));
        assert!(names.insert(d.name()), "{} twice", d.name());
    }
    assert_eq!(
        cfship_ecs::Dataset::Logpush(Ds::AuditLogsV2).event_dataset(),
        "cloudflare_logpush.audit"
    );
}
