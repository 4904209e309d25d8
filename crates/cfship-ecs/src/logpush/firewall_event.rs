//! `firewall_event` (Cloudflare `firewall_events`): package 1.17.0. No copy of the 1.17.0
//! pipeline text was at hand; the table is the stored pipeline
//! (`packages/cloudflare_logpush/data_stream/firewall_event/elasticsearch/ingest_pipeline/default.yml`)
//! without what the changelog adds after 1.17.0 (`event.id` from RayID in 1.31.0, the 1.36/1.37
//! fields, ECS 9.3.0 and the tagged error format of 1.45.0), in the 1.x style (processors append
//! the bare failure message; copies have `ignore_failure`). Upstream behaviour kept:
//! `source.geo.country_iso_code` is Cloudflare's lower-case `ClientCountry` (upper-cased in 2.0.1).

use super::engine::{Const, CopyMode::IgnoreEmpty, Ctx, OnFail, Step::*, Ty};
use super::{Era, Spec};
use crate::doc::Val;
use std::borrow::Cow;

/// `grok "^%{DATA:network.protocol}/%{DATA:http.version}$"` on the request protocol (`HTTP/1.1`),
/// then `lowercase network.protocol`. A value without `/` (`none`, `unknown`) matches nothing.
fn protocol(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let Some(Val::Str(p)) = ctx.get("cloudflare_logpush.firewall_event.client.request.protocol")
    else {
        return Ok(());
    };
    let Some((proto, version)) = p.split_once('/') else {
        return Ok(());
    };
    let (proto, version) = (proto.to_lowercase(), version.to_string());
    ctx.set("network.protocol", Val::Str(Cow::Owned(proto)))?;
    ctx.set("http.version", Val::Str(Cow::Owned(version)))
}

/// Trims the leading `?` of `url.query`.
fn trim_query(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    if let Some(Val::Str(q)) = ctx.get("url.query") {
        if let Some(rest) = q.strip_prefix('?') {
            let rest = rest.to_string();
            ctx.set("url.query", Val::Str(Cow::Owned(rest)))?;
        }
    }
    Ok(())
}

const C: &str = "cloudflare_logpush.firewall_event";

