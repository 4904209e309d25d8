//! `nel_report` (Cloudflare `nel_reports`): package ≤ 1.0 (ECS 8.6.0, the oldest golden era; one
//! test document, at 51da75b3). No pipeline text of that era was at hand \[derived\]: the table is the
//! stored later pipeline
//! (`packages/cloudflare_logpush/data_stream/nel_report/elasticsearch/ingest_pipeline/default.yml`
//! at 12fefe4e, ECS 8.11.0), processor by processor, taken back to the conventions of the ≤ 1.1
//! pipelines read for firewall_event (11dcacf1, ECS 8.7.0): ECS 8.6.0; no timestamp script (the
//! 1.8.1 seconds / ms / ns normalisation), so `Timestamp` goes straight to a `date` with the
//! formats `ISO8601`, `uuuu-MM-dd'T'HH:mm:ssX`, `uuuu-MM-dd'T'HH:mm:ss.SSSX`,
//! `yyyy-MM-dd'T'HH:mm:ssZ`, `yyyy-MM-dd'T'HH:mm:ss.SSSZ`, `UNIX_MS` (a number is read as
//! milliseconds); the copies ignore failures. Processors append the bare message. Nothing in this
//! table can fail the pipeline (the `json` processor ignores failures, the copies too, the
//! `date` and `convert` append theirs), so the era's pipeline-level handler is never reached.

use super::engine::{Const, CopyMode::IgnoreFailure, Ctx, OnFail, Step::*, Ty};
use super::{Era, Spec};
use crate::doc::Val;
use crate::time::{parse_date, Formats, Instant};
use std::borrow::Cow;

/// `date { field: json.Timestamp, formats: [ISO8601, …, UNIX_MS], timezone: UTC, if: not null
/// and not '' }` into `@timestamp`; the error is the first format's (ISO8601).
fn timestamp(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let text = match ctx.get("json.Timestamp") {
        None | Some(Val::Null) => return Ok(()),
        Some(Val::Str(s)) if s.is_empty() => return Ok(()),
        Some(v) => v.to_display_string(),
    };
    let t = parse_date(&text, Formats::Iso8601First)?;
    let utc = Instant::utc(t.millis);
    ctx.set("@timestamp", Val::Str(Cow::Owned(utc.format())))
}

pub static SPEC: Spec = Spec {
    name: "nel_report",
    dataset: "cloudflare_logpush.nel_report",
    cloudflare: "nel_reports",
    version: "1.0.0",
    ecs: "8.6.0",
    era: Era::V1_EARLY,
    json_ignore_failure: true,
    steps: &[
        Set("event.category", Const::List(&["network"])),
        Set("event.kind", Const::Str("event")),
        Set("event.type", Const::List(&["info"])),
        Custom("date", "", timestamp, OnFail::Append),
        Copy("@timestamp", "cloudflare_logpush.nel_report.timestamp", IgnoreFailure),
        Rename("json.Type", "cloudflare_logpush.nel_report.error.type"),
        Copy("cloudflare_logpush.nel_report.error.type", "error.type", IgnoreFailure),
        Convert("json.ClientIPASN", "cloudflare_logpush.nel_report.client.ip.asn.value", Ty::Long, OnFail::Append),
        Rename("json.ClientIPASNDescription", "cloudflare_logpush.nel_report.client.ip.asn.description"),
        Rename("json.ClientIPCountry", "cloudflare_logpush.nel_report.client.ip.country"),
        Rename("json.LastKnownGoodColoCode", "cloudflare_logpush.nel_report.last_known_good.colo.code"),
        Rename("json.Phase", "cloudflare_logpush.nel_report.phase"),
        RemoveJson,
        RemoveDuplicates(&[
            "cloudflare_logpush.nel_report.timestamp",
            "cloudflare_logpush.nel_report.error.type",
        ]),
    ],
};
