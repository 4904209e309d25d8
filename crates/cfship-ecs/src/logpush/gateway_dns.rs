//! `gateway_dns` (Cloudflare `gateway_dns`): package 1.10.0. No copy of the 1.10.0 pipeline text
//! was at hand; the table is the stored ECS 8.11.0 pipeline
//! (`packages/cloudflare_logpush/data_stream/gateway_dns/elasticsearch/ingest_pipeline/default.yml`
//! at 039e5b7c) with ECS 8.10.0 — its output equals the 1.10.0 test documents. Upstream behaviour
//! kept: the `set … copy_from` processors are strict (a record lacking one of the copied fields —
//! `Datetime`, `DeviceID`, `DeviceName`, `Email`, `DstIP`, `DstPort`, `Protocol`, `QueryName`,
//! `QueryTypeName`, `RCode`, `RData`, `ResolvedIPs`, `SrcIP`, `SrcPort`, `TimeZone`, `UserID` — is a
//! `pipeline_error` document; the City lookups have no `ignore_missing`; fixed in 1.32/1.33/1.37.2);
//! `ResolvedIPs` fills the root field `dns.resolved_ip`, which ECS does not define;
//! `dns.response_code` is the numeric code as a string (IANA names from 2.0.0).

use super::engine::{Const, CopyMode::Strict, Ctx, Geo, OnFail, Step::*, Ty};
use super::{Era, Spec};
use crate::doc::Val;

/// Painless `ctx.json?.RCode == 0` / `> 0` on a def value: numbers compare numerically; `== 0`
/// is false for anything else, while `> 0` throws for a non-number.
fn outcome(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let n = match ctx.get("json.RCode") {
        None | Some(Val::Null) => return Ok(()),
        Some(Val::I64(i)) => *i as f64,
        Some(Val::U64(u)) => *u as f64,
        Some(Val::F64(f)) => *f,
        Some(other) => {
            return Err(format!(
                "Cannot apply [>] operation to types [{}] and [java.lang.Integer].",
                crate::convert::java_type(other)
            ))
        }
    };
    if n == 0.0 {
        ctx.set("event.outcome", Val::str("success"))?;
    } else if n > 0.0 {
        ctx.set("event.outcome", Val::str("failure"))?;
    }
    Ok(())
}

const C: &str = "cloudflare_logpush.gateway_dns";

