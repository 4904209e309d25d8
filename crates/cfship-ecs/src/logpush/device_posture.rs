//! `device_posture` (Cloudflare `device_posture_results`): package 1.17.0. No copy of the 1.17.0
//! pipeline text was at hand; the table is the stored ≤ 1.8.0 pipeline
//! (`packages/cloudflare_logpush/data_stream/device_posture/elasticsearch/ingest_pipeline/default.yml`
//! at 3010f134) with what the changelog changes up to 1.17.0 — the 1.8.1 timestamp script
//! (seconds / ms / ns, replacing the `convert` + `gsub` pair; its text as in the later stored
//! version at 12b5f8f0), the 1.15.0 `event.original` guard (implied by the engine) and ECS 8.11.0.
//! Upstream behaviour kept: the ECS copies other than `user.*` are strict (a record without
//! `ClientVersion`, `DeviceID`, `DeviceName`, `DeviceType`, `OSVersion`, `PolicyID`,
//! `PostureCheckName`, `PostureCheckType` or a parsable `Timestamp` is a `pipeline_error` document;
//! `ignore_empty_value` came in 1.32/1.33), and the duplicate removal names
//! `cloudflare_logpush.device_posture.result`, a field that does not exist, so `eval.result` stays.

use super::engine::{Const, CopyMode::IgnoreEmpty, CopyMode::Strict, Ctx, OnFail, Step::*};
use super::{Era, Spec};
use crate::doc::Val;

/// `set event.outcome: success if eval.result == true`, `failure if == false` (JSON booleans).
fn outcome(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let o = match ctx.get("cloudflare_logpush.device_posture.eval.result") {
        Some(Val::Bool(true)) => "success",
        Some(Val::Bool(false)) => "failure",
        _ => return Ok(()),
    };
    ctx.set("event.outcome", Val::str(o))
}

pub static SPEC: Spec = Spec {
    name: "device_posture",
    dataset: "cloudflare_logpush.device_posture",
    cloudflare: "device_posture_results",
    version: "1.17.0",
    ecs: "8.11.0",
    era: Era::V1_EARLY,
    json_ignore_failure: false,
    steps: &[
        Set("event.category", Const::List(&["host"])),
        Set("event.type", Const::List(&["info"])),
        Set("event.kind", Const::Str("event")),
        ToMilli("json.Timestamp"),
        Date("json.Timestamp", "@timestamp", OnFail::Append),
        Copy("@timestamp", "cloudflare_logpush.device_posture.timestamp", Strict),
        Rename("json.ClientVersion", "cloudflare_logpush.device_posture.version"),
        Copy("cloudflare_logpush.device_posture.version", "user_agent.version", Strict),
        Rename("json.DeviceID", "cloudflare_logpush.device_posture.host.id"),
        Copy("cloudflare_logpush.device_posture.host.id", "host.id", Strict),
        Rename("json.DeviceManufacturer", "cloudflare_logpush.device_posture.host.manufacturer"),
        Rename("json.DeviceModel", "cloudflare_logpush.device_posture.host.model"),
        Rename("json.DeviceName", "cloudflare_logpush.device_posture.host.name"),
        Copy("cloudflare_logpush.device_posture.host.name", "host.name", Strict),
        Rename("json.DeviceSerialNumber", "cloudflare_logpush.device_posture.host.serial"),
        Rename("json.DeviceType", "cloudflare_logpush.device_posture.host.os.family"),
        Copy("cloudflare_logpush.device_posture.host.os.family", "host.os.family", Strict),
        Rename("json.OSVersion", "cloudflare_logpush.device_posture.host.os.version"),
        Copy("cloudflare_logpush.device_posture.host.os.version", "host.os.version", Strict),
        Rename("json.PolicyID", "cloudflare_logpush.device_posture.rule.id"),
        Copy("cloudflare_logpush.device_posture.rule.id", "rule.id", Strict),
        Rename("json.PostureCheckName", "cloudflare_logpush.device_posture.rule.name"),
        Copy("cloudflare_logpush.device_posture.rule.name", "rule.name", Strict),
        Rename("json.PostureCheckType", "cloudflare_logpush.device_posture.rule.category"),
        Copy("cloudflare_logpush.device_posture.rule.category", "rule.category", Strict),
        Rename("json.PostureEvaluatedResult", "cloudflare_logpush.device_posture.eval.result"),
        Custom("set", "", outcome, OnFail::Abort),
        Rename("json.PostureExpectedJSON", "cloudflare_logpush.device_posture.eval.expected"),
        Rename("json.PostureReceivedJSON", "cloudflare_logpush.device_posture.eval.received"),
        Rename("json.UserUID", "cloudflare_logpush.device_posture.user.id"),
        // `if: … != null && … != ""`: the same as skipping an empty source.
        Copy("cloudflare_logpush.device_posture.user.id", "user.id", IgnoreEmpty),
        Rename("json.Email", "cloudflare_logpush.device_posture.user.email"),
        Copy("cloudflare_logpush.device_posture.user.email", "user.email", IgnoreEmpty),
        Related("related.hosts", "host.id"),
        Related("related.hosts", "host.name"),
        Related("related.user", "user.id"),
        Related("related.user", "user.email"),
        RemoveJson,
        RemoveDuplicates(&[
            "cloudflare_logpush.device_posture.timestamp",
            "cloudflare_logpush.device_posture.version",
            "cloudflare_logpush.device_posture.host.id",
            "cloudflare_logpush.device_posture.host.name",
            "cloudflare_logpush.device_posture.host.os.family",
            "cloudflare_logpush.device_posture.host.os.version",
            "cloudflare_logpush.device_posture.rule.id",
            "cloudflare_logpush.device_posture.rule.name",
            "cloudflare_logpush.device_posture.rule.category",
            "cloudflare_logpush.device_posture.result",
            "cloudflare_logpush.device_posture.user.id",
            "cloudflare_logpush.device_posture.user.email",
        ]),
    ],
};
