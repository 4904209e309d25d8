//! `cloudflare_logpush.access_request` (package 1.10.0) beyond Elastic's test documents: the
//! `Allowed` categorisation, the strict copies of the 1.x era (a missing field fails the
//! pipeline), every timestamp form, IPv6 and GeoIP replacing `client.geo`, the approvers
//! `foreach`, both input shapes, and hostile records.

mod common;

use cfship_ecs::logpush::Ds;
use common::logpush::{
    assert_both_shapes_agree, assert_hostile_lines_give_documents, errors, hostile_lines, run,
    transformer, with,
};
use serde_json::{json, Value};

/// `_ingest.on_failure_pipeline` of a top-level pipeline: unset, so it renders as nothing.
const PIPELINE: &str = "";

const DS: Ds = Ds::AccessRequest;

fn base() -> Value {
    json!({
        "Action": "login", "Allowed": true, "AppDomain": "app.example.com", "AppUUID": "u-1",
        "Connection": "onetimepin", "Country": "de", "CreatedAt": 1684862313,
        "Email": "user@example.com", "IPAddress": "192.0.2.1", "RayID": "ray1",
        "TemporaryAccessApprovers": ["a@example.com", "b@example.com"],
        "TemporaryAccessDuration": 60, "UserUID": "uid-1"
    })
}

fn run1(rec: &Value) -> Value {
    run(&transformer(None, true), DS, rec)
}

#[test]
fn allowed_categorises_the_event() {
    for (allowed, want) in [
        (json!(true), json!(["access", "allowed"])),
        (json!(false), json!(["access", "denied"])),
        // Only JSON booleans match the `== true` / `== false` conditions.
        (json!("true"), json!(["access"])),
        (json!(1), json!(["access"])),
    ] {
        let d = run1(&with(&base(), json!({ "Allowed": allowed })));
        assert_eq!(d["event"]["type"], want, "{allowed}");
        assert_eq!(d["event"]["kind"], "event");
        assert_eq!(d["event"]["category"], json!(["network"]));
    }
    let d = run1(&with(&base(), json!({ "Allowed": null })));
    assert_eq!(d["event"]["type"], json!(["access"]));
}

#[test]
fn a_full_record() {
    let d = run1(&base());
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["@timestamp"], "2023-05-23T17:18:33.000Z");
    assert_eq!(d["event"]["action"], "login");
    assert_eq!(d["event"]["id"], "ray1");
    assert_eq!(d["url"]["domain"], "app.example.com");
    assert_eq!(
        d["user"],
        json!({"email": "user@example.com", "id": "uid-1"})
    );
    // Without GeoIP data the copied country stays where upstream writes it.
    assert_eq!(
        d["client"],
        json!({"ip": "192.0.2.1", "geo": {"country_name": "de"}})
    );
    assert_eq!(d["related"]["ip"], json!(["192.0.2.1"]));
    assert_eq!(
        d["related"]["user"],
        json!([
            "uid-1",
            "user@example.com",
            "a@example.com",
            "b@example.com"
        ])
    );
    let c = &d["cloudflare_logpush"]["access_request"];
    assert_eq!(c["temp_access"]["duration"], 60);
    assert_eq!(c["timestamp"], "2023-05-23T17:18:33.000Z");
}

#[test]
fn geoip_replaces_client_geo_and_handles_ipv6() {
    let Some(geo) = common::geoip() else { return };
    let t = transformer(Some(geo), true);
    let d = run(
        &t,
        DS,
        &with(&base(), json!({"IPAddress": "2a02:cf40::23"})),
    );
    assert_eq!(d["client"]["ip"], "2a02:cf40::23");
    assert_eq!(d["client"]["geo"]["country_iso_code"], "NO");
    assert_ne!(d["client"]["geo"]["country_name"], "de");
    assert_eq!(d["related"]["ip"], json!(["2a02:cf40::23"]));
    let d = run(
        &t,
        DS,
        &with(&base(), json!({"IPAddress": "89.160.20.129"})),
    );
    assert_eq!(d["client"]["as"]["number"], 29518);
    assert_eq!(d["client"]["as"]["organization"]["name"], "Bredband2 AB");
    // A private address has no City record: the copied country stays.
    let d = run(&t, DS, &with(&base(), json!({"IPAddress": "10.0.0.1"})));
    assert_eq!(d["client"]["geo"], json!({"country_name": "de"}));
    // Not an IP: the geoip processor fails the pipeline.
    let d = run(&t, DS, &with(&base(), json!({"IPAddress": "nope"})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        errors(&d),
        vec![format!("Processor \"geoip\" in pipeline \"{PIPELINE}\" failed with message \"'nope' is not an IP string literal.\"")]
    );
}

#[test]
fn every_timestamp_form() {
    for (v, want) in [
        (json!(1684862313), "2023-05-23T17:18:33.000Z"),
        (json!(1684862313123u64), "2023-05-23T17:18:33.123Z"),
        (json!(1684862313123456789u64), "2023-05-23T17:18:33.123Z"),
        (json!("1684862313"), "2023-05-23T17:18:33.000Z"),
        (json!("1684862313123"), "2023-05-23T17:18:33.123Z"),
        (json!("1684862313123456789"), "2023-05-23T17:18:33.123Z"),
        (json!("2023-05-23T17:18:33Z"), "2023-05-23T17:18:33.000Z"),
        (
            json!("2023-05-23T17:18:33.123Z"),
            "2023-05-23T17:18:33.123Z",
        ),
        (
            json!("2023-05-23T17:18:33.123456789Z"),
            "2023-05-23T17:18:33.123Z",
        ),
        (
            json!("2023-05-24T02:48:33+09:30"),
            "2023-05-23T17:18:33.000Z",
        ),
    ] {
        let d = run1(&with(&base(), json!({ "CreatedAt": v })));
        assert_eq!(d["@timestamp"], want, "{v}: {d}");
        assert!(d.get("error").is_none(), "{v}");
    }
    // An unparsable time: the date appends its error, then the strict copy of @timestamp fails.
    let d = run1(&with(&base(), json!({"CreatedAt": "soon"})));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        errors(&d),
        vec![
            "For input string: \"soon\"".to_string(),
            format!("Processor \"set\" in pipeline \"{PIPELINE}\" failed with message \"field [@timestamp] not present as part of path [@timestamp]\""),
        ]
    );
}

