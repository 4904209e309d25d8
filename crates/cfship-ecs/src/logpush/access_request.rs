//! `access_request` (Cloudflare `access_requests`): package 1.10.0, the pipeline
//! `packages/cloudflare_logpush/data_stream/access_request/elasticsearch/ingest_pipeline/default.yml`
//! at 026ead0e, processor by processor. Upstream behaviour kept: the `set … copy_from` processors
//! have neither `ignore_failure` nor `ignore_empty_value`, so a record lacking one of the copied
//! fields (or `IPAddress`, whose City lookup has no `ignore_missing`) is a `pipeline_error`
//! document; Cloudflare's two-letter `Country` is written to `client.geo.country_name` and then
//! lost when the City lookup replaces `client.geo`; `url.domain` takes `AppDomain` even when it
//! holds a path.

use super::engine::{mustache, Cond, Const, CopyMode::Strict, Ctx, Geo, OnFail, Step::*};
use super::{Era, Spec};
use crate::doc::Val;
use std::borrow::Cow;

const APPROVERS: &str = "cloudflare_logpush.access_request.temp_access.approvers";

/// `foreach temp_access.approvers { append related.user '{{{_ingest._value}}}'
/// allow_duplicates: false }` if the field is not null: every element of a list, every value of
/// a map; anything else is the processor's error.
fn approvers(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let values: Vec<String> = match ctx.get(APPROVERS) {
        None | Some(Val::Null) => return Ok(()),
        Some(Val::Arr(a)) => a.iter().map(value_text).collect(),
        Some(Val::Obj(o)) => o.iter().map(|(_, v)| value_text(v)).collect(),
        Some(other) => {
            return Err(format!(
                "field [{APPROVERS}] of type [{}] cannot be cast to a list or map",
                crate::convert::java_type(other)
            ))
        }
    };
    for v in values {
        ctx.append("related.user", Val::Str(Cow::Owned(v)))?;
    }
    Ok(())
}

/// Mustache of one element (`null` renders as nothing).
fn value_text(v: &Val<'_>) -> String {
    match v {
        Val::Null => String::new(),
        v => mustache(v),
    }
}

const C: &str = "cloudflare_logpush.access_request";

pub static SPEC: Spec = Spec {
    name: "access_request",
    dataset: C,
    cloudflare: "access_requests",
    version: "1.10.0",
    ecs: "8.10.0",
    era: Era::V1_EARLY,
    json_ignore_failure: false,
    steps: &[
        Set("event.category", Const::List(&["network"])),
        Set("event.type", Const::List(&["access"])),
        Set("event.kind", Const::Str("event")),
        ToMilli("json.CreatedAt"),
        Date("json.CreatedAt", "@timestamp", OnFail::Append),
        Copy("@timestamp", "cloudflare_logpush.access_request.timestamp", Strict),
        Rename("json.Action", "cloudflare_logpush.access_request.action"),
        Copy("cloudflare_logpush.access_request.action", "event.action", Strict),
        Rename("json.Allowed", "cloudflare_logpush.access_request.allowed"),
        AppendIf("event.type", "allowed", Cond::True("cloudflare_logpush.access_request.allowed")),
        AppendIf("event.type", "denied", Cond::False("cloudflare_logpush.access_request.allowed")),
        Rename("json.AppDomain", "cloudflare_logpush.access_request.app.domain"),
        Copy("cloudflare_logpush.access_request.app.domain", "url.domain", Strict),
        Rename("json.AppUUID", "cloudflare_logpush.access_request.app.uuid"),
        Rename("json.Connection", "cloudflare_logpush.access_request.connection"),
        Rename("json.Country", "cloudflare_logpush.access_request.country"),
        Copy("cloudflare_logpush.access_request.country", "client.geo.country_name", Strict),
        Rename("json.Email", "cloudflare_logpush.access_request.user.email"),
        Copy("cloudflare_logpush.access_request.user.email", "user.email", Strict),
        Rename("json.IPAddress", "cloudflare_logpush.access_request.client.ip"),
        Copy("cloudflare_logpush.access_request.client.ip", "client.ip", Strict),
        GeoIp(Geo::CLIENT),
        Rename("json.PurposeJustificationPrompt", "cloudflare_logpush.access_request.request.prompt"),
        Rename("json.PurposeJustificationResponse", "cloudflare_logpush.access_request.request.response"),
        Rename("json.RayID", "cloudflare_logpush.access_request.ray.id"),
        Copy("cloudflare_logpush.access_request.ray.id", "event.id", Strict),
        Rename("json.TemporaryAccessApprovers", "cloudflare_logpush.access_request.temp_access.approvers"),
        Rename("json.TemporaryAccessDuration", "cloudflare_logpush.access_request.temp_access.duration"),
        Rename("json.UserUID", "cloudflare_logpush.access_request.user.id"),
        Copy("cloudflare_logpush.access_request.user.id", "user.id", Strict),
        Related("related.ip", "client.ip"),
        Related("related.user", "user.id"),
        Related("related.user", "user.email"),
        // `foreach … if: approvers != null`: a failure is the conditional wrapper's.
        If(&Custom("foreach", "", approvers, OnFail::Abort)),
        RemoveJson,
        RemoveDuplicates(&[
            "cloudflare_logpush.access_request.timestamp",
            "cloudflare_logpush.access_request.action",
            "cloudflare_logpush.access_request.allowed",
            "cloudflare_logpush.access_request.app.domain",
            "cloudflare_logpush.access_request.country",
            "cloudflare_logpush.access_request.client.ip",
            "cloudflare_logpush.access_request.ray.id",
            "cloudflare_logpush.access_request.user.id",
            "cloudflare_logpush.access_request.user.email",
        ]),
    ],
};