pub static SPEC: Spec = Spec {
    name: "firewall_event",
    dataset: C,
    cloudflare: "firewall_events",
    version: "1.17.0",
    ecs: "8.11.0",
    era: Era::V1_EARLY,
    json_ignore_failure: true,
    steps: &[
        Set("event.category", Const::List(&["network"])),
        Set("event.kind", Const::Str("event")),
        Set("event.type", Const::List(&["info"])),
        ToMilli("json.Datetime"),
        Date("json.Datetime", "@timestamp", OnFail::Append),
        Copy("@timestamp", "cloudflare_logpush.firewall_event.timestamp", IgnoreEmpty),
        Rename("json.Action", "cloudflare_logpush.firewall_event.action"),
        Copy("cloudflare_logpush.firewall_event.action", "event.action", IgnoreEmpty),
        Lowercase("event.action"),
        Rename("json.ClientRequestMethod", "cloudflare_logpush.firewall_event.client.request.method"),
        Copy("cloudflare_logpush.firewall_event.client.request.method", "http.request.method", IgnoreEmpty),
        Convert("json.EdgeResponseStatus", "cloudflare_logpush.firewall_event.edge.response.status", Ty::Long, OnFail::Append),
        Copy("cloudflare_logpush.firewall_event.edge.response.status", "http.response.status_code", IgnoreEmpty),
        Rename("json.RuleID", "cloudflare_logpush.firewall_event.rule.id"),
        Copy("cloudflare_logpush.firewall_event.rule.id", "rule.id", IgnoreEmpty),
        Convert("json.ClientASN", "cloudflare_logpush.firewall_event.client.asn.value", Ty::Long, OnFail::Append),
        Copy("cloudflare_logpush.firewall_event.client.asn.value", "source.as.number", IgnoreEmpty),
        Rename("json.ClientCountry", "cloudflare_logpush.firewall_event.client.country"),
        Copy("cloudflare_logpush.firewall_event.client.country", "source.geo.country_iso_code", IgnoreEmpty),
        Convert("json.ClientIP", "cloudflare_logpush.firewall_event.client.ip", Ty::Ip, OnFail::Append),
        Copy("cloudflare_logpush.firewall_event.client.ip", "source.ip", IgnoreEmpty),
        Rename("json.ClientASNDescription", "cloudflare_logpush.firewall_event.client.asn.description"),
        Rename("json.ClientIPClass", "cloudflare_logpush.firewall_event.client.ip_class"),
        Rename("json.ClientRefererHost", "cloudflare_logpush.firewall_event.client.referer.host"),
        Rename("json.ClientRefererPath", "cloudflare_logpush.firewall_event.client.referer.path"),
        Rename("json.ClientRefererQuery", "cloudflare_logpush.firewall_event.client.referer.query"),
        Rename("json.ClientRefererScheme", "cloudflare_logpush.firewall_event.client.referer.scheme"),
        CopyIfAbsent("json.ClientRequestHost", "url.domain"),
        Rename("json.ClientRequestHost", "cloudflare_logpush.firewall_event.client.request.host"),
        CopyIfAbsent("json.ClientRequestPath", "url.path"),
        Rename("json.ClientRequestPath", "cloudflare_logpush.firewall_event.client.request.path"),
        Rename("json.ClientRequestProtocol", "cloudflare_logpush.firewall_event.client.request.protocol"),
        Script("grok_client_request_protocol", protocol, OnFail::Abort),
        CopyIfAbsent("json.ClientRequestQuery", "url.query"),
        Script("trim_url_query", trim_query, OnFail::Append),
        Rename("json.ClientRequestQuery", "cloudflare_logpush.firewall_event.client.request.query"),
        Rename("json.ClientRequestScheme", "cloudflare_logpush.firewall_event.client.request.scheme"),
        Copy("cloudflare_logpush.firewall_event.client.request.scheme", "url.scheme", IgnoreEmpty),
        UserAgent("json.ClientRequestUserAgent"),
        Rename("json.ClientRequestUserAgent", "cloudflare_logpush.firewall_event.client.request.user.agent"),
        Rename("json.EdgeColoCode", "cloudflare_logpush.firewall_event.edge.colo.code"),
        Rename("json.Kind", "cloudflare_logpush.firewall_event.kind"),
        Convert("json.MatchIndex", "cloudflare_logpush.firewall_event.match_index", Ty::Long, OnFail::Append),
        Rename("json.Metadata", "cloudflare_logpush.firewall_event.meta_data"),
        Convert("json.OriginResponseStatus", "cloudflare_logpush.firewall_event.origin.response.status", Ty::Long, OnFail::Append),
        Rename("json.OriginatorRayID", "cloudflare_logpush.firewall_event.origin.ray.id"),
        Rename("json.RayID", "cloudflare_logpush.firewall_event.ray.id"),
        Rename("json.Source", "cloudflare_logpush.firewall_event.source"),
        Related("related.ip", "cloudflare_logpush.firewall_event.client.ip"),
        Related("related.hosts", "cloudflare_logpush.firewall_event.client.referer.host"),
        Related("related.hosts", "cloudflare_logpush.firewall_event.client.request.host"),
        RemoveJson,
        RemoveDuplicates(&[
            "cloudflare_logpush.firewall_event.timestamp",
            "cloudflare_logpush.firewall_event.action",
            "cloudflare_logpush.firewall_event.client.request.method",
            "cloudflare_logpush.firewall_event.edge.response.status",
            "cloudflare_logpush.firewall_event.rule.id",
            "cloudflare_logpush.firewall_event.client.asn.value",
            "cloudflare_logpush.firewall_event.client.country",
            "cloudflare_logpush.firewall_event.client.ip",
        ]),
    ],
};
