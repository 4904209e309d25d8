//! `spectrum_event` (Cloudflare `spectrum_events`): package 1.44.0 [unverified: the golden
//! documents carry ECS 8.11.0 and skip zero connect/disconnect times (1.39.2), so the era is
//! 1.39.2 – 1.44.x]. The table is the stored ECS 8.11.0 pipeline
//! (`packages/cloudflare_logpush/data_stream/spectrum_event/elasticsearch/ingest_pipeline/default.yml`
//! at 0a44ac2e in brijesh-elastic/integrations), processor by processor, in the 1.27 – 1.44 style
//! (processors append the bare message, the pipeline's `on_failure` writes
//! `Processor "<type>" in pipeline "<pipeline>" failed with message "<message>"` and adds the tag).
//!
//! Upstream behaviour kept: a zero connect/disconnect time is skipped only when it is `0`, `"0"`
//! or `""` — the ISO zero `1970-01-01T00:00:00Z` becomes `event.end`; a TLS protocol that is not
//! `<name>v<version>` (and not `none`/`unknown`) fails the pipeline (the `dissect` has no
//! handler); `ClientCountry` is copied lower-case into `source.geo.country_iso_code`; no GeoIP.

use super::engine::{dissect_field, CopyMode::IgnoreEmpty, Const, Ctx, OnFail::*, Step::*, Ty};
use super::{Era, Spec};
use crate::doc::Val;
use crate::time::{parse_date, Formats};
use std::borrow::Cow;

const C: &str = "cloudflare_logpush.spectrum_event";

/// The connect/disconnect script: `0`, `"0"` and `""` become `null`; otherwise a numeric string
/// or number is normalised to milliseconds (s / ms / ns); anything else is left alone.
fn zero_or_milli(ctx: &mut Ctx<'_, '_>, path: &'static str) -> Result<(), String> {
    let zero = match ctx.get(path) {
        None | Some(Val::Null) => return Ok(()),
        Some(Val::Str(s)) => s.is_empty() || s == "0",
        Some(Val::I64(i)) => *i == 0,
        Some(Val::U64(u)) => *u == 0,
        Some(Val::F64(f)) => *f == 0.0,
        Some(_) => false,
    };
    if zero {
        return ctx.set(path, Val::Null);
    }
    if let Some(ms) = ctx.get(path).and_then(super::engine::to_milli) {
        ctx.set(path, Val::I64(ms))?;
    }
    Ok(())
}

/// `date { field, target_field, formats: [ISO8601, uuuu-MM-dd'T'HH:mm:ssX,
/// uuuu-MM-dd'T'HH:mm:ss.SSSX, yyyy-MM-dd'T'HH:mm:ssZ, yyyy-MM-dd'T'HH:mm:ss.SSSZ, UNIX_MS],
/// timezone: UTC, if: != null }`.
fn date(ctx: &mut Ctx<'_, '_>, from: &str, to: &'static str) -> Result<(), String> {
    let text = match ctx.get(from) {
        None | Some(Val::Null) => return Ok(()),
        Some(v) => v.to_display_string(),
    };
    let i = parse_date(&text, Formats::Iso8601First)?;
    ctx.set(to, Val::Str(Cow::Owned(i.format())))
}

fn connect_to_milli(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    zero_or_milli(ctx, "json.ConnectTimestamp")
}

fn disconnect_to_milli(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    zero_or_milli(ctx, "json.DisconnectTimestamp")
}

fn connect_date(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    date(ctx, "json.ConnectTimestamp", "cloudflare_logpush.spectrum_event.connect.time")
}

fn disconnect_date(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    date(ctx, "json.DisconnectTimestamp", "cloudflare_logpush.spectrum_event.disconnect.time")
}

/// `dissect '%{tls.version_protocol}v%{tls.version}'` unless the protocol is `none` / `unknown`.
fn tls_version(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    const F: &str = "cloudflare_logpush.spectrum_event.client.tls.protocol";
    if matches!(ctx.get(F), Some(Val::Str(s)) if s == "none" || s == "unknown") {
        return Ok(());
    }
    dissect_field(ctx, F, "%{tls.version_protocol}v%{tls.version}")
}