#[test]
fn missing_fields_fail_the_strict_copies_as_upstream() {
    for (field, path) in [
        ("Action", "cloudflare_logpush.access_request.action"),
        ("AppDomain", "cloudflare_logpush.access_request.app.domain"),
        ("Country", "cloudflare_logpush.access_request.country"),
        ("Email", "cloudflare_logpush.access_request.user.email"),
        ("IPAddress", "cloudflare_logpush.access_request.client.ip"),
        ("RayID", "cloudflare_logpush.access_request.ray.id"),
        ("UserUID", "cloudflare_logpush.access_request.user.id"),
    ] {
        let d = run1(&with(&base(), json!({ field: null })));
        assert_eq!(d["event"]["kind"], "pipeline_error", "{field}");
        let last = path.rsplit('.').next().unwrap();
        let errs = errors(&d);
        assert_eq!(errs.len(), 1, "{field}: {errs:?}");
        assert!(
            errs[0].starts_with(&format!("Processor \"set\" in pipeline \"{PIPELINE}\"")),
            "{field}: {errs:?}"
        );
        assert!(
            errs[0].contains(&format!("as part of path [{path}]")) && errs[0].contains(last),
            "{field}: {errs:?}"
        );
        // The original is kept for a failed document.
        assert!(d["event"]["original"].is_string());
    }
    // Optional fields without a copy are simply absent.
    let d = run1(&with(
        &base(),
        json!({
            "AppUUID": null, "Connection": null, "TemporaryAccessApprovers": null,
            "TemporaryAccessDuration": null, "Allowed": null
        }),
    ));
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["related"]["user"], json!(["uid-1", "user@example.com"]));
}

#[test]
fn approvers_foreach() {
    let d = run1(&with(&base(), json!({"TemporaryAccessApprovers": []})));
    assert!(d["cloudflare_logpush"]["access_request"]
        .get("temp_access")
        .unwrap()
        .get("approvers")
        .is_none());
    assert_eq!(d["related"]["user"], json!(["uid-1", "user@example.com"]));
    // Duplicates are not appended twice; a map's values are appended.
    let d = run1(&with(
        &base(),
        json!({"TemporaryAccessApprovers": ["user@example.com", "x@example.com", "x@example.com"]}),
    ));
    assert_eq!(
        d["related"]["user"],
        json!(["uid-1", "user@example.com", "x@example.com"])
    );
    let d = run1(&with(
        &base(),
        json!({"TemporaryAccessApprovers": {"first": "m@example.com"}}),
    ));
    assert_eq!(
        d["related"]["user"],
        json!(["uid-1", "user@example.com", "m@example.com"])
    );
    let d = run1(&with(
        &base(),
        json!({"TemporaryAccessApprovers": "solo@example.com"}),
    ));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        errors(&d),
        // The foreach has an `if:`: Elasticsearch reports the conditional wrapper's type.
        vec![format!("Processor \"conditional\" in pipeline \"{PIPELINE}\" failed with message \"field [cloudflare_logpush.access_request.temp_access.approvers] of type [java.lang.String] cannot be cast to a list or map\"")]
    );
    // A list element that is a list renders as mustache renders a list: its index map.
    let d = run1(&with(
        &base(),
        json!({"TemporaryAccessApprovers": [["a", "b"]], "UserUID": ["u", 1]}),
    ));
    assert_eq!(
        d["related"]["user"],
        json!(["{0=u, 1=1}", "user@example.com", "{0=a, 1=b}"])
    );
}

#[test]
fn a_date_on_a_list_or_map_parses_its_java_text() {
    for (v, text) in [
        (json!(["a", "b"]), "[a, b]"),
        (json!({"nested": "x"}), "{nested=x}"),
        (json!([1, 2]), "[1, 2]"),
    ] {
        let d = run1(&with(&base(), json!({ "CreatedAt": v })));
        assert_eq!(
            errors(&d)[0],
            format!("For input string: \"{text}\""),
            "{d}"
        );
    }
}

#[test]
fn duplicates_removed_without_the_tag_and_both_shapes_agree() {
    let t = transformer(None, false);
    let d = run(&t, DS, &base());
    let c = &d["cloudflare_logpush"]["access_request"];
    for k in ["timestamp", "action", "allowed", "country", "client", "ray"] {
        assert!(c.get(k).is_none(), "{k}: {c}");
    }
    assert!(c["app"].get("domain").is_none() && c["app"]["uuid"] == "u-1");
    assert!(c.get("user").is_none());
    assert_eq!(d["user"]["id"], "uid-1");

    let t = transformer(None, true);
    assert_both_shapes_agree(&t, DS, &base());
}

#[test]
fn hostile_records_give_one_document_each() {
    let t = transformer(None, true);
    let mut lines = hostile_lines(&base());
    lines.extend(
        [
            "{\"CreatedAt\": 1e400}",
            "{\"CreatedAt\": -99999999999999999999}",
        ]
        .map(String::from),
    );
    assert_hostile_lines_give_documents(&t, DS, &lines);
    let d = run(&t, DS, &json!([1]));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert!(errors(&d)[0].starts_with("Processor \"json\""), "{d}");
}
