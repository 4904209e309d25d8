//! `page_shield_events` (Cloudflare `page_shield_events`): package 1.45.0 [unverified: the golden
//! documents (`11dfc6ec`) carry ECS 9.3.0, `rule.id` from `PolicyID` and `URLHost` in
//! `related.hosts`, which the stored pre-1.45 text lacks]. The table is the stored ECS 9.3.0
//! pipeline
//! (`packages/cloudflare_logpush/data_stream/page_shield_events/elasticsearch/ingest_pipeline/default.yml`
//! at 026e4151 in elastic/integrations), processor by processor, in the 1.45+ conventions
//! ([`super::Era::V2`]); the changelog lists no output change for this data stream after 1.45.0.
//!
//! Upstream behaviour kept: the HTTP `Host` is copied into ECS `host.name`; `PageURL` is kept as
//! text (not parsed); `url.domain` is overwritten by `URLHost` after the URI parts of `URL`; the
//! timestamp script normalises JSON numbers only (numeric strings are first converted to numbers,
//! failures ignored); the `URLContainsCDNCGIPath` conversion has no `!= ''` guard.

use super::engine::{Const, CopyMode::IgnoreEmpty, Ctx, OnFail::*, Step::*, Ty};
use super::{Era, Spec};
use crate::convert::{normalise_epoch, painless_long};
use crate::doc::Val;

const C: &str = "cloudflare_logpush.page_shield_events";

/// `painless_Timestamp_to_milli`, `if: Timestamp instanceof Number`: `(long)` then s / ms / ns → ms.
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
    name: "page_shield_events",
    dataset: C,
    cloudflare: "page_shield_events",
    version: "1.45.0",
    ecs: "9.3.0",
    era: Era {
        json_tag: "json_event_original_to_json_cac66847",
        ..Era::V2
    },
    json_ignore_failure: false,
    steps: &[
        Tagged("set_event_category_dbab8a4e", &Set("event.category", Const::List(&["network"]))),
        Tagged("set_event_kind_de80643c", &Set("event.kind", Const::Str("event"))),
        Tagged("set_event_type_ec95f7f2", &Set("event.type", Const::List(&["info"]))),
        Tagged("convert_json_Timestamp_7242ddce", &Convert("json.Timestamp", "json.Timestamp", Ty::Long, Ignore)),
        Script("painless_Timestamp_to_milli", to_milli, Append),
        Tagged("date_json_Timestamp_70be028a", &Date("json.Timestamp", "@timestamp", Append)),
        Tagged("set_cloudflare_logpush_page_shield_events_timestamp_15ff66de", &Copy("@timestamp", "cloudflare_logpush.page_shield_events.timestamp", IgnoreEmpty)),
        Tagged("rename_json_Action_to_cloudflare_logpush_page_shield_events_action_249c1317", &Rename("json.Action", "cloudflare_logpush.page_shield_events.action")),
        Tagged("set_event_action_b99711ae", &Copy("cloudflare_logpush.page_shield_events.action", "event.action", IgnoreEmpty)),
        Tagged("lowercase_event_action_9334b869", &Lowercase("event.action")),
        Tagged("rename_json_CSPDirective_to_cloudflare_logpush_page_shield_events_csp_directive_ec50c63e", &Rename("json.CSPDirective", "cloudflare_logpush.page_shield_events.csp_directive")),
        Tagged("rename_json_Host_to_cloudflare_logpush_page_shield_events_host_664c8787", &Rename("json.Host", "cloudflare_logpush.page_shield_events.host")),
        Tagged("set_host_name_122ed077", &Copy("cloudflare_logpush.page_shield_events.host", "host.name", IgnoreEmpty)),
        Tagged("append_related_hosts_555b812b", &Related("related.hosts", "cloudflare_logpush.page_shield_events.host")),
        Tagged("rename_json_PageURL_to_cloudflare_logpush_page_shield_events_page_url_529399de", &Rename("json.PageURL", "cloudflare_logpush.page_shield_events.page_url")),
        Tagged("rename_json_URL_to_cloudflare_logpush_page_shield_events_url_32905bc9", &Rename("json.URL", "cloudflare_logpush.page_shield_events.url")),
        Tagged("uri_parts_url", &UriParts("cloudflare_logpush.page_shield_events.url", true, Append)),
        Tagged("rename_json_PolicyID_to_cloudflare_logpush_page_shield_events_policy_id_8eed8fc8", &Rename("json.PolicyID", "cloudflare_logpush.page_shield_events.policy_id")),
        Tagged("set_rule_id_b07ea311", &Copy("cloudflare_logpush.page_shield_events.policy_id", "rule.id", IgnoreEmpty)),
        Tagged("rename_json_ResourceType_to_cloudflare_logpush_page_shield_events_resource_type_085e4bce", &Rename("json.ResourceType", "cloudflare_logpush.page_shield_events.resource_type")),
        Tagged("convert_url_contains_cdn_cgi_path_bool", &ConvertAll("json.URLContainsCDNCGIPath", "cloudflare_logpush.page_shield_events.url_contains_cdn_cgi_path", Ty::Bool, Append)),
        Tagged("rename_json_URLHost_to_cloudflare_logpush_page_shield_events_url_host_ed944944", &Rename("json.URLHost", "cloudflare_logpush.page_shield_events.url_host")),
        Tagged("set_url_domain_086e7313", &Copy("cloudflare_logpush.page_shield_events.url_host", "url.domain", IgnoreEmpty)),
        Tagged("append_url_host_into_related_hosts", &Related("related.hosts", "cloudflare_logpush.page_shield_events.url_host")),
        RemoveJson,
        RemoveDuplicates(&[
            "cloudflare_logpush.page_shield_events.action",
            "cloudflare_logpush.page_shield_events.host",
            "cloudflare_logpush.page_shield_events.url",
            "cloudflare_logpush.page_shield_events.timestamp",
            "cloudflare_logpush.page_shield_events.policy_id",
        ]),
    ],
};