pub static SPEC: Spec = Spec {
    name: "gateway_dns",
    dataset: C,
    cloudflare: "gateway_dns",
    version: "1.10.0",
    ecs: "8.10.0",
    era: Era::V1_EARLY,
    json_ignore_failure: false,
    steps: &[
        Set("event.category", Const::List(&["network"])),
        Set("event.kind", Const::Str("event")),
        Set("event.type", Const::List(&["info"])),
        ToMilli("json.Datetime"),
        Date("json.Datetime", "@timestamp", OnFail::Append),
        Copy("@timestamp", "cloudflare_logpush.gateway_dns.timestamp", Strict),
        Rename("json.DeviceID", "cloudflare_logpush.gateway_dns.host.id"),
        Copy("cloudflare_logpush.gateway_dns.host.id", "host.id", Strict),
        Rename("json.DeviceName", "cloudflare_logpush.gateway_dns.host.name"),
        Copy("cloudflare_logpush.gateway_dns.host.name", "host.name", Strict),
        Rename("json.Email", "cloudflare_logpush.gateway_dns.user.email"),
        Copy("cloudflare_logpush.gateway_dns.user.email", "user.email", Strict),
        Rename("json.DstIP", "cloudflare_logpush.gateway_dns.destination.ip"),
        Copy("cloudflare_logpush.gateway_dns.destination.ip", "destination.ip", Strict),
        GeoIp(Geo::DESTINATION),
        Rename("json.DstPort", "cloudflare_logpush.gateway_dns.destination.port"),
        Copy("cloudflare_logpush.gateway_dns.destination.port", "destination.port", Strict),
        Rename("json.Protocol", "cloudflare_logpush.gateway_dns.protocol"),
        Copy("cloudflare_logpush.gateway_dns.protocol", "network.protocol", Strict),
        Rename("json.QueryName", "cloudflare_logpush.gateway_dns.question.name"),
        Copy("cloudflare_logpush.gateway_dns.question.name", "dns.question.name", Strict),
        Rename("json.QueryTypeName", "cloudflare_logpush.gateway_dns.question.type"),
        Copy("cloudflare_logpush.gateway_dns.question.type", "dns.question.type", Strict),
        Custom("conditional", "", outcome, OnFail::Abort),
        Convert("json.RCode", "cloudflare_logpush.gateway_dns.response_code", Ty::Str, OnFail::Append),
        Copy("cloudflare_logpush.gateway_dns.response_code", "dns.response_code", Strict),
        Rename("json.RData", "cloudflare_logpush.gateway_dns.answers"),
        Copy("cloudflare_logpush.gateway_dns.answers", "dns.answers", Strict),
        Rename("json.ResolvedIPs", "cloudflare_logpush.gateway_dns.resolved_ip"),
        Copy("cloudflare_logpush.gateway_dns.resolved_ip", "dns.resolved_ip", Strict),
        Rename("json.SrcIP", "cloudflare_logpush.gateway_dns.source.ip"),
        Copy("cloudflare_logpush.gateway_dns.source.ip", "source.ip", Strict),
        GeoIp(Geo::SOURCE),
        Rename("json.SrcPort", "cloudflare_logpush.gateway_dns.source.port"),
        Copy("cloudflare_logpush.gateway_dns.source.port", "source.port", Strict),
        Rename("json.TimeZone", "cloudflare_logpush.gateway_dns.timezone"),
        Copy("cloudflare_logpush.gateway_dns.timezone", "event.timezone", Strict),
        Rename("json.UserID", "cloudflare_logpush.gateway_dns.user.id"),
        Copy("cloudflare_logpush.gateway_dns.user.id", "user.id", Strict),
        Rename("json.ColoCode", "cloudflare_logpush.gateway_dns.colo.code"),
        Rename("json.ColoID", "cloudflare_logpush.gateway_dns.colo.id"),
        Rename("json.ApplicationID", "cloudflare_logpush.gateway_dns.application_id"),
        Rename("json.Location", "cloudflare_logpush.gateway_dns.location.name"),
        Rename("json.LocationID", "cloudflare_logpush.gateway_dns.location.id"),
        Rename("json.MatchedCategoryIDs", "cloudflare_logpush.gateway_dns.matched.category.ids"),
        Rename("json.MatchedCategoryNames", "cloudflare_logpush.gateway_dns.matched.category.names"),
        Rename("json.Policy", "cloudflare_logpush.gateway_dns.policy.name"),
        Rename("json.PolicyID", "cloudflare_logpush.gateway_dns.policy.id"),
        Rename("json.QueryCategoryIDs", "cloudflare_logpush.gateway_dns.question.category.ids"),
        Rename("json.QueryCategoryNames", "cloudflare_logpush.gateway_dns.question.category.names"),
        Rename("json.QueryNameReversed", "cloudflare_logpush.gateway_dns.question.reversed"),
        Rename("json.QuerySize", "cloudflare_logpush.gateway_dns.question.size"),
        Rename("json.QueryType", "cloudflare_logpush.gateway_dns.question.type_id"),
        Rename("json.ResolverDecision", "cloudflare_logpush.gateway_dns.resolver_decision"),
        Rename("json.TimeZoneInferredMethod", "cloudflare_logpush.gateway_dns.timezone_inferred_method"),
        Related("related.ip", "source.ip"),
        Related("related.ip", "destination.ip"),
        Related("related.hosts", "host.id"),
        Related("related.hosts", "host.name"),
        Related("related.user", "user.id"),
        Related("related.user", "user.email"),
        RemoveJson,
        RemoveDuplicates(&[
            "cloudflare_logpush.gateway_dns.timestamp",
            "cloudflare_logpush.gateway_dns.host.id",
            "cloudflare_logpush.gateway_dns.host.name",
            "cloudflare_logpush.gateway_dns.destination.ip",
            "cloudflare_logpush.gateway_dns.destination.port",
            "cloudflare_logpush.gateway_dns.protocol",
            "cloudflare_logpush.gateway_dns.question.name",
            "cloudflare_logpush.gateway_dns.question.type",
            "cloudflare_logpush.gateway_dns.response_code",
            "cloudflare_logpush.gateway_dns.answers",
            "cloudflare_logpush.gateway_dns.resolved_ip",
            "cloudflare_logpush.gateway_dns.source.ip",
            "cloudflare_logpush.gateway_dns.source.port",
            "cloudflare_logpush.gateway_dns.timezone",
            "cloudflare_logpush.gateway_dns.user.id",
            "cloudflare_logpush.gateway_dns.user.email",
        ]),
    ],
};
