//! `cloudflare.audit`: Elastic's audit `default.yml` ingest pipeline (package 2.22.0), processor
//! by processor (docs/cloudflare-pipelines.md).

use crate::convert::java_type;
use crate::doc::{Obj, Val};
use crate::processors::{rename, Fail};
use crate::time::{parse_date, Formats};
use crate::Transformer;
use std::borrow::Cow;

pub const PIPELINE: &str = "logs-cloudflare.audit-2.22.0";

/// What a record parses to: a record, or the un-split empty API page that the pipeline drops.
pub(crate) enum Parsed<'a> {
    Record(Obj<'a>),
    EmptyPage,
}

/// The `json` processor, then `drop` of an empty `result` page.
pub(crate) fn parse(original: &str) -> Result<Parsed<'_>, Fail> {
    let v: Val<'_> = serde_json::from_str(original).map_err(|e| {
        Fail::new(
            "json",
            "json_event_original",
            crate::json_error_message(original, &e),
        )
    })?;
    let Val::Obj(json) = v else {
        return Err(Fail::new(
            "json",
            "json_event_original",
            format!("record is a JSON {} and not an object", json_kind(&v)),
        ));
    };
    match json.get("result") {
        Some(Val::Arr(a)) if a.is_empty() => return Ok(Parsed::EmptyPage),
        Some(Val::Obj(o)) if o.is_empty() => return Ok(Parsed::EmptyPage),
        _ => {}
    }
    Ok(Parsed::Record(json))
}

