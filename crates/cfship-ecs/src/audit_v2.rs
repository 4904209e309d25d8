//! Cloudflare **Audit Logs v2** onto the v1 record shape Elastic's pipelines read.
//!
//! Elastic has no pipeline for v2 (neither the `cloudflare` integration, which reads the v1 API,
//! nor `cloudflare_logpush`, whose `audit` data stream reads the v1 Logpush dataset). cfship maps
//! each v2 record onto the v1 record first, so v2 sources give the same documents, dashboards and
//! rules as v1 ones (docs/audit-v2.md):
//!
//! * [`to_v1`]: a record of the API (`GET /accounts/{id}/logs/audit`, snake_case nested fields)
//!   → a v1 API record (`/accounts/{id}/audit_logs`) for the `cloudflare.audit` pipeline;
//! * [`logpush_to_v1`]: a record of the Logpush dataset `audit_logs_v2` (PascalCase flat fields)
//!   → a record of the Logpush dataset `audit_logs`, for the `cloudflare_logpush.audit` pipeline
//!   (`logpush::audit_logs_v2`).
//!
//! Both follow one table:
//!
//! | v1 | from v2 |
//! |---|---|
//! | id | `id` / `AuditLogID` |
//! | time (`when` / `When`) | `action.time` / `ActionTimestamp` |
//! | action type | `action.type` / `ActionType` |
//! | action result (bool) | `action.result` / `ActionResult` equals `success` (any case) |
//! | actor id, email, type | same fields |
//! | actor ip | `actor.ip_address` / `ActorIPAddress` |
//! | interface | actor context: `dash` → `UI`; `api_key`, `api_token`, `oauth`, `origin_ca_key` → `API` |
//! | owner id | `account.id` / `AccountID` |
//! | resource | id and type (API: the whole `resource` object but `request`/`response`) |
//! | metadata | the v2 facts v1 has no field for: actor context, token id and name, account name, zone id and name, the raw request (ray id, method, uri, user agent, status code); Logpush also the action description, resource product and scope |
//! | new / old value | v2 has none (Cloudflare: "no before/after values yet"): `""` in the API shape, absent in the Logpush shape |
//!
//! The action description is the API v1 `action.info`.

use crate::doc::{Obj, Val};
use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// Why a v2 record cannot be mapped (it then becomes a `pipeline_error` document).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditV2Error {
    #[error("audit v2 record is not a JSON object: {0}")]
    NotJson(String),
    #[error("audit v2 record has no {0}")]
    Missing(&'static str),
}

/// The v1 `interface` of a v2 actor context.
pub fn interface(context: &str) -> &'static str {
    match context {
        "dash" => "UI",
        "api_key" | "api_token" | "oauth" | "origin_ca_key" => "API",
        _ => "",
    }
}

/// A v2 API record (`/accounts/{id}/logs/audit`) as the v1 API record (`/accounts/{id}/audit_logs`).
pub fn to_v1(record: &str) -> Result<String, AuditV2Error> {
    let v: Value = match serde_json::from_str(record) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return Err(AuditV2Error::NotJson("not an object".into())),
        Err(e) => return Err(AuditV2Error::NotJson(e.to_string())),
    };
    let get = |path: &[&str]| -> Option<&Value> {
        let mut cur = &v;
        for p in path {
            cur = cur.get(p)?;
        }
        (!cur.is_null()).then_some(cur)
    };
    let s = |path: &[&str]| get(path).and_then(Value::as_str).unwrap_or("").to_string();
    let id = s(&["id"]);
    if id.is_empty() {
        return Err(AuditV2Error::Missing("id"));
    }
    let when = s(&["action", "time"]);
    if when.is_empty() {
        return Err(AuditV2Error::Missing("action.time"));
    }
    let mut actor = Map::new();
    for (k, from) in [
        ("email", "email"),
        ("id", "id"),
        ("ip", "ip_address"),
        ("type", "type"),
    ] {
        let x = s(&["actor", from]);
        if !x.is_empty() {
            actor.insert(k.into(), Value::String(x));
        }
    }
    let mut metadata = Map::new();
    for (k, path) in [
        ("actor_context", &["actor", "context"][..]),
        ("token_id", &["actor", "token_id"]),
        ("token_name", &["actor", "token_name"]),
        ("account_name", &["account", "name"]),
        ("zone_id", &["zone", "id"]),
        ("zone_name", &["zone", "name"]),
        ("cf_ray_id", &["raw", "cf_ray_id"]),
        ("method", &["raw", "method"]),
        ("uri", &["raw", "uri"]),
        ("user_agent", &["raw", "user_agent"]),
    ] {
        let x = s(path);
        if !x.is_empty() {
            metadata.insert(k.into(), Value::String(x));
        }
    }
    if let Some(code) = get(&["raw", "status_code"]) {
        metadata.insert("status_code".into(), code.clone());
    }
    let mut resource = Map::new();
    if let Some(Value::Object(r)) = get(&["resource"]) {
        for (k, x) in r {
            if k != "request" && k != "response" && !x.is_null() {
                resource.insert(k.clone(), x.clone());
            }
        }
    }
    let mut action = json!({
        "result": s(&["action", "result"]).eq_ignore_ascii_case("success"),
        "type": s(&["action", "type"]),
    });
    let desc = s(&["action", "description"]);
    if !desc.is_empty() {
        action["info"] = Value::String(desc);
    }
    let out = json!({
        "action": action,
        "actor": actor,
        "id": id,
        "interface": interface(&s(&["actor", "context"])),
        "metadata": metadata,
        "newValue": "",
        "oldValue": "",
        "owner": {"id": s(&["account", "id"])},
        "resource": resource,
        "when": when,
    });
    // Serialising a `Value` built here cannot fail (string keys, no non-finite floats).
    Ok(out.to_string())
}

