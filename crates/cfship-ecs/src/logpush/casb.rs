//! `casb` (Cloudflare `casb_findings`): package 1.17.0. The table is the 1.8.1 pipeline
//! (`packages/cloudflare_logpush/data_stream/casb/elasticsearch/ingest_pipeline/default.yml` at
//! 2c141ff3) with what the changelog changes up to 1.17.0: ECS 8.11.0 and `message` →
//! `event.original` only when `event.original` is absent (1.15.0, implied by the engine). Upstream
//! behaviour kept: the `set … copy_from` processors are strict (a record without
//! `DetectedTimestamp`, or with one that does not parse, or without `InstanceID` is a
//! `pipeline_error` document); `event.severity` comes from the exact, case-sensitive names `Low`,
//! `Medium`, `High`, `Critical` (normalised in 1.45.0); `uri_parts` on `AssetLink` has no failure
//! handler, so an unparsable link fails the pipeline.

use super::engine::{Const, CopyMode::Strict, Ctx, OnFail, Step::*};
use super::{Era, Spec};
use crate::doc::Val;

/// The four `set event.severity: <n> if severity == "<Name>"` processors.
fn severity(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let n = match ctx.get("cloudflare_logpush.casb.finding.type.severity") {
        Some(Val::Str(s)) => match &**s {
            "Low" => 1,
            "Medium" => 2,
            "High" => 3,
            "Critical" => 4,
            _ => return Ok(()),
        },
        _ => return Ok(()),
    };
    ctx.set("event.severity", Val::I64(n))
}

pub static SPEC: Spec = Spec {
    name: "casb",
    dataset: "cloudflare_logpush.casb",
    cloudflare: "casb_findings",
    version: "1.17.0",
    ecs: "8.11.0",
    era: Era::V1_EARLY,
    json_ignore_failure: false,
    steps: &[
        Set("event.category", Const::List(&["network"])),
        Set("event.type", Const::List(&["access"])),
        Set("event.kind", Const::Str("event")),
        ToMilli("json.DetectedTimestamp"),
        Date("json.DetectedTimestamp", "@timestamp", OnFail::Append),
        Copy("@timestamp", "cloudflare_logpush.casb.timestamp", Strict),
        Rename("json.AssetDisplayName", "cloudflare_logpush.casb.asset.name"),
        Rename("json.AssetExternalID", "cloudflare_logpush.casb.asset.id"),
        Rename("json.AssetLink", "cloudflare_logpush.casb.asset.url"),
        UriParts("cloudflare_logpush.casb.asset.url", true, OnFail::Abort),
        Rename("json.AssetMetadata", "cloudflare_logpush.casb.asset.metadata"),
        Rename("json.FindingTypeDisplayName", "cloudflare_logpush.casb.finding.type.name"),
        Rename("json.FindingTypeID", "cloudflare_logpush.casb.finding.type.id"),
        Rename("json.FindingTypeSeverity", "cloudflare_logpush.casb.finding.type.severity"),
        Custom("set", "", severity, OnFail::Abort),
        Rename("json.InstanceID", "cloudflare_logpush.casb.finding.id"),
        Copy("cloudflare_logpush.casb.finding.id", "event.id", Strict),
        Rename("json.IntegrationDisplayName", "cloudflare_logpush.casb.integration.name"),
        Rename("json.IntegrationID", "cloudflare_logpush.casb.integration.id"),
        Rename("json.IntegrationPolicyVendor", "cloudflare_logpush.casb.integration.policy_vendor"),
        RemoveJson,
        RemoveDuplicates(&[
            "cloudflare_logpush.casb.timestamp",
            "cloudflare_logpush.casb.asset.url",
            "cloudflare_logpush.casb.finding.id",
            "cloudflare_logpush.casb.finding.type.severity",
        ]),
    ],
};
