//! Audit Logs v2 API records mapped onto v1 (`cfship_ecs::audit_v2::to_v1`): for every event of
//! the simulator (which renders each event both as its v1 and its v2 record), the document of the
//! mapped v2 record agrees with the v1 record's on every field v2 carries (v2's action types are the generic
//! `create`/`update`/`delete`/… where v1 has detailed ones).

use cfship_cloudflare_sim::data::{audit_events, audit_v1_json, audit_v2_json};
use cfship_ecs::{audit_v2, Dataset, Options, Outcome, Transformer};
use serde_json::Value;

fn doc(t: &Transformer, rec: &str) -> Value {
    match t.transform(Dataset::Audit, rec, 0) {
        Outcome::Doc(d) => {
            assert!(d.error.is_none(), "{:?}: {rec}", d.error);
            serde_json::from_str(&d.source).unwrap()
        }
        Outcome::Dropped => panic!("dropped: {rec}"),
    }
}

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

#[test]
fn v2_records_give_the_v1_document_on_every_field_v2_has() {
    let t = Transformer::new(Options::default(), None).unwrap();
    let events = audit_events(3, "acc", 50, 1_764_000_000_000_000, 1_764_036_000_000_000);
    assert!(events.len() > 100);
    for e in &events {
        let v1 = audit_v1_json(3, "acc", e);
        let v2 = audit_v2_json(3, "acc", e);
        let mapped = audit_v2::to_v1(&v2.to_string()).unwrap();
        let (a, b) = (doc(&t, &mapped), doc(&t, &v1.to_string()));
        for f in [
            "@timestamp",
            "event.outcome",
            "user.email",
            "source.ip",
            "cloudflare.audit.actor.type",
            "cloudflare.audit.resource.id",
            "cloudflare.audit.resource.type",
        ] {
            assert_eq!(at(&a, f), at(&b, f), "{f}: {v2}");
        }
        // v2 action types are generic (create/update/delete/…), v1's detailed (rec_set, …).
        assert_eq!(at(&a, "event.action"), at(&v2, "action.type"));
        // v2 ids are v1's without dashes; the interface follows the actor context.
        assert_eq!(
            at(&a, "event.id").as_str().unwrap(),
            at(&b, "event.id").as_str().unwrap().replace('-', "")
        );
        let want = match at(&b, "event.provider").as_str() {
            Some("UI") => "UI",
            _ => "API",
        };
        assert_eq!(at(&a, "event.provider"), want);
        assert_eq!(at(&a, "cloudflare.audit.owner.id"), "acc");
    }
}

#[test]
fn unmappable_records_are_errors_that_name_the_reason() {
    assert_eq!(
        audit_v2::to_v1(r#"{"id":"x"}"#).unwrap_err().to_string(),
        "audit v2 record has no action.time"
    );
    assert!(audit_v2::to_v1("nope")
        .unwrap_err()
        .to_string()
        .starts_with("audit v2 record is not a JSON object"));
}
