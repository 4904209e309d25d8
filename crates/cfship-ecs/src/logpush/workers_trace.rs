//! `workers_trace` (Cloudflare `workers_trace_events`): package 1.8.1 (ECS 8.9.0; the golden era
//! is "1.8.x"). No copy of a 1.8.x pipeline was at hand; the table is the stored ECS 8.8.0
//! pipeline
//! (`packages/cloudflare_logpush/data_stream/workers_trace/elasticsearch/ingest_pipeline/default.yml`
//! at 00abff87) with what 1.8.1 brought to every data stream: the timestamp script (s / ms / ns)
//! and the `date` formats `UNIX_MS`, `ISO8601`, `yyyy-MM-dd'T'HH:mm:ssZ`. Every processor carries
//! a tag and every error message names it ([`super::ErrorStyle::V1Tagged`]); the `json`
//! processor's tag (`json_event_original`) is not carried (the engine's `json` step has none).
//! Upstream behaviour kept: `set cloudflare_logpush.workers_trace.timestamp` and `set
//! event.action` are strict, so a record without a parsable `EventTimestampMs` or without
//! `EventType` is a `pipeline_error` document; `uri_parts` has no failure handler.

use super::engine::{CopyMode::IgnoreEmpty, CopyMode::Strict, Ctx, OnFail, Step::*};
use super::engine::{Cond, Const};
use super::{Era, Spec};
use crate::doc::{Obj, Val};
use std::borrow::Cow;

const W: &str = "cloudflare_logpush.workers_trace";

/// `set event.outcome: success if outcome == 'ok'`, `failure if == 'exception'`.
fn outcome(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let o = match ctx.get("cloudflare_logpush.workers_trace.outcome") {
        Some(Val::Str(s)) if s == "ok" => "success",
        Some(Val::Str(s)) if s == "exception" => "failure",
        _ => return Ok(()),
    };
    ctx.set("event.outcome", Val::str(o))
}

/// Java `replaceAll("([a-z])([A-Z]+)", "$1_$2").toLowerCase()` on a key.
fn snake(k: &str) -> String {
    let b: Vec<char> = k.chars().collect();
    let mut out = String::with_capacity(k.len() + 4);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        out.push(c);
        i += 1;
        if c.is_ascii_lowercase() && i < b.len() && b[i].is_ascii_uppercase() {
            out.push('_');
            while i < b.len() && b[i].is_ascii_uppercase() {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out.to_lowercase()
}

/// `keysToSnakeCase`: every key of a map, recursively through maps and through maps that are
/// direct elements of lists (a list inside a list is left alone, as upstream).
fn snake_map<'a>(m: &Obj<'a>) -> Obj<'a> {
    let mut out = Obj::with_capacity(m.len());
    for (k, v) in m.iter() {
        let v = match v {
            Val::Obj(o) => Val::Obj(snake_map(o)),
            Val::Arr(a) => Val::Arr(
                a.iter()
                    .map(|x| match x {
                        Val::Obj(o) => Val::Obj(snake_map(o)),
                        other => other.clone(),
                    })
                    .collect(),
            ),
            other => other.clone(),
        };
        // Java's `HashMap.put`: a key that snake-cases onto an earlier one replaces it.
        out.insert(Cow::Owned(snake(k)), v);
    }
    out
}

fn snake_case(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    match ctx.take(W) {
        Some(Val::Obj(o)) => ctx.set(W, Val::Obj(snake_map(&o))),
        Some(other) => {
            // Painless: `keysToSnakeCase(Map)` with a non-map argument.
            let t = crate::convert::java_type(&other);
            ctx.set(W, other)?;
            Err(format!("Cannot cast {t} to java.util.Map"))
        }
        None => Err(
            "cannot access method/field [workers_trace] from a null def reference".to_string(),
        ),
    }
}

pub static SPEC: Spec = Spec {
    name: "workers_trace",
    dataset: W,
    cloudflare: "workers_trace_events",
    version: "1.8.1",
    ecs: "8.9.0",
    era: Era::V1_EARLY_TAGGED,
    json_ignore_failure: false,
    steps: &[
        Set("event.category", Const::List(&["web"])),
        Set("event.type", Const::List(&["info"])),
        Set("event.kind", Const::Str("event")),
        ToMilli("json.EventTimestampMs"),
        Tagged("date_event_timestamp", &Date("json.EventTimestampMs", "@timestamp", OnFail::Append)),
        Tagged("set_timestamp", &Copy("@timestamp", "cloudflare_logpush.workers_trace.timestamp", Strict)),
        Tagged("rename_event_type", &Rename("json.EventType", "cloudflare_logpush.workers_trace.type")),
        Tagged("set_event_action", &Copy("cloudflare_logpush.workers_trace.type", "event.action", Strict)),
        Tagged("rename_outcome", &Rename("json.Outcome", "cloudflare_logpush.workers_trace.outcome")),
        Custom("set", "set_event_outcome_success", outcome, OnFail::Abort),
        Tagged("append_event_type_error", &AppendIf("event.type", "error", Cond::Eq("event.outcome", "failure"))),
        Tagged("rename_dispatch_namespace", &Rename("json.DispatchNamespace", "cloudflare_logpush.workers_trace.dispatch_namespace")),
        Tagged("rename_event", &Rename("json.Event", "cloudflare_logpush.workers_trace.event")),
        Tagged("rename_exceptions", &Rename("json.Exceptions", "cloudflare_logpush.workers_trace.exceptions")),
        Tagged("rename_logs", &Rename("json.Logs", "cloudflare_logpush.workers_trace.logs")),
        Tagged("rename_script_name", &Rename("json.ScriptName", "cloudflare_logpush.workers_trace.script.name")),
        Tagged("rename_script_tags", &Rename("json.ScriptTags", "cloudflare_logpush.workers_trace.script.tags")),
        Script("script_convert_snake_case", snake_case, OnFail::Abort),
        Tagged("set_event_id", &Copy("cloudflare_logpush.workers_trace.event.ray_id", "event.id", IgnoreEmpty)),
        Tagged("set_http_request_method", &Copy("cloudflare_logpush.workers_trace.event.request.method", "http.request.method", IgnoreEmpty)),
        Tagged("set_http_response_status", &Copy("cloudflare_logpush.workers_trace.event.response.status", "http.response.status_code", IgnoreEmpty)),
        Tagged("uri_parts_http_url", &UriParts("cloudflare_logpush.workers_trace.event.request.url", true, OnFail::Abort)),
        RemoveJson,
        RemoveDuplicates(&[
            "cloudflare_logpush.workers_trace.event.ray_id",
            "cloudflare_logpush.workers_trace.event.request.method",
            "cloudflare_logpush.workers_trace.event.request.url",
            "cloudflare_logpush.workers_trace.event.response.status",
            "cloudflare_logpush.workers_trace.outcome",
            "cloudflare_logpush.workers_trace.timestamp",
            "cloudflare_logpush.workers_trace.type",
        ]),
    ],
};

#[cfg(test)]
mod tests {
    #[test]
    fn snake_case_like_java() {
        assert_eq!(super::snake("RayID"), "ray_id");
        assert_eq!(super::snake("Message"), "message");
        assert_eq!(super::snake("aBcD"), "a_bc_d");
        assert_eq!(super::snake("URL"), "url");
        assert_eq!(super::snake("level"), "level");
        assert_eq!(super::snake("cpuTimeMs"), "cpu_time_ms");
    }
}
