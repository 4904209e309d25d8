//! `magic_ids` (Cloudflare `magic_ids_detections`): package 1.45.0 [unverified: the golden
//! documents carry ECS 9.3.0, which arrived in 1.45.0, and lack the 2.0.0 string ids]. The table is
//! the stored ECS 9.3.0 pipeline
//! (`packages/cloudflare_logpush/data_stream/magic_ids/elasticsearch/ingest_pipeline/default.yml`
//! at 4208006b in brijesh-elastic/integrations), processor by processor: processors append the
//! bare message, the pipeline's `on_failure` writes the tagged, double-quoted format
//! ([`super::ErrorStyle::V1TaggedPipeline`]); its timestamp script normalises JSON numbers only.
//! Upstream behaviour kept: `set cloudflare_logpush.magic_ids.timestamp` is strict (a record
//! without a parsable `Timestamp` is a `pipeline_error` document) and the City lookups have no
//! `ignore_missing` (a record without `DestinationIP` or `SourceIP` fails); `SignatureID` stays a
//! number (a string from 2.0.0).

use super::engine::{Cond, Const, CopyMode::IgnoreEmpty, CopyMode::Strict, Ctx, Geo, OnFail, Step::*};
use super::{Era, Spec};
use crate::convert::{normalise_epoch, painless_long};
use crate::doc::Val;

/// `painless_timestamp_to_milli`, `if: Timestamp instanceof Number`: s / ms / ns → ms.
fn to_milli(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let t = match ctx.get("json.Timestamp") {
        Some(v @ (Val::I64(_) | Val::U64(_) | Val::F64(_))) => painless_long(v),
        _ => None,
    };
    if let Some(t) = t {
        ctx.set("json.Timestamp", Val::I64(normalise_epoch(t)))?;
    }
    Ok(())
}

pub static SPEC: Spec = Spec {
    name: "magic_ids",
    dataset: "cloudflare_logpush.magic_ids",
    cloudflare: "magic_ids_detections",
    version: "1.45.0",
    ecs: "9.3.0",
    era: Era {
        json_tag: "json_event_original",
        ..Era::V1_LATE_TAGGED_PIPELINE
    },
    json_ignore_failure: false,
    steps: &[
        Set("event.kind", Const::Str("event")),
        Set("event.category", Const::List(&["network", "intrusion_detection"])),
        Set("event.type", Const::List(&["info"])),
        Script("painless_timestamp_to_milli", to_milli, OnFail::Abort),
        Tagged("date_event_timestamp", &Date("json.Timestamp", "@timestamp", OnFail::Append)),
        Tagged("set_timestamp", &Copy("@timestamp", "cloudflare_logpush.magic_ids.timestamp", Strict)),
        Tagged("rename_destination_ip", &Rename("json.DestinationIP", "cloudflare_logpush.magic_ids.destination.ip")),
        Tagged("set_destination_ip", &Copy("cloudflare_logpush.magic_ids.destination.ip", "destination.ip", IgnoreEmpty)),
        Tagged("geo_destination_ip", &GeoIp(Geo::DESTINATION)),
        Tagged("rename_destination_port", &Rename("json.DestinationPort", "cloudflare_logpush.magic_ids.destination.port")),
        Tagged("set_destination_port", &Copy("cloudflare_logpush.magic_ids.destination.port", "destination.port", IgnoreEmpty)),
        Tagged("rename_source_ip", &Rename("json.SourceIP", "cloudflare_logpush.magic_ids.source.ip")),
        Tagged("set_source_ip", &Copy("cloudflare_logpush.magic_ids.source.ip", "source.ip", IgnoreEmpty)),
        Tagged("geo_source_ip", &GeoIp(Geo::SOURCE)),
        Tagged("rename_source_port", &Rename("json.SourcePort", "cloudflare_logpush.magic_ids.source.port")),
        Tagged("set_source_port", &Copy("cloudflare_logpush.magic_ids.source.port", "source.port", IgnoreEmpty)),
        Tagged("rename_transport_protocol", &Rename("json.Protocol", "cloudflare_logpush.magic_ids.transport")),
        Tagged("set_transport_protocol", &Copy("cloudflare_logpush.magic_ids.transport", "network.transport", IgnoreEmpty)),
        Tagged("rename_action", &Rename("json.Action", "cloudflare_logpush.magic_ids.action")),
        Tagged("set_event_action", &Copy("cloudflare_logpush.magic_ids.action", "event.action", IgnoreEmpty)),
        Tagged("append_event_type_allowed", &AppendIf("event.type", "allowed", Cond::Eq("event.action", "pass"))),
        Tagged("append_event_type_block", &AppendIf("event.type", "denied", Cond::Eq("event.action", "block"))),
        Tagged("rename_colo_code", &Rename("json.ColoCode", "cloudflare_logpush.magic_ids.colo.code")),
        Tagged("rename_colo_city", &Rename("json.ColoCity", "cloudflare_logpush.magic_ids.colo.city")),
        Tagged("rename_signature_id", &Rename("json.SignatureID", "cloudflare_logpush.magic_ids.signature.id")),
        Tagged("rename_signature_message", &Rename("json.SignatureMessage", "cloudflare_logpush.magic_ids.signature.message")),
        Tagged("rename_signature_revision", &Rename("json.SignatureRevision", "cloudflare_logpush.magic_ids.signature.revision")),
        Tagged("append_related_destination_ip", &Related("related.ip", "destination.ip")),
        Tagged("append_related_source_ip", &Related("related.ip", "source.ip")),
        RemoveJson,
        RemoveDuplicates(&[
            "cloudflare_logpush.magic_ids.action",
            "cloudflare_logpush.magic_ids.timestamp",
            "cloudflare_logpush.magic_ids.destination.ip",
            "cloudflare_logpush.magic_ids.destination.port",
            "cloudflare_logpush.magic_ids.source.ip",
            "cloudflare_logpush.magic_ids.source.port",
            "cloudflare_logpush.magic_ids.transport",
        ]),
    ],
};