fn json_kind(v: &Val<'_>) -> &'static str {
    match v {
        Val::Arr(_) => "array",
        Val::Str(_) => "string",
        Val::Null => "null",
        Val::Bool(_) => "boolean",
        _ => "number",
    }
}

/// `event.category` / `event.type` of the "Add ECS categorization" script.
pub fn categorization(action: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    Some(match action {
        "login" => (&["authentication"], &["info"]),
        "token_create" => (&["iam"], &["creation"]),
        "token_revoke" => (&["iam"], &["deletion"]),
        "token_roll" => (&["iam"], &["change"]),
        "api_key_view" => (&["iam"], &["info"]),
        "rotate_api_key" => (&["iam"], &["change"]),
        "api_key_created" => (&["iam"], &["creation"]),
        "purge" => (&["configuration"], &["deletion"]),
        "tls_settings_deployed" => (&["configuration"], &["info"]),
        "add" => (&["configuration"], &["creation"]),
        "delete" => (&["configuration"], &["deletion"]),
        "rec_add" => (&["configuration"], &["creation"]),
        "rec_del" => (&["configuration"], &["deletion"]),
        "pending" => (&["configuration"], &["info"]),
        "change_setting" => (&["configuration"], &["change"]),
        "add_enforce_twofactor" => (&["iam", "configuration"], &["admin", "info"]),
        _ => return None,
    })
}

fn list(items: &[&'static str]) -> Val<'static> {
    Val::Arr(items.iter().map(|s| Val::Str(Cow::Borrowed(*s))).collect())
}

fn take<'a>(o: &mut Obj<'a>, path: &str) -> Option<Val<'a>> {
    o.remove_path(path).filter(|v| !matches!(v, Val::Null))
}

/// Runs the processors after `json`/`drop`. On failure the fields set so far stay.
/// Returns the `_id` source (`event.id`) when present.
pub(crate) fn process<'a>(
    t: &Transformer,
    doc: &mut Obj<'a>,
    mut json: Obj<'a>,
) -> Result<(), Fail> {
    doc.set("cloud.provider", Val::str("cloudflare"))
        .map_err(|e| Fail::path("set_cloud_provider", "set", e))?;
    if let Some(acct) = t.options().account_id.as_deref().filter(|a| !a.is_empty()) {
        doc.set("cloud.account.id", Val::Str(Cow::Owned(acct.to_string())))
            .map_err(|e| Fail::path("set_cloud_account_id", "set", e))?;
    }

    // @timestamp from `when`, ISO8601, truncated to milliseconds.
    let when = take(&mut json, "when").ok_or_else(|| {
        Fail::new(
            "date",
            "date_json_when",
            "field [when] not present as part of path [json.when]",
        )
    })?;
    // As Elasticsearch reports it: the root cause of the date processor's exception.
    let instant = match &when {
        Val::Str(s) => parse_date(s, Formats::Iso8601Only),
        other => parse_date(&other.to_display_string(), Formats::Iso8601Only),
    }
    .map_err(|m| Fail::new("date", "date_json_when", m))?;
    doc.set("@timestamp", Val::Str(Cow::Owned(instant.format())))
        .map_err(|e| Fail::path("date_json_when", "date", e))?;

    // Action and outcome.
    let result_true = matches!(json.get_path("action.result"), Some(Val::Bool(true)));
    rename(
        doc,
        take(&mut json, "action.type"),
        "event.action",
        "rename_json_action_type",
        "json.action.type",
    )?;
    let lowered = match doc.get_path("event.action") {
        None => None,
        Some(Val::Str(s)) => Some(s.to_lowercase()),
        Some(other) => {
            return Err(Fail::new(
                "lowercase",
                "lowercase_event_action",
                format!(
                    "field [event.action] of type [{}] cannot be cast to [java.lang.String]",
                    java_type(other)
                ),
            ))
        }
    };
    if let Some(a) = &lowered {
        doc.set("event.action", Val::Str(Cow::Owned(a.clone())))
            .map_err(|e| Fail::path("lowercase_event_action", "lowercase", e))?;
    }
    let outcome = if result_true { "success" } else { "failure" };
    let fix = t.options().fix_upstream_bugs;
    doc.set("event.outcome", Val::str(outcome))
        .map_err(|e| Fail::path("set_event_outcome", "set", e).conditional())?;

    // Actor.
    rename(
        doc,
        take(&mut json, "actor.email"),
        "user.email",
        "rename_json_actor_email",
        "json.actor.email",
    )?;
    rename(
        doc,
        take(&mut json, "actor.id"),
        "user.id",
        "rename_json_actor_id",
        "json.actor.id",
    )?;
    rename(
        doc,
        take(&mut json, "actor.ip"),
        "source.address",
        "rename_json_actor_ip",
        "json.actor.ip",
    )?;
    // convert to ip without ignore_failure: a non-IP address fails the document.
    let ip = match doc.get_path("source.address") {
        None => None,
        Some(v) => {
            let s = v.to_display_string();
            match s.parse::<std::net::IpAddr>() {
                Ok(ip) => Some((s, ip)),
                Err(_) => {
                    return Err(Fail::new(
                        "convert",
                        "convert_source_address_to_source_ip",
                        format!("'{s}' is not an IP string literal."),
                    ))
                }
            }
        }
    };
    if let Some((s, ip)) = &ip {
        doc.set("source.ip", Val::Str(Cow::Owned(s.clone())))
            .map_err(|e| Fail::path("convert_source_address_to_source_ip", "convert", e))?;
        if let Some(geo) = t.geo_city(*ip) {
            doc.set("source.geo", Val::Obj(geo.to_obj()))
                .map_err(|e| Fail::path("geoip_source_ip", "geoip", e))?;
        }
        crate::processors::source_asn(doc, t.geo_asn(*ip).as_deref())?;
    }
    rename(
        doc,
        take(&mut json, "actor.type"),
        "cloudflare.audit.actor.type",
        "rename_json_actor_type",
        "json.actor.type",
    )?;
    rename(
        doc,
        take(&mut json, "id"),
        "event.id",
        "rename_json_id",
        "json.id",
    )?;

    // interface → event.provider unless "".
    match take(&mut json, "interface") {
        Some(Val::Str(s)) if s.is_empty() => {}
        other => crate::processors::cond(rename(
            doc,
            other,
            "event.provider",
            "rename_json_interface",
            "json.interface",
        ))?,
    }
    rename(
        doc,
        take(&mut json, "metadata"),
        "cloudflare.audit.metadata",
        "rename_json_metadata",
        "json.metadata",
    )?;
    rename(
        doc,
        take(&mut json, "newValueJson"),
        "cloudflare.audit.new_value",
        "rename_json_new_value_json",
        "json.newValueJson",
    )?;
    rename(
        doc,
        take(&mut json, "oldValueJson"),
        "cloudflare.audit.old_value",
        "rename_json_old_value_json",
        "json.oldValueJson",
    )?;
    for (key, target, tag) in [
        (
            "newValue",
            "cloudflare.audit.new_value.value",
            "rename_json_new_value",
        ),
        (
            "oldValue",
            "cloudflare.audit.old_value.value",
            "rename_json_old_value",
        ),
    ] {
        match take(&mut json, key) {
            Some(Val::Str(s)) if s == "null" => {}
            other => crate::processors::cond(rename(doc, other, target, tag, key))?,
        }
    }
    rename(
        doc,
        take(&mut json, "owner.id"),
        "cloudflare.audit.owner.id",
        "rename_json_owner_id",
        "json.owner.id",
    )?;
    rename(
        doc,
        take(&mut json, "resource"),
        "cloudflare.audit.resource",
        "rename_json_resource",
        "json.resource",
    )?;

    // related.*
    if let Some(uid) = doc.get_path("user.id").map(Val::to_display_string) {
        doc.append("related.user", Val::Str(Cow::Owned(uid)), false)
            .map_err(|e| Fail::path("append_related_user", "append", e).conditional())?;
    }
    let resource_user = match (
        doc.get_path("cloudflare.audit.resource.type"),
        doc.get_path("cloudflare.audit.resource.id"),
    ) {
        (Some(Val::Str(ty)), Some(id)) if ty == "user" => Some(id.to_display_string()),
        _ => None,
    };
    if let Some(id) = resource_user {
        doc.append("related.user", Val::Str(Cow::Owned(id)), false)
            .map_err(|e| Fail::path("append_related_user_resource", "append", e).conditional())?;
    }
    if let Some((s, _)) = ip {
        doc.append("related.ip", Val::Str(Cow::Owned(s)), false)
            .map_err(|e| Fail::path("append_related_ip", "append", e).conditional())?;
    }

    // ECS categorisation script.
    doc.set("event.kind", Val::str("event"))
        .map_err(|e| Fail::path("script_categorization", "script", e))?;
    // Upstream writes the string "info" for unknown actions (spec §8.2); fixed: a list.
    let info = if fix {
        list(&["info"])
    } else {
        Val::str("info")
    };
    doc.set("event.type", info)
        .map_err(|e| Fail::path("script_categorization", "script", e))?;
    if let Some((category, types)) = lowered.as_deref().and_then(categorization) {
        doc.set("event.category", list(category))
            .map_err(|e| Fail::path("script_categorization", "script", e))?;
        doc.set("event.type", list(types))
            .map_err(|e| Fail::path("script_categorization", "script", e))?;
        // Upstream forces success for every login, even a failed one (spec §8.2).
        if lowered.as_deref() == Some("login") && !fix {
            doc.set("event.outcome", Val::str("success"))
                .map_err(|e| Fail::path("script_categorization", "script", e))?;
        }
    }
    Ok(())
}