pub static SPEC: Spec = Spec {
    name: "spectrum_event",
    dataset: C,
    cloudflare: "spectrum_events",
    version: "1.44.0",
    ecs: "8.11.0",
    era: Era::V1_LATE,
    json_ignore_failure: false,
    steps: &[
        Set("event.category", Const::List(&["network"])),
        Set("event.kind", Const::Str("event")),
        Set("event.type", Const::List(&["info"])),
        ToMilli("json.Timestamp"),
        Date("json.Timestamp", "@timestamp", Append),
        Copy("@timestamp", "cloudflare_logpush.spectrum_event.timestamp", IgnoreEmpty),
        Script("painless_connect_timestamp_to_milli", connect_to_milli, Abort),
        Custom("date", "", connect_date, Append),
        Copy("cloudflare_logpush.spectrum_event.connect.time", "event.start", IgnoreEmpty),
        Script("painless_disconnect_timestamp_to_milli", disconnect_to_milli, Abort),
        Custom("date", "", disconnect_date, Append),
        Copy("cloudflare_logpush.spectrum_event.disconnect.time", "event.end", IgnoreEmpty),
        Rename("json.Event", "cloudflare_logpush.spectrum_event.action"),
        Copy("cloudflare_logpush.spectrum_event.action", "event.action", IgnoreEmpty),
        Lowercase("event.action"),
        Convert("json.OriginBytes", "cloudflare_logpush.spectrum_event.origin.bytes", Ty::Long, Append),
        Copy("cloudflare_logpush.spectrum_event.origin.bytes", "destination.bytes", IgnoreEmpty),
        Convert("json.OriginIP", "cloudflare_logpush.spectrum_event.origin.ip", Ty::Ip, Append),
        Copy("cloudflare_logpush.spectrum_event.origin.ip", "destination.ip", IgnoreEmpty),
        Convert("json.OriginPort", "cloudflare_logpush.spectrum_event.origin.port", Ty::Long, Append),
        Copy("cloudflare_logpush.spectrum_event.origin.port", "destination.port", IgnoreEmpty),
        Rename("json.Application", "cloudflare_logpush.spectrum_event.application"),
        Copy("cloudflare_logpush.spectrum_event.application", "event.id", IgnoreEmpty),
        Convert("json.Status", "cloudflare_logpush.spectrum_event.status", Ty::Long, Append),
        Copy("cloudflare_logpush.spectrum_event.status", "http.response.status_code", IgnoreEmpty),
        Convert("json.ClientAsn", "cloudflare_logpush.spectrum_event.client.asn", Ty::Long, Append),
        Copy("cloudflare_logpush.spectrum_event.client.asn", "source.as.number", IgnoreEmpty),
        Convert("json.ClientBytes", "cloudflare_logpush.spectrum_event.client.bytes", Ty::Long, Append),
        Copy("cloudflare_logpush.spectrum_event.client.bytes", "source.bytes", IgnoreEmpty),
        Rename("json.ClientCountry", "cloudflare_logpush.spectrum_event.client.country"),
        Copy("cloudflare_logpush.spectrum_event.client.country", "source.geo.country_iso_code", IgnoreEmpty),
        Convert("json.ClientIP", "cloudflare_logpush.spectrum_event.client.ip", Ty::Ip, Append),
        Copy("cloudflare_logpush.spectrum_event.client.ip", "source.ip", IgnoreEmpty),
        Convert("json.ClientPort", "cloudflare_logpush.spectrum_event.client.port", Ty::Long, Append),
        Copy("cloudflare_logpush.spectrum_event.client.port", "source.port", IgnoreEmpty),
        Rename("json.ClientMatchedIpFirewall", "cloudflare_logpush.spectrum_event.client.matched_ip_firewall"),
        Rename("json.ClientProto", "cloudflare_logpush.spectrum_event.client.protocol"),
        Copy("cloudflare_logpush.spectrum_event.client.protocol", "network.transport", IgnoreEmpty),
        Lowercase("network.transport"),
        Convert("json.ClientTcpRtt", "cloudflare_logpush.spectrum_event.client.tcp_rtt", Ty::Long, Append),
        Rename("json.ClientTlsCipher", "cloudflare_logpush.spectrum_event.client.tls.cipher"),
        Rename("json.ClientTlsClientHelloServerName", "cloudflare_logpush.spectrum_event.client.tls.client_hello_server_name"),
        Rename("json.ClientTlsProtocol", "cloudflare_logpush.spectrum_event.client.tls.protocol"),
        Custom("dissect", "", tls_version, Abort),
        Lowercase("tls.version_protocol"),
        Rename("json.ClientTlsStatus", "cloudflare_logpush.spectrum_event.client.tls.status"),
        Rename("json.ColoCode", "cloudflare_logpush.spectrum_event.colo.code"),
        Rename("json.IpFirewall", "cloudflare_logpush.spectrum_event.ip_firewall"),
        Rename("json.OriginProto", "cloudflare_logpush.spectrum_event.origin.protocol"),
        Convert("json.OriginTcpRtt", "cloudflare_logpush.spectrum_event.origin.tcp_rtt", Ty::Long, Append),
        Rename("json.OriginTlsCipher", "cloudflare_logpush.spectrum_event.origin.tls.cipher"),
        Rename("json.OriginTlsFingerprint", "cloudflare_logpush.spectrum_event.origin.tls.fingerprint"),
        Rename("json.OriginTlsMode", "cloudflare_logpush.spectrum_event.origin.tls.mode"),
        Rename("json.OriginTlsProtocol", "cloudflare_logpush.spectrum_event.origin.tls.protocol"),
        Rename("json.OriginTlsStatus", "cloudflare_logpush.spectrum_event.origin.tls.status"),
        Rename("json.ProxyProtocol", "cloudflare_logpush.spectrum_event.proxy.protocol"),
        Related("related.ip", "source.ip"),
        Related("related.ip", "cloudflare_logpush.spectrum_event.client.ip"),
        Related("related.ip", "destination.ip"),
        Related("related.ip", "cloudflare_logpush.spectrum_event.origin.ip"),
        CommunityId(Ignore),
        RemoveJson,
        RemoveDuplicates(&[
            "cloudflare_logpush.spectrum_event.timestamp",
            "cloudflare_logpush.spectrum_event.origin.bytes",
            "cloudflare_logpush.spectrum_event.origin.ip",
            "cloudflare_logpush.spectrum_event.origin.port",
            "cloudflare_logpush.spectrum_event.application",
            "cloudflare_logpush.spectrum_event.action",
            "cloudflare_logpush.spectrum_event.status",
            "cloudflare_logpush.spectrum_event.client.asn",
            "cloudflare_logpush.spectrum_event.client.bytes",
            "cloudflare_logpush.spectrum_event.client.country",
            "cloudflare_logpush.spectrum_event.client.ip",
            "cloudflare_logpush.spectrum_event.client.port",
        ]),
    ],
};
