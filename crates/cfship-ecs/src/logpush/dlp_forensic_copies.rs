//! `dlp_forensic_copies` (Cloudflare `dlp_forensic_copies`, added in package 1.36.0): the stored
//! pipeline
//! (`packages/cloudflare_logpush/data_stream/dlp_forensic_copies/elasticsearch/ingest_pipeline/default.yml`
//! at 0b97ab02, ECS 8.11.0), processor by processor. The package version of that commit is not
//! recorded; the network_analytics pipeline of the same commit dates it to 1.38.2 – 1.44.1, and
//! the lower bound names it here. Its error format is the quoted one of the 1.36 data streams
//! ([`super::ErrorStyle::Quoted`]); the `json` processor ignores failures. Upstream behaviour
//! kept: the duplicate removal names fields this pipeline never writes (`action`, `host`, `url`,
//! `timestamp`), so nothing is removed without `preserve_duplicate_custom_fields` (2.0.0 changes
//! the list); `Payload` stays base64.

use super::engine::{Const, CopyMode::IgnoreEmpty, OnFail, Step::*};
use super::{Era, Spec};

pub static SPEC: Spec = Spec {
    name: "dlp_forensic_copies",
    dataset: "cloudflare_logpush.dlp_forensic_copies",
    cloudflare: "dlp_forensic_copies",
    version: "1.38.2",
    ecs: "8.11.0",
    era: Era::V1_QUOTED,
    json_ignore_failure: true,
    steps: &[
        Set("event.category", Const::List(&["network"])),
        Set("event.kind", Const::Str("event")),
        Set("event.type", Const::List(&["info"])),
        ToMilli("json.Datetime"),
        Date("json.Datetime", "@timestamp", OnFail::Append),
        Copy("@timestamp", "cloudflare_logpush.dlp_forensic_copies.datetime", IgnoreEmpty),
        Rename("json.AccountID", "cloudflare_logpush.dlp_forensic_copies.account_id"),
        Rename("json.ForensicCopyID", "cloudflare_logpush.dlp_forensic_copies.forensic_copy_id"),
        Rename("json.GatewayRequestID", "cloudflare_logpush.dlp_forensic_copies.gateway_request_id"),
        Rename("json.Headers", "cloudflare_logpush.dlp_forensic_copies.headers"),
        Rename("json.Payload", "cloudflare_logpush.dlp_forensic_copies.payload"),
        Rename("json.Phase", "cloudflare_logpush.dlp_forensic_copies.phase"),
        Rename("json.TriggeredRuleID", "cloudflare_logpush.dlp_forensic_copies.triggered_rule_id"),
        Copy("cloudflare_logpush.dlp_forensic_copies.triggered_rule_id", "rule.id", IgnoreEmpty),
        RemoveJson,
        RemoveDuplicates(&[
            "cloudflare_logpush.dlp_forensic_copies.action",
            "cloudflare_logpush.dlp_forensic_copies.host",
            "cloudflare_logpush.dlp_forensic_copies.url",
            "cloudflare_logpush.dlp_forensic_copies.timestamp",
        ]),
    ],
};
