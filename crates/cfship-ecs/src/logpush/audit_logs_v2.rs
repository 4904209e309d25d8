//! `audit_logs_v2` (Cloudflare `audit_logs_v2`): a Logpush dataset Elastic's package has no pipeline
//! for. cfship maps each record onto the fields of the v1 dataset `audit_logs`
//! ([`crate::audit_v2::logpush_to_v1`], the same table as its Audit Logs v2 API support) and runs
//! the `audit` data stream's processors on it, so the documents are `cloudflare_logpush.audit`
//! documents in the `logs-cloudflare_logpush.audit-*` data stream: the same dashboards and rules
//! see v1 and v2 jobs. What v1 has no field for (actor context, token, account and zone names,
//! action description, resource product and scope, the raw request) is kept under
//! `cloudflare_logpush.audit.metadata`; before/after values do not exist in v2. See
//! docs/audit-v2.md.

use super::engine::{Ctx, OnFail, Step::*};
use super::{Era, Spec};

/// The v2 → v1 field mapping, on the parsed record.
fn to_v1(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    if let Some(json) = ctx.json.as_mut() {
        crate::audit_v2::logpush_to_v1(json);
    }
    Ok(())
}

pub static SPEC: Spec = Spec {
    name: "audit_logs_v2",
    dataset: "cloudflare_logpush.audit",
    cloudflare: "audit_logs_v2",
    version: super::audit::SPEC.version,
    ecs: super::audit::SPEC.ecs,
    era: Era::V1_EARLY_QUOTED,
    json_ignore_failure: true,
    steps: &[
        Script("cfship_audit_logs_v2_to_v1", to_v1, OnFail::Abort),
        Steps(super::audit::STEPS),
    ],
};
