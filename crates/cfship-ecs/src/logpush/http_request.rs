//! `http_request` (Cloudflare `http_requests`): package 2.0.0. The 2.0.0 pipeline text itself was
//! not at hand; the table follows the stored 2.x pipeline
//! (`packages/cloudflare_logpush/data_stream/http_request/elasticsearch/ingest_pipeline/default.yml`
//! at 02605edc), processor by processor, whose output equals the 2.0.0 test documents (ids as
//! strings, `*.headers`, country codes as Cloudflare sends them). Each processor's tag is kept
//! where its failure can name it (converts, dates, dissects, scripts, fallback renames).
//!
//! Upstream behaviour kept: `source.geo.country_iso_code` is Cloudflare's lower-case
//! `ClientCountry` (upper-cased in 2.0.1); `url.query` of a record without `ClientRequestURI`
//! keeps Cloudflare's leading `?`; `url.scheme` defaults to `https` when the record has
//! `ClientSSLProtocol`, else `http`; `ClientRequestQuery` is not kept under
//! `cloudflare_logpush.http_request`; the aws-s3 `_id` removal (deduplication off) has no
//! counterpart here (cfship sets `_id` itself).

use super::engine::{
    dissect_field, mustache, Const, CopyMode::IgnoreEmpty, Ctx, OnFail, Step::*, Ty,
};
use super::{Era, Spec};
use crate::convert::normalise_epoch;
use crate::doc::Val;
use crate::time::{
    parse_es_iso8601, parse_http_date, parse_java_pattern, parse_unix_ms, LOGPULL_PATTERNS,
};
use std::borrow::Cow;

const TIMES: [&str; 3] = ["json.EdgeStartTimestamp", "json.EdgeEndTimestamp", "json.Datetime"];

/// `painless_edge_start_timestamp_to_milli`: after the `convert … type: long` of the three time
/// fields, each that is a Number becomes milliseconds (`> 1e18` ÷ 1e6, `< 1e10` × 1e3). The
/// script's `convertToMillis(long)` takes a `long`: a number the convert left alone (a double, an
/// integer beyond `long`) throws Painless's implicit-cast error, which ends the script.
fn to_milli(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    for f in TIMES {
        match ctx.get(f) {
            Some(Val::I64(t)) => {
                let ms = normalise_epoch(*t);
                ctx.set(f, Val::I64(ms))?;
            }
            Some(Val::F64(_)) => return Err("cannot implicitly cast def [double] to long".into()),
            Some(Val::U64(_)) => {
                return Err("cannot implicitly cast def [java.math.BigInteger] to long".into())
            }
            _ => {}
        }
    }
    Ok(())
}

/// `date { formats: [ISO8601, EEE, dd MMM yyyy HH:mm:ss zzz, uuuu-MM-dd'T'HH:mm:ssX,
/// uuuu-MM-dd'T'HH:mm:ss.SSSX, yyyy-MM-dd'T'HH:mm:ssZ, yyyy-MM-dd'T'HH:mm:ss.SSSZ, UNIX_MS],
/// timezone: UTC, if: not null and not '' }` of an origin response header. The error is the
/// first format's (ISO8601) failure, as Elasticsearch reports it.
fn header_date(ctx: &mut Ctx<'_, '_>, from: &str, to: &'static str) -> Result<(), String> {
    let text = match ctx.get(from) {
        None | Some(Val::Null) => return Ok(()),
        Some(Val::Str(s)) if s.is_empty() => return Ok(()),
        Some(v) => v.to_display_string(),
    };
    let parsed = parse_es_iso8601(&text).or_else(|first| {
        parse_http_date(&text)
            .or_else(|| {
                LOGPULL_PATTERNS
                    .iter()
                    .find_map(|p| parse_java_pattern(&text, p).ok())
            })
            .or_else(|| parse_unix_ms(&text))
            .ok_or(first)
    })?;
    let utc = crate::time::Instant::utc(parsed.millis);
    ctx.set(to, Val::Str(Cow::Owned(utc.format())))
}

fn expires(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    header_date(
        ctx,
        "json.OriginResponseHTTPExpires",
        "cloudflare_logpush.http_request.origin.response.http.expires",
    )
}

fn last_modified(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    header_date(
        ctx,
        "json.OriginResponseHTTPLastModified",
        "cloudflare_logpush.http_request.origin.response.http.last_modified",
    )
}

/// `set url.scheme: https if url.scheme == null && json.ClientSSLProtocol != null`.
fn scheme_https(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    if !ctx.has("url.scheme") && ctx.has("json.ClientSSLProtocol") {
        ctx.set("url.scheme", Val::str("https"))?;
    }
    Ok(())
}