/// A record of the Logpush dataset `audit_logs_v2`, parsed, rewritten in place into a record of
/// the Logpush dataset `audit_logs` (the fields the `cloudflare_logpush.audit` pipeline reads).
/// Fields v1 has no name for move into `Metadata`; the request/response/value objects are dropped
/// (v1 has no place for them, and their size is unbounded).
pub fn logpush_to_v1<'a>(rec: &mut Obj<'a>) {
    let text = |rec: &Obj<'_>, k: &str| match rec.get(k) {
        Some(Val::Str(s)) if !s.is_empty() => Some(s.to_string()),
        _ => None,
    };
    let mut meta: Obj<'a> = Obj::new();
    let context = text(rec, "ActorContext");
    if let Some(c) = &context {
        meta.insert("actor_context", Val::Str(Cow::Owned(c.clone())));
    }
    if let Some(Val::Obj(t)) = rec.get("ActorTokenDetails") {
        for (from, to) in [("id", "token_id"), ("name", "token_name")] {
            if let Some(Val::Str(s)) = t.get(from) {
                if !s.is_empty() {
                    meta.insert(to, Val::Str(Cow::Owned(s.to_string())));
                }
            }
        }
    }
    for (from, to) in [
        ("AccountName", "account_name"),
        ("ZoneID", "zone_id"),
        ("ZoneName", "zone_name"),
        ("ActionDescription", "action_description"),
        ("ResourceProduct", "resource_product"),
        ("ResourceScope", "resource_scope"),
    ] {
        if let Some(s) = text(rec, from) {
            meta.insert(to, Val::Str(Cow::Owned(s)));
        }
    }
    if let Some(Val::Obj(raw)) = rec.get("Raw") {
        for (from, to) in [
            ("cf_ray_id", "cf_ray_id"),
            ("method", "method"),
            ("uri", "uri"),
            ("user_agent", "user_agent"),
            ("status_code", "status_code"),
        ] {
            match raw.get(from) {
                Some(Val::Null) | None => {}
                Some(Val::Str(s)) if s.is_empty() => {}
                Some(v) => meta.insert(to, v.clone()),
            }
        }
    }
    let result = match rec.get("ActionResult") {
        Some(Val::Str(s)) => Some(s.eq_ignore_ascii_case("success")),
        Some(Val::Bool(b)) => Some(*b),
        _ => None,
    };
    let mut out: Obj<'a> = Obj::with_capacity(16);
    let take = |rec: &mut Obj<'a>, from: &str, to: &'static str, out: &mut Obj<'a>| {
        if let Some(v) = rec.remove(from) {
            out.insert(to, v);
        }
    };
    if let Some(r) = result {
        out.insert("ActionResult", Val::Bool(r));
    }
    take(rec, "ActionType", "ActionType", &mut out);
    take(rec, "ActorEmail", "ActorEmail", &mut out);
    take(rec, "ActorID", "ActorID", &mut out);
    take(rec, "ActorIPAddress", "ActorIP", &mut out);
    take(rec, "ActorType", "ActorType", &mut out);
    take(rec, "AuditLogID", "ID", &mut out);
    if let Some(c) = &context {
        let i = interface(c);
        if !i.is_empty() {
            out.insert("Interface", Val::str(i));
        }
    }
    if !meta.is_empty() {
        out.insert("Metadata", Val::Obj(meta));
    }
    take(rec, "AccountID", "OwnerID", &mut out);
    take(rec, "ResourceID", "ResourceID", &mut out);
    take(rec, "ResourceType", "ResourceType", &mut out);
    take(rec, "ActionTimestamp", "When", &mut out);
    *rec = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_records_without_id_or_time_are_refused_with_the_reason() {
        assert_eq!(
            to_v1(r#"{"id":"x"}"#),
            Err(AuditV2Error::Missing("action.time"))
        );
        assert_eq!(
            to_v1(r#"{"action":{"time":"2026-01-01T00:00:00Z"}}"#),
            Err(AuditV2Error::Missing("id"))
        );
        assert!(matches!(to_v1("nope"), Err(AuditV2Error::NotJson(_))));
        assert!(matches!(to_v1("[1]"), Err(AuditV2Error::NotJson(_))));
    }

    #[test]
    fn interfaces_follow_the_actor_context() {
        assert_eq!(interface("dash"), "UI");
        for c in ["api_key", "api_token", "oauth", "origin_ca_key"] {
            assert_eq!(interface(c), "API");
        }
        assert_eq!(interface("system"), "");
    }
}
