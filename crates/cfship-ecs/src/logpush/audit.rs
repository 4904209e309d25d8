//! `audit` (Cloudflare `audit_logs`): package 1.8.1 (ECS 8.9.0; the golden era is "1.8.x"). No copy
//! of a 1.8.x pipeline was at hand; the table is the stored ECS 8.7.0 pipeline
//! (`packages/cloudflare_logpush/data_stream/audit/elasticsearch/ingest_pipeline/default.yml` at
//! 6c853b5e in andrewkroh/integrations) with what 1.8.1 brought to every data stream: the timestamp
//! script (seconds / ms / ns) and the `date` formats `UNIX_MS`, `ISO8601`,
//! `yyyy-MM-dd'T'HH:mm:ssZ`; the `ActionResult` conditions are the later `== true` / `!= true`
//! (stored at 12b5f8f0) — the 8.7.0 text used the bare value as the condition, which fails for a
//! record without it [unverified which form 1.8.1 had]. The pipeline's `on_failure` uses the quoted
//! format, processors append the bare message ([`super::ErrorStyle::V1Quoted`]); the `json`
//! processor ignores failures. Upstream behaviour kept: the `Interface` rename is guarded by
//! `ctx.json?.interface != ''` (lower-case `interface`, always true), so an empty `Interface` is
//! renamed too (then dropped as empty).

use super::engine::{Const, CopyMode::IgnoreFailure, Ctx, OnFail, Step, Step::*, Ty};
use super::{Era, Spec};
use crate::doc::Val;

/// `set action.result: success if ctx.json?.ActionResult == true`, `failure if != true`.
fn action_result(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let r = if matches!(ctx.get("json.ActionResult"), Some(Val::Bool(true))) {
        "success"
    } else {
        "failure"
    };
    ctx.set("cloudflare_logpush.audit.action.result", Val::str(r))
}

pub static SPEC: Spec = Spec {
    name: "audit",
    dataset: "cloudflare_logpush.audit",
    cloudflare: "audit_logs",
    version: "1.8.1",
    ecs: "8.9.0",
    era: Era::V1_EARLY_QUOTED,
    json_ignore_failure: true,
    steps: STEPS,
};

/// The processors, shared with `audit_logs_v2` (which maps its records onto these fields first).
pub(super) const STEPS: &[Step] = &[
        Set("event.type", Const::List(&["info"])),
        Set("event.kind", Const::Str("event")),
        Set("event.category", Const::List(&["authentication"])),
        ToMilli("json.When"),
        Date("json.When", "@timestamp", OnFail::Append),
        Copy("@timestamp", "cloudflare_logpush.audit.timestamp", IgnoreFailure),
        Rename("json.ActionType", "cloudflare_logpush.audit.action.type"),
        Copy("cloudflare_logpush.audit.action.type", "event.action", IgnoreFailure),
        Lowercase("event.action"),
        Custom("set", "", action_result, OnFail::Abort),
        Copy("cloudflare_logpush.audit.action.result", "event.outcome", IgnoreFailure),
        Rename("json.ActorEmail", "cloudflare_logpush.audit.actor.email"),
        Copy("cloudflare_logpush.audit.actor.email", "user.email", IgnoreFailure),
        Rename("json.ActorID", "cloudflare_logpush.audit.actor.id"),
        Copy("cloudflare_logpush.audit.actor.id", "user.id", IgnoreFailure),
        Convert("json.ActorIP", "cloudflare_logpush.audit.actor.ip", Ty::Ip, OnFail::Append),
        Copy("cloudflare_logpush.audit.actor.ip", "source.ip", IgnoreFailure),
        Rename("json.ActorType", "cloudflare_logpush.audit.actor.type"),
        Rename("json.ID", "cloudflare_logpush.audit.id"),
        Copy("cloudflare_logpush.audit.id", "event.id", IgnoreFailure),
        Rename("json.Interface", "cloudflare_logpush.audit.interface"),
        Copy("cloudflare_logpush.audit.interface", "event.provider", IgnoreFailure),
        Rename("json.Metadata", "cloudflare_logpush.audit.metadata"),
        Rename("json.NewValue", "cloudflare_logpush.audit.new_value"),
        Rename("json.OldValue", "cloudflare_logpush.audit.old_value"),
        Rename("json.OwnerID", "cloudflare_logpush.audit.owner.id"),
        Rename("json.ResourceID", "cloudflare_logpush.audit.resource.id"),
        Rename("json.ResourceType", "cloudflare_logpush.audit.resource.type"),
        Related("related.user", "user.id"),
        Related("related.ip", "source.ip"),
        RemoveJson,
        RemoveDuplicates(&[
            "cloudflare_logpush.audit.timestamp",
            "cloudflare_logpush.audit.action.result",
            "cloudflare_logpush.audit.action.type",
            "cloudflare_logpush.audit.id",
            "cloudflare_logpush.audit.interface",
            "cloudflare_logpush.audit.actor.ip",
            "cloudflare_logpush.audit.actor.email",
            "cloudflare_logpush.audit.actor.id",
        ]),
];
