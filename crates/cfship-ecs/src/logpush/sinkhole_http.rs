//! `sinkhole_http` (Cloudflare `sinkhole_http_logs`): package 1.44.0 [unverified which 1.x release:
//! the golden documents say only "ECS 8.11.0", i.e. 1.17 – 1.44; the data stream came in 1.12.0].
//! The table follows the pipeline
//! `packages/cloudflare_logpush/data_stream/sinkhole_http/elasticsearch/ingest_pipeline/default.yml`
//! at 5c39cccd (the golden expected file's commit; ECS 8.11.0), checked against it by the
//! differential oracle (docs/oracles.md). Its timestamp script normalises numbers and numeric
//! strings (s / ms / ns → ms); `user_agent` has no `if:` guard, so `""` is parsed (name and
//! device `Other`); processors append the bare message and the pipeline's `on_failure` writes the
//! tagged, double-quoted format ([`super::ErrorStyle::V1TaggedPipeline`]). Upstream behaviour kept:
//! `set cloudflare_logpush.sinkhole_http.timestamp` is strict (a record without a parsable
//! `Timestamp` is a `pipeline_error` document); the City lookups have no `ignore_missing`, so a
//! record without `DestAddr` or `SrcAddr` fails too; the HTTP `Host` goes to ECS `host.name`.

use super::engine::{CopyMode::IgnoreEmpty, CopyMode::Strict, Ctx, Geo, OnFail, Step::*};
use super::engine::Const;
use super::{Era, Spec};
use crate::doc::Val;
use std::borrow::Cow;

const HEADERS: &str = "cloudflare_logpush.sinkhole_http.request.headers";

/// `split { separator: '\n', ignore_missing: true }`: Java's `String.split` (trailing empty
/// strings dropped).
fn split_headers(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let parts: Vec<String> = match ctx.get(HEADERS) {
        None | Some(Val::Null) => return Ok(()),
        Some(Val::Str(s)) => {
            let mut p: Vec<String> = s.split('\n').map(str::to_string).collect();
            // Java drops trailing empty strings, but `"".split(…)` is `[""]`.
            while p.len() > 1 && p.last().is_some_and(String::is_empty) {
                p.pop();
            }
            p
        }
        Some(other) => {
            return Err(format!(
                "field [{HEADERS}] of type [{}] cannot be cast to [java.lang.String]",
                crate::convert::java_type(other)
            ))
        }
    };
    ctx.set(
        HEADERS,
        Val::Arr(parts.into_iter().map(|p| Val::Str(Cow::Owned(p))).collect()),
    )
}