/// `set url.scheme: http if url.scheme == null`.
fn scheme_http(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    if !ctx.has("url.scheme") {
        ctx.set("url.scheme", Val::str("http"))?;
    }
    Ok(())
}

/// Painless `ctx.json.ClientRequestURI.startsWith('/')` in a processor's `if` (a non-string has
/// no such method; Elasticsearch reports a failing `if` as processor type `conditional`).
fn uri_starts_with_slash(v: &Val<'_>) -> Result<bool, String> {
    match v {
        Val::Str(s) => Ok(s.starts_with('/')),
        other => Err(format!(
            "dynamic method [{}, startsWith/1] not found",
            conditional_type(other)
        )),
    }
}

/// The Java type a value has inside a processor's `if`: Elasticsearch's `ConditionalProcessor`
/// hands the script read-only wrappers of the document's maps and lists (its nested classes
/// `UnmodifiableIngestData` / `UnmodifiableIngestList`, named as Painless does, by canonical
/// name); other values are themselves.
fn conditional_type(v: &Val<'_>) -> &'static str {
    match v {
        Val::Obj(_) => "org.elasticsearch.ingest.ConditionalProcessor.UnmodifiableIngestData",
        Val::Arr(_) => "org.elasticsearch.ingest.ConditionalProcessor.UnmodifiableIngestList",
        other => crate::convert::java_type(other),
    }
}

/// `set tmp.constructed_uri: '{{{url.scheme}}}://{{{url.domain}}}{{{json.ClientRequestURI}}}'`
/// if the URI, scheme and domain exist and the URI starts with `/`.
fn constructed_uri(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let Some(uri) = ctx.get("json.ClientRequestURI").filter(|v| !matches!(v, Val::Null)) else {
        return Ok(());
    };
    let (Some(scheme), Some(domain)) = (
        ctx.get("url.scheme").filter(|v| !matches!(v, Val::Null)),
        ctx.get("url.domain").filter(|v| !matches!(v, Val::Null)),
    ) else {
        return Ok(());
    };
    if !uri_starts_with_slash(uri)? {
        return Ok(());
    }
    let s = format!("{}://{}{}", mustache(scheme), mustache(domain), mustache(uri));
    ctx.set("tmp.constructed_uri", Val::Str(Cow::Owned(s)))
}

/// `set tmp.constructed_uri copy_from json.ClientRequestURI ignore_empty_value` if the URI does
/// not start with `/` (an absolute URI, `*`).
fn uri_as_is(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let Some(uri) = ctx.get("json.ClientRequestURI").filter(|v| !matches!(v, Val::Null)) else {
        return Ok(());
    };
    if uri_starts_with_slash(uri)? || matches!(uri, Val::Str(s) if s.is_empty()) {
        return Ok(());
    }
    let uri = uri.clone();
    ctx.set("tmp.constructed_uri", uri)
}

/// `uri_parts { field: tmp.constructed_uri, ignore_failure: true }` (target `url`, which it
/// replaces; `keep_original` by default), then `remove tmp.constructed_uri` (the empty `tmp`
/// goes with the drop-empty script).
fn uri_parts(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let Some(v) = ctx.take("tmp.constructed_uri") else {
        return Ok(());
    };
    let Val::Str(s) = &v else {
        return Err(format!(
            "field [tmp.constructed_uri] of type [{}] cannot be cast to [java.lang.String]",
            crate::convert::java_type(&v)
        ));
    };
    let p = crate::uri::uri_parts(s).map_err(|e| e.to_string())?;
    let url = crate::uri::url_object(p, Some(v.clone()));
    ctx.doc.insert("url", Val::Obj(url));
    Ok(())
}

/// `dissect '%{network.protocol}/%{http.version}'` unless the protocol is `none` / `unknown`.
fn protocol(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    const F: &str = "cloudflare_logpush.http_request.client.request.protocol";
    if matches!(ctx.get(F), Some(Val::Str(s)) if s == "none" || s == "unknown") {
        return Ok(());
    }
    dissect_field(ctx, F, "%{network.protocol}/%{http.version}")
}

/// `dissect '%{tls.version_protocol}v%{tls.version}'` unless the protocol is `none` / `unknown`.
fn tls_version(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    const F: &str = "cloudflare_logpush.http_request.client.ssl.protocol";
    if matches!(ctx.get(F), Some(Val::Str(s)) if s == "none" || s == "unknown") {
        return Ok(());
    }
    dissect_field(ctx, F, "%{tls.version_protocol}v%{tls.version}")
}

const A: OnFail = OnFail::Append;

pub static SPEC: Spec = Spec {
    name: "http_request",
    dataset: "cloudflare_logpush.http_request",
    cloudflare: "http_requests",
    version: "2.0.0",
    ecs: "9.3.0",
    era: Era {
        json_tag: "json_event_original_to_json_cac66847",
        json_if: true,
        ..Era::V2
    },
    json_ignore_failure: false,
    steps: &[
        Set("event.category", Const::List(&["network"])),
        Set("event.kind", Const::Str("event")),
        Set("event.type", Const::List(&["info"])),
        Convert("json.EdgeStartTimestamp", "json.EdgeStartTimestamp", Ty::Long, OnFail::Ignore),
        Convert("json.EdgeEndTimestamp", "json.EdgeEndTimestamp", Ty::Long, OnFail::Ignore),
        Convert("json.Datetime", "json.Datetime", Ty::Long, OnFail::Ignore),
        Script("painless_edge_start_timestamp_to_milli", to_milli, A),
        Tagged("date_json_EdgeStartTimestamp_to_cloudflare_logpush_http_request_edge_start_time_6e9e517a", &Date("json.EdgeStartTimestamp", "cloudflare_logpush.http_request.edge.start_time", A)),
        Tagged("date_json_EdgeEndTimestamp_to_cloudflare_logpush_http_request_edge_end_time_b977f372", &Date("json.EdgeEndTimestamp", "cloudflare_logpush.http_request.edge.end_time", A)),
        Tagged("date_json_Datetime_to_cloudflare_logpush_http_request_datetime_9a7be6f2", &Date("json.Datetime", "cloudflare_logpush.http_request.datetime", A)),
        Copy("cloudflare_logpush.http_request.datetime", "@timestamp", IgnoreEmpty),
        Copy("cloudflare_logpush.http_request.edge.start_time", "@timestamp", IgnoreEmpty),
        Custom("date", "date_json_OriginResponseHTTPExpires_to_cloudflare_logpush_http_request_origin_response_http_expires_5fcc3d5b", expires, A),
        Custom("date", "date_json_OriginResponseHTTPLastModified_to_cloudflare_logpush_http_request_origin_response_http_last_modified_bd80d19e", last_modified, A),
        Tagged("convert_json_OriginIP_to_cloudflare_logpush_http_request_origin_ip_191f66a5", &Convert("json.OriginIP", "cloudflare_logpush.http_request.origin.ip", Ty::Ip, A)),
        Copy("cloudflare_logpush.http_request.origin.ip", "destination.ip", IgnoreEmpty),
        Rename("json.ClientRequestMethod", "cloudflare_logpush.http_request.client.request.method"),
        Copy("cloudflare_logpush.http_request.client.request.method", "http.request.method", IgnoreEmpty),
        Rename("json.EdgeResponseContentType", "cloudflare_logpush.http_request.edge.response.content_type"),
        Copy("cloudflare_logpush.http_request.edge.response.content_type", "http.response.mime_type", IgnoreEmpty),
        Tagged("convert_json_EdgeResponseStatus_to_cloudflare_logpush_http_request_edge_response_status_168bfabf", &Convert("json.EdgeResponseStatus", "cloudflare_logpush.http_request.edge.response.status", Ty::Long, A)),
        Copy("cloudflare_logpush.http_request.edge.response.status", "http.response.status_code", IgnoreEmpty),
        Tagged("convert_json_ClientASN_to_cloudflare_logpush_http_request_client_asn_82a23ec8", &Convert("json.ClientASN", "cloudflare_logpush.http_request.client.asn", Ty::Long, A)),
        Copy("cloudflare_logpush.http_request.client.asn", "source.as.number", IgnoreEmpty),
        Rename("json.ClientCountry", "cloudflare_logpush.http_request.client.country"),
        Copy("cloudflare_logpush.http_request.client.country", "source.geo.country_iso_code", IgnoreEmpty),
        Tagged("convert_json_ClientIP_to_cloudflare_logpush_http_request_client_ip_3d9346d4", &Convert("json.ClientIP", "cloudflare_logpush.http_request.client.ip", Ty::Ip, A)),
        Copy("cloudflare_logpush.http_request.client.ip", "source.ip", IgnoreEmpty),
        Tagged("convert_bot_detection_ids", &ConvertAll("json.BotDetectionIDs", "cloudflare_logpush.http_request.bot.detection_ids", Ty::Str, OnFail::Abort)),
        Rename("json.BotDetectionTags", "cloudflare_logpush.http_request.bot.detection_tags"),
        Tagged("convert_bot_score_value", &Convert("json.BotScore", "cloudflare_logpush.http_request.bot.score.value", Ty::Long, A)),
        Rename("json.BotScoreSrc", "cloudflare_logpush.http_request.bot.score.src"),
        Rename("json.BotTags", "cloudflare_logpush.http_request.bot.tag"),
        Rename("json.CacheCacheStatus", "cloudflare_logpush.http_request.cache.status"),
        Tagged("convert_json_CacheReserveUsed_to_cloudflare_logpush_http_request_cache_reserve_used_f36316b4", &Convert("json.CacheReserveUsed", "cloudflare_logpush.http_request.cache.reserve_used", Ty::Bool, A)),
        Tagged("convert_json_CacheResponseBytes_to_cloudflare_logpush_http_request_cache_response_bytes_af455bfb", &Convert("json.CacheResponseBytes", "cloudflare_logpush.http_request.cache.response.bytes", Ty::Long, A)),
        Tagged("convert_json_CacheResponseStatus_to_cloudflare_logpush_http_request_cache_response_status_18a55e44", &Convert("json.CacheResponseStatus", "cloudflare_logpush.http_request.cache.response.status", Ty::Long, A)),
        Tagged("convert_cachetieredfill_to_boolean", &ConvertAll("json.CacheTieredFill", "cloudflare_logpush.http_request.cache.tiered_fill", Ty::Bool, A)),
        Rename("json.ClientCity", "cloudflare_logpush.http_request.client.city"),
        Copy("cloudflare_logpush.http_request.client.city", "source.geo.city_name", IgnoreEmpty),
        Rename("json.ClientDeviceType", "cloudflare_logpush.http_request.client.device.type"),
        Copy("cloudflare_logpush.http_request.client.device.type", "device.type", IgnoreEmpty),
        Rename("json.ClientIPClass", "cloudflare_logpush.http_request.client.ip_class"),
        Rename("json.ClientLatitude", "cloudflare_logpush.http_request.client.latitude"),
        Rename("json.ClientLongitude", "cloudflare_logpush.http_request.client.longitude"),
        Rename("json.ClientMTLSAuthCertFingerprint", "cloudflare_logpush.http_request.client.mtls.auth.fingerprint"),
        Copy("cloudflare_logpush.http_request.client.mtls.auth.fingerprint", "tls.client.hash.sha256", IgnoreEmpty),
        Tagged("uppercase_tls_client_hash_sha256_f21a9195", &Uppercase("tls.client.hash.sha256")),
        Rename("json.ClientMTLSAuthStatus", "cloudflare_logpush.http_request.client.mtls.auth.status"),
        Rename("json.ClientRegionCode", "cloudflare_logpush.http_request.client.region_code"),
        Copy("cloudflare_logpush.http_request.client.region_code", "source.geo.region_iso_code", IgnoreEmpty),
        Tagged("convert_json_ClientRequestBytes_to_cloudflare_logpush_http_request_client_request_bytes_7aa1b76a", &Convert("json.ClientRequestBytes", "cloudflare_logpush.http_request.client.request.bytes", Ty::Long, A)),
        Copy("cloudflare_logpush.http_request.client.request.bytes", "http.request.bytes", IgnoreEmpty),
        Rename("json.ContentScanObjResults", "cloudflare_logpush.http_request.content_scan.results"),
        Tagged("convert_json_ContentScanObjSizes_to_cloudflare_logpush_http_request_content_scan_sizes_8c19d2c4", &ConvertAll("json.ContentScanObjSizes", "cloudflare_logpush.http_request.content_scan.sizes", Ty::Long, A)),
        Rename("json.ContentScanObjTypes", "cloudflare_logpush.http_request.content_scan.types"),
        Rename("json.LeakedCredentialCheckResult", "cloudflare_logpush.http_request.leaked_credential_check"),
        CopyIfAbsent("json.ClientRequestScheme", "url.scheme"),
        Custom("set", "set_url_scheme_5a754785", scheme_https, OnFail::Abort),
        Custom("set", "set_url_scheme_cb50bce2", scheme_http, OnFail::Abort),
        CopyIfAbsent("json.ClientRequestHost", "url.domain"),
        CopyIfAbsent("json.ClientRequestPath", "url.path"),
        CopyIfAbsent("json.ClientRequestQuery", "url.query"),
        Custom("conditional", "set_tmp_constructed_uri", constructed_uri, OnFail::Abort),
        Custom("conditional", "set_tmp_constructed_uri_from_ClientRequestURI", uri_as_is, OnFail::Abort),
        Custom("uri_parts", "uri_parts_tmp_constructed_uri", uri_parts, OnFail::Ignore),
        Rename("json.ClientRequestHost", "cloudflare_logpush.http_request.client.request.host"),
        Rename("json.ClientRequestPath", "cloudflare_logpush.http_request.client.request.path"),
        Rename("json.ClientRequestProtocol", "cloudflare_logpush.http_request.client.request.protocol"),
        Custom("dissect", "dissect_client_request_protocol", protocol, A),
        Lowercase("network.protocol"),
        Rename("json.ClientRequestReferer", "cloudflare_logpush.http_request.client.request.referer"),
        Copy("cloudflare_logpush.http_request.client.request.referer", "http.request.referrer", IgnoreEmpty),
        Rename("json.ClientRequestScheme", "cloudflare_logpush.http_request.client.request.scheme"),
        Rename("json.ClientRequestSource", "cloudflare_logpush.http_request.client.request.source"),
        Rename("json.ClientRequestURI", "cloudflare_logpush.http_request.client.request.uri"),
        Tagged("user_agent_json_ClientRequestUserAgent_a0e18c70", &UserAgent("json.ClientRequestUserAgent")),
        Rename("json.ClientRequestUserAgent", "cloudflare_logpush.http_request.client.request.user.agent"),
        Rename("json.ClientSSLCipher", "cloudflare_logpush.http_request.client.ssl.cipher"),
        Copy("cloudflare_logpush.http_request.client.ssl.cipher", "tls.cipher", IgnoreEmpty),
        Rename("json.ClientSSLProtocol", "cloudflare_logpush.http_request.client.ssl.protocol"),
        Custom("dissect", "dissect_client_ssl_protocol", tls_version, A),
        Tagged("lowercase_tls_version_protocol_b840a1f9", &Lowercase("tls.version_protocol")),
        Tagged("convert_json_ClientSrcPort_to_cloudflare_logpush_http_request_client_src_port_1a19cb99", &Convert("json.ClientSrcPort", "cloudflare_logpush.http_request.client.src.port", Ty::Long, A)),
        Copy("cloudflare_logpush.http_request.client.src.port", "source.port", IgnoreEmpty),
        Tagged("convert_json_ClientTCPRTTMs_to_cloudflare_logpush_http_request_client_tcp_rtt_ms_d65b4e12", &Convert("json.ClientTCPRTTMs", "cloudflare_logpush.http_request.client.tcp_rtt.ms", Ty::Long, A)),
        Rename("json.ClientXRequestedWith", "cloudflare_logpush.http_request.client.xrequested_with"),
        Rename("json.Cookies", "cloudflare_logpush.http_request.cookies"),
        Tagged("convert_edgecfconnectingo2o_to_boolean", &ConvertAll("json.EdgeCFConnectingO2O", "cloudflare_logpush.http_request.edge.cf_connecting_o2o", Ty::Bool, A)),
        Rename("json.EdgeColoCode", "cloudflare_logpush.http_request.edge.colo.code"),
        Tagged("convert_json_EdgeColoID_to_cloudflare_logpush_http_request_edge_colo_id_329b38d6", &Convert("json.EdgeColoID", "cloudflare_logpush.http_request.edge.colo.id", Ty::Long, A)),
        Rename("json.EdgePathingOp", "cloudflare_logpush.http_request.edge.pathing.op"),
        Rename("json.EdgePathingSrc", "cloudflare_logpush.http_request.edge.pathing.src"),
        Rename("json.EdgePathingStatus", "cloudflare_logpush.http_request.edge.pathing.status"),
        Rename("json.EdgeRateLimitAction", "cloudflare_logpush.http_request.edge.rate.limit.action"),
        Tagged("convert_json_EdgeRateLimitID_to_cloudflare_logpush_http_request_edge_rate_limit_id_6b98f73a", &ConvertAll("json.EdgeRateLimitID", "cloudflare_logpush.http_request.edge.rate.limit.id", Ty::Str, OnFail::Abort)),
        Rename("json.EdgeRequestHost", "cloudflare_logpush.http_request.edge.request.host"),
        Tagged("convert_json_EdgeResponseBodyBytes_to_cloudflare_logpush_http_request_edge_response_body_bytes_a3f683b9", &Convert("json.EdgeResponseBodyBytes", "cloudflare_logpush.http_request.edge.response.body_bytes", Ty::Long, A)),
        Copy("cloudflare_logpush.http_request.edge.response.body_bytes", "http.response.body.bytes", IgnoreEmpty),
        Tagged("convert_json_EdgeResponseBytes_to_cloudflare_logpush_http_request_edge_response_bytes_ae183152", &Convert("json.EdgeResponseBytes", "cloudflare_logpush.http_request.edge.response.bytes", Ty::Long, A)),
        Copy("cloudflare_logpush.http_request.edge.response.bytes", "http.response.bytes", IgnoreEmpty),
        Tagged("convert_json_EdgeResponseCompressionRatio_to_cloudflare_logpush_http_request_edge_response_compression_ratio_14ec9748", &Convert("json.EdgeResponseCompressionRatio", "cloudflare_logpush.http_request.edge.response.compression_ratio", Ty::Double, A)),
        Tagged("convert_json_EdgeServerIP_to_cloudflare_logpush_http_request_edge_server_ip_4aaf36d3", &Convert("json.EdgeServerIP", "cloudflare_logpush.http_request.edge.server.ip", Ty::Ip, A)),
        Tagged("convert_json_EdgeTimeToFirstByteMs_to_cloudflare_logpush_http_request_edge_time_to_first_byte_ms_c11ce527", &Convert("json.EdgeTimeToFirstByteMs", "cloudflare_logpush.http_request.edge.time_to_first_byte.ms", Ty::Long, A)),
        Rename("json.SecurityActions", "cloudflare_logpush.http_request.firewall.matches.action"),
        Tagged("rename_json_FirewallMatchesActions_to_cloudflare_logpush_http_request_firewall_matches_action_d95e64b7", &RenameIfAbsent("json.FirewallMatchesActions", "cloudflare_logpush.http_request.firewall.matches.action")),
        Rename("json.SecurityRuleIDs", "cloudflare_logpush.http_request.firewall.matches.rule_id"),
        Tagged("rename_json_FirewallMatchesRuleIDs_to_cloudflare_logpush_http_request_firewall_matches_rule_id_e5128330", &RenameIfAbsent("json.FirewallMatchesRuleIDs", "cloudflare_logpush.http_request.firewall.matches.rule_id")),
        Rename("json.SecuritySources", "cloudflare_logpush.http_request.firewall.matches.sources"),
        Tagged("rename_json_FirewallMatchesSources_to_cloudflare_logpush_http_request_firewall_matches_sources_4c6b7d3e", &RenameIfAbsent("json.FirewallMatchesSources", "cloudflare_logpush.http_request.firewall.matches.sources")),
        Rename("json.JA3Hash", "cloudflare_logpush.http_request.ja3_hash"),
        Copy("cloudflare_logpush.http_request.ja3_hash", "tls.client.ja3", IgnoreEmpty),
        Rename("json.JA4", "cloudflare_logpush.http_request.ja4"),
        Rename("json.JA4Signals", "cloudflare_logpush.http_request.ja4_signals"),
        Tagged("convert_json_OriginDNSResponseTimeMs_to_cloudflare_logpush_http_request_origin_dns_response_time_ms_d0100f64", &Convert("json.OriginDNSResponseTimeMs", "cloudflare_logpush.http_request.origin.dns_response_time.ms", Ty::Long, A)),
        Tagged("convert_json_OriginRequestHeaderSendDurationMs_to_cloudflare_logpush_http_request_origin_request_header_send_duration_ms_b5c4844e", &Convert("json.OriginRequestHeaderSendDurationMs", "cloudflare_logpush.http_request.origin.request_header_send_duration.ms", Ty::Long, A)),
        Tagged("convert_json_OriginResponseBytes_to_cloudflare_logpush_http_request_origin_response_bytes_4252af5f", &Convert("json.OriginResponseBytes", "cloudflare_logpush.http_request.origin.response.bytes", Ty::Long, A)),
        Tagged("convert_json_OriginResponseDurationMs_to_cloudflare_logpush_http_request_origin_response_duration_ms_50a340a2", &Convert("json.OriginResponseDurationMs", "cloudflare_logpush.http_request.origin.response.duration.ms", Ty::Long, A)),
        Tagged("convert_json_OriginResponseHeaderReceiveDurationMs_to_cloudflare_logpush_http_request_origin_response_header_receive_duration_ms_10d61fbe", &Convert("json.OriginResponseHeaderReceiveDurationMs", "cloudflare_logpush.http_request.origin.response.header_receive_duration.ms", Ty::Long, A)),
        Tagged("convert_json_OriginResponseStatus_to_cloudflare_logpush_http_request_origin_response_status_ef757c92", &Convert("json.OriginResponseStatus", "cloudflare_logpush.http_request.origin.response.status", Ty::Long, A)),
        Tagged("convert_json_OriginResponseTime_to_cloudflare_logpush_http_request_origin_response_time_e009296b", &Convert("json.OriginResponseTime", "cloudflare_logpush.http_request.origin.response.time", Ty::Long, A)),
        Rename("json.OriginSSLProtocol", "cloudflare_logpush.http_request.origin.ssl_protocol"),
        Tagged("convert_json_OriginTCPHandshakeDurationMs_to_cloudflare_logpush_http_request_origin_tcp_handshake_duration_ms_03155549", &Convert("json.OriginTCPHandshakeDurationMs", "cloudflare_logpush.http_request.origin.tcp_handshake_duration.ms", Ty::Long, A)),
        Tagged("convert_json_OriginTLSHandshakeDurationMs_to_cloudflare_logpush_http_request_origin_tls_handshake_duration_ms_8519a42f", &Convert("json.OriginTLSHandshakeDurationMs", "cloudflare_logpush.http_request.origin.tls_handshake_duration.ms", Ty::Long, A)),
        Rename("json.ParentRayID", "cloudflare_logpush.http_request.parent_ray.id"),
        Rename("json.RayID", "cloudflare_logpush.http_request.ray.id"),
        Copy("cloudflare_logpush.http_request.ray.id", "event.id", IgnoreEmpty),
        Copy("cloudflare_logpush.http_request.ray.id", "http.request.id", IgnoreEmpty),
        Rename("json.RequestHeaders", "cloudflare_logpush.http_request.request.headers"),
        Rename("json.ResponseHeaders", "cloudflare_logpush.http_request.response.headers"),
        Rename("json.SecurityLevel", "cloudflare_logpush.http_request.security_level"),
        Tagged("convert_json_SmartRouteColoID_to_cloudflare_logpush_http_request_smart_route_colo_id_9738fe1a", &Convert("json.SmartRouteColoID", "cloudflare_logpush.http_request.smart_route.colo.id", Ty::Long, A)),
        Tagged("convert_json_UpperTierColoID_to_cloudflare_logpush_http_request_upper_tier_colo_id_72c67384", &Convert("json.UpperTierColoID", "cloudflare_logpush.http_request.upper_tier.colo.id", Ty::Long, A)),
        Rename("json.SecurityAction", "cloudflare_logpush.http_request.waf.action"),
        Tagged("rename_json_WAFAction_to_cloudflare_logpush_http_request_waf_action_d16779f0", &RenameIfAbsent("json.WAFAction", "cloudflare_logpush.http_request.waf.action")),
        Rename("json.WAFFlags", "cloudflare_logpush.http_request.waf.flag"),
        Rename("json.WAFMatchedVar", "cloudflare_logpush.http_request.waf.matched_var"),
        Rename("json.WAFProfile", "cloudflare_logpush.http_request.waf.profile"),
        Rename("json.SecurityRuleID", "cloudflare_logpush.http_request.waf.rule.id"),
        Tagged("rename_json_WAFRuleID_to_cloudflare_logpush_http_request_waf_rule_id_e3b580fa", &RenameIfAbsent("json.WAFRuleID", "cloudflare_logpush.http_request.waf.rule.id")),
        Rename("json.SecurityRuleDescription", "cloudflare_logpush.http_request.waf.rule.message"),
        Tagged("rename_json_WAFRuleMessage_to_cloudflare_logpush_http_request_waf_rule_message_dbbafec4", &RenameIfAbsent("json.WAFRuleMessage", "cloudflare_logpush.http_request.waf.rule.message")),
        Tagged("convert_waf_score_global", &Convert("json.WAFAttackScore", "cloudflare_logpush.http_request.waf.score.global", Ty::Long, A)),
        Tagged("convert_waf_score_rce", &Convert("json.WAFRCEAttackScore", "cloudflare_logpush.http_request.waf.score.rce", Ty::Long, A)),
        Tagged("convert_waf_score_sqli", &Convert("json.WAFSQLiAttackScore", "cloudflare_logpush.http_request.waf.score.sqli", Ty::Long, A)),
        Tagged("convert_waf_score_xss", &Convert("json.WAFXSSAttackScore", "cloudflare_logpush.http_request.waf.score.xss", Ty::Long, A)),
        Tagged("convert_json_WorkerCPUTime_to_cloudflare_logpush_http_request_worker_cpu_time_8e836d9d", &Convert("json.WorkerCPUTime", "cloudflare_logpush.http_request.worker.cpu_time", Ty::Long, A)),
        Rename("json.WorkerStatus", "cloudflare_logpush.http_request.worker.status"),
        Tagged("convert_workersubrequest_to_boolean", &ConvertAll("json.WorkerSubrequest", "cloudflare_logpush.http_request.worker.subrequest.value", Ty::Bool, A)),
        Tagged("convert_json_WorkerSubrequestCount_to_cloudflare_logpush_http_request_worker_subrequest_count_108a2873", &Convert("json.WorkerSubrequestCount", "cloudflare_logpush.http_request.worker.subrequest.count", Ty::Long, A)),
        Tagged("convert_json_WorkerWallTimeUs_to_cloudflare_logpush_http_request_worker_wall_time_us_ecfb12d0", &Convert("json.WorkerWallTimeUs", "cloudflare_logpush.http_request.worker.wall_time_us", Ty::Long, A)),
        Tagged("convert_json_ZoneID_to_cloudflare_logpush_http_request_zone_id_b1a75554", &ConvertAll("json.ZoneID", "cloudflare_logpush.http_request.zone.id", Ty::Str, OnFail::Abort)),
        Rename("json.ZoneName", "cloudflare_logpush.http_request.zone.name"),
        Rename("json.FraudAttack", "cloudflare_logpush.http_request.fraud.attack"),
        Tagged("convert_json_FraudDetectionIDs_to_cloudflare_logpush_http_request_fraud_detection_ids_fdb8be67", &ConvertAll("json.FraudDetectionIDs", "cloudflare_logpush.http_request.fraud.detection_ids", Ty::Str, OnFail::Abort)),
        Rename("json.FraudDetectionTags", "cloudflare_logpush.http_request.fraud.detection_tags"),
        Rename("json.FraudEmailRisk", "cloudflare_logpush.http_request.fraud.email_risk"),
        Rename("json.FraudUserID", "cloudflare_logpush.http_request.fraud.user_id"),
        Rename("json.JSDetectionPassed", "cloudflare_logpush.http_request.js_detection_passed"),
        Rename("json.PayPerCrawlStatus", "cloudflare_logpush.http_request.pay_per_crawl_status"),
        Rename("json.VerifiedBotCategory", "cloudflare_logpush.http_request.verified_bot_category"),
        Rename("json.WebAssetsLabelsManaged", "cloudflare_logpush.http_request.web_assets.labels_managed"),
        Rename("json.WebAssetsOperationID", "cloudflare_logpush.http_request.web_assets.operation_id"),
        Rename("json.WorkerScriptName", "cloudflare_logpush.http_request.worker.script_name"),
        Related("related.user", "cloudflare_logpush.http_request.fraud.user_id"),
        Related("related.hash", "cloudflare_logpush.http_request.ja3_hash"),
        Related("related.hash", "cloudflare_logpush.http_request.client.mtls.auth.fingerprint"),
        Related("related.hash", "cloudflare_logpush.http_request.ja4"),
        Related("related.hosts", "cloudflare_logpush.http_request.client.request.host"),
        Related("related.hosts", "cloudflare_logpush.http_request.edge.request.host"),
        Related("related.ip", "cloudflare_logpush.http_request.edge.server.ip"),
        Related("related.ip", "cloudflare_logpush.http_request.client.ip"),
        Related("related.ip", "cloudflare_logpush.http_request.origin.ip"),
        RemoveJson,
        RemoveDuplicates(&[
            "cloudflare_logpush.http_request.origin.ip",
            "cloudflare_logpush.http_request.client.request.method",
            "cloudflare_logpush.http_request.edge.response.content_type",
            "cloudflare_logpush.http_request.edge.response.status",
            "cloudflare_logpush.http_request.client.asn",
            "cloudflare_logpush.http_request.client.country",
            "cloudflare_logpush.http_request.client.ip",
            "cloudflare_logpush.http_request.client.request.user.agent",
            "cloudflare_logpush.http_request.client.ssl.cipher",
            "cloudflare_logpush.http_request.client.device.type",
            "cloudflare_logpush.http_request.client.request.bytes",
            "cloudflare_logpush.http_request.edge.response.bytes",
            "cloudflare_logpush.http_request.client.src.port",
            "cloudflare_logpush.http_request.ja3_hash",
            "cloudflare_logpush.http_request.client.request.referer",
        ]),
    ],
};