pub static SPEC: Spec = Spec {
    name: "sinkhole_http",
    dataset: "cloudflare_logpush.sinkhole_http",
    cloudflare: "sinkhole_http_logs",
    version: "1.44.0",
    ecs: "8.11.0",
    era: Era {
        json_tag: "json_event_original",
        ..Era::V1_LATE_TAGGED_PIPELINE
    },
    json_ignore_failure: false,
    steps: &[
        Set("event.kind", Const::Str("event")),
        Set("event.category", Const::List(&["network"])),
        Set("event.type", Const::List(&["info"])),
        Tagged("painless_timestamp_to_milli", &ToMilli("json.Timestamp")),
        Tagged("date_event_timestamp", &Date("json.Timestamp", "@timestamp", OnFail::Append)),
        Tagged("set_timestamp", &Copy("@timestamp", "cloudflare_logpush.sinkhole_http.timestamp", Strict)),
        Tagged("rename_destination_ip", &Rename("json.DestAddr", "cloudflare_logpush.sinkhole_http.destination.ip")),
        Tagged("set_destination_ip", &Copy("cloudflare_logpush.sinkhole_http.destination.ip", "destination.ip", IgnoreEmpty)),
        Tagged("geo_destination_ip", &GeoIp(Geo::DESTINATION)),
        Tagged("rename_source_ip", &Rename("json.SrcAddr", "cloudflare_logpush.sinkhole_http.source.ip")),
        Tagged("set_source_ip", &Copy("cloudflare_logpush.sinkhole_http.source.ip", "source.ip", IgnoreEmpty)),
        Tagged("geo_source_ip", &GeoIp(Geo::SOURCE)),
        Tagged("rename_http_body", &Rename("json.Body", "cloudflare_logpush.sinkhole_http.request.body.content")),
        Tagged("set_http_body", &Copy("cloudflare_logpush.sinkhole_http.request.body.content", "http.request.body.content", IgnoreEmpty)),
        Tagged("rename_http_body_bytes", &Rename("json.BodyLength", "cloudflare_logpush.sinkhole_http.request.body.bytes")),
        Tagged("set_http_body_bytes", &Copy("cloudflare_logpush.sinkhole_http.request.body.bytes", "http.request.body.bytes", IgnoreEmpty)),
        Tagged("rename_http_method", &Rename("json.Method", "cloudflare_logpush.sinkhole_http.request.method")),
        Tagged("set_http_method", &Copy("cloudflare_logpush.sinkhole_http.request.method", "http.request.method", IgnoreEmpty)),
        Tagged("rename_http_referrer", &Rename("json.Referrer", "cloudflare_logpush.sinkhole_http.request.referrer")),
        Tagged("set_http_referrer", &Copy("cloudflare_logpush.sinkhole_http.request.referrer", "http.request.referrer", IgnoreEmpty)),
        Tagged("rename_http_host", &Rename("json.Host", "cloudflare_logpush.sinkhole_http.host.name")),
        Tagged("set_http_host", &Copy("cloudflare_logpush.sinkhole_http.host.name", "host.name", IgnoreEmpty)),
        Rename("json.URI", "cloudflare_logpush.sinkhole_http.request.uri"),
        Rename("json.URL", "cloudflare_logpush.sinkhole_http.request.url"),
        // `uri_parts … if: url != null && url != ''`: a failure is the conditional wrapper's.
        If(&UriParts("cloudflare_logpush.sinkhole_http.request.url", true, OnFail::Abort)),
        Tagged("rename_user_agent", &Rename("json.UserAgent", "cloudflare_logpush.sinkhole_http.user_agent")),
        // No `if:` guard here: "" is parsed (name and device `Other`).
        UserAgentAll("cloudflare_logpush.sinkhole_http.user_agent"),
        Tagged("rename_username", &Rename("json.Username", "cloudflare_logpush.sinkhole_http.user.name")),
        Tagged("set_username", &Copy("cloudflare_logpush.sinkhole_http.user.name", "user.name", IgnoreEmpty)),
        Tagged("rename_account_id", &Rename("json.AccountID", "cloudflare_logpush.sinkhole_http.account_id")),
        Tagged("rename_request_headers", &Rename("json.Headers", "cloudflare_logpush.sinkhole_http.request.headers")),
        Custom("split", "split_headers", split_headers, OnFail::Abort),
        Tagged("rename_request_password", &Rename("json.Password", "cloudflare_logpush.sinkhole_http.request.password")),
        Tagged("rename_r2path", &Rename("json.R2Path", "cloudflare_logpush.sinkhole_http.r2path")),
        Tagged("rename_sinkhole_id", &Rename("json.SinkholeID", "cloudflare_logpush.sinkhole_http.sinkhole_id")),
        Related("related.ip", "destination.ip"),
        Related("related.ip", "source.ip"),
        Related("related.hosts", "host.name"),
        Related("related.user", "user.name"),
        RemoveJson,
        RemoveDuplicates(&[
            "cloudflare_logpush.sinkhole_http.timestamp",
            "cloudflare_logpush.sinkhole_http.destination.ip",
            "cloudflare_logpush.sinkhole_http.source.ip",
            "cloudflare_logpush.sinkhole_http.request.body.content",
            "cloudflare_logpush.sinkhole_http.request.body.bytes",
            "cloudflare_logpush.sinkhole_http.request.method",
            "cloudflare_logpush.sinkhole_http.request.referrer",
            "cloudflare_logpush.sinkhole_http.host.name",
            "cloudflare_logpush.sinkhole_http.user.name",
            "cloudflare_logpush.sinkhole_http.user_agent",
            "cloudflare_logpush.sinkhole_http.request.uri",
            "cloudflare_logpush.sinkhole_http.request.url",
        ]),
    ],
};
